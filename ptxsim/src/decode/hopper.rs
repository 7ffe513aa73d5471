//! Decoding of the sm_90 instructions ptxsim executes: mbarrier, 1-D `cp.async.bulk` and its
//! groups, the bulk prefetches, `fence.mbarrier_init`, `elect.sync` and `griddepcontrol`
//! (exec/mbarrier.rs, exec/bulk.rs, exec/warp.rs). Only reached for `.target sm_90` or later
//! (see HOPPER_DONE in mod.rs).

use super::*;

/// The shared-memory state space of an mbarrier or bulk-copy operand: `.shared`,
/// `.shared::cta` or `.shared::cluster` (an address in the cluster's shared window, which
/// may be another CTA's memory), or none (a generic address).
fn shared_space(m: &mut Mods) -> Space {
    match m.one(&["shared", "shared::cta", "shared::cluster"]) {
        Some("shared::cluster") => Space::SharedCluster,
        Some(_) => Space::Shared,
        None => Space::Generic,
    }
}

/// Memory-order and scope qualifiers of mbarrier operations (ptxsim's ordering does not
/// depend on them: exec/cluster.rs).
fn sem_scope(m: &mut Mods) {
    m.one(&["release", "acquire", "relaxed"]);
    m.one(&["cta", "cluster"]);
}

fn b64(m: &mut Mods) -> Result<(), String> {
    match m.ty()? {
        Ty::B64 => Ok(()),
        t => Err(format!("needs .b64, found {t:?}")),
    }
}

/// The sm_90 instructions (None for the other opcodes).
pub(super) fn decode(cx: &mut Ctx, m: &mut Mods, r: &Raw) -> Result<Option<Op>, String> {
    let Raw { base, parts, ri } = *r;
    let o = &ri.operands;
    Ok(Some(match base {
        "mbarrier" => mbarrier(cx, parts, m, ri)?,
        "cp" if parts.get(1) == Some(&"bulk") => bulk(cx, parts, m, ri)?,
        "fence" if parts.first() == Some(&"mbarrier_init") && cx.hopper => {
            m.has("mbarrier_init");
            m.has("release");
            m.has("cluster");
            nops(ri, 0)?;
            Op::Nop
        }
        "elect" => {
            if !m.has("sync") {
                return Err("elect needs .sync".into());
            }
            nops(ri, 2)?;
            let (d, p) = match &o[0] {
                RawOperand::PredPair(a, b) => (
                    cx.reg(&RawOperand::Name(a.clone()))?,
                    cx.reg(&RawOperand::Name(b.clone()))?,
                ),
                _ => return Err("elect.sync needs `d|p`".into()),
            };
            Op::Elect {
                d,
                p,
                mask: cx.src(&o[1], Ty::B32)?,
            }
        }
        "barrier" if parts.first() == Some(&"cluster") => {
            m.has("cluster");
            let wait = match m.one(&["arrive", "wait"]) {
                Some("wait") => {
                    m.has("acquire");
                    true
                }
                Some(_) => {
                    m.one(&["release", "relaxed"]);
                    false
                }
                None => return Err("barrier.cluster needs .arrive or .wait".into()),
            };
            m.has("aligned");
            nops(ri, 0)?;
            Op::ClusterBarrier { wait }
        }
        "mapa" | "getctarank" => {
            m.one(&["shared::cluster"]);
            let ty = m.ty()?;
            if ty != Ty::U32 && ty != Ty::U64 {
                return Err(format!("{base} needs .u32 or .u64"));
            }
            if base == "mapa" {
                nops(ri, 3)?;
                Op::Mapa {
                    d: cx.reg(&o[0])?,
                    a: cx.src(&o[1], ty)?,
                    rank: cx.src(&o[2], Ty::U32)?,
                }
            } else {
                nops(ri, 2)?;
                Op::GetCtaRank {
                    d: cx.reg(&o[0])?,
                    a: cx.src(&o[1], ty)?,
                }
            }
        }
        // one grid at a time: nothing to wait for, no dependent grid to start
        "griddepcontrol" => {
            m.one(&["wait", "launch_dependents"])
                .ok_or("griddepcontrol needs .wait or .launch_dependents")?;
            nops(ri, 0)?;
            Op::Nop
        }
        _ => return Ok(None),
    }))
}

fn mbarrier(cx: &mut Ctx, parts: &[&str], m: &mut Mods, ri: &RawInst) -> Result<Op, String> {
    let o = &ri.operands;
    let what = *parts.first().ok_or("mbarrier needs an operation")?;
    m.has(what);
    Ok(match what {
        "init" | "inval" => {
            let space = shared_space(m);
            b64(m)?;
            if what == "init" {
                nops(ri, 2)?;
                Op::MbarInit {
                    space,
                    addr: cx.addr(&o[0])?,
                    count: cx.src(&o[1], Ty::U32)?,
                }
            } else {
                nops(ri, 1)?;
                Op::MbarInval {
                    space,
                    addr: cx.addr(&o[0])?,
                }
            }
        }
        "arrive" | "arrive_drop" => {
            let expect_tx = m.has("expect_tx");
            sem_scope(m);
            let space = shared_space(m);
            b64(m)?;
            if o.len() < 2 || o.len() > 3 {
                return Err("bad operand count".into());
            }
            let d = cx.reg(&o[0])?;
            let addr = cx.addr(&o[1])?;
            let third = match o.get(2) {
                Some(x) => Some(cx.src(x, Ty::U32)?),
                None => None,
            };
            if expect_tx && third.is_none() {
                return Err("arrive.expect_tx needs a transaction count".into());
            }
            let (count, tx) = if expect_tx {
                (None, third)
            } else {
                (third, None)
            };
            Op::MbarArrive {
                space,
                d,
                addr,
                count,
                tx,
                drop: what == "arrive_drop",
            }
        }
        "expect_tx" | "complete_tx" => {
            sem_scope(m);
            let space = shared_space(m);
            b64(m)?;
            nops(ri, 2)?;
            Op::MbarTx {
                space,
                addr: cx.addr(&o[0])?,
                tx: cx.src(&o[1], Ty::U32)?,
                complete: what == "complete_tx",
            }
        }
        "test_wait" | "try_wait" => {
            let parity = m.has("parity");
            sem_scope(m);
            let space = shared_space(m);
            b64(m)?;
            // try_wait's optional suspend-time hint changes nothing here
            let n = o.len();
            if n != 3 && !(n == 4 && what == "try_wait") {
                return Err("bad operand count".into());
            }
            Op::MbarWait {
                space,
                d: cx.reg(&o[0])?,
                addr: cx.addr(&o[1])?,
                a: cx.src(&o[2], if parity { Ty::U32 } else { Ty::B64 })?,
                parity,
                try_wait: what == "try_wait",
            }
        }
        _ => return Err(format!("unsupported mbarrier operation `{what}`")),
    })
}

fn bulk(cx: &mut Ctx, parts: &[&str], m: &mut Mods, ri: &RawInst) -> Result<Op, String> {
    let o = &ri.operands;
    m.has("async");
    m.has("bulk");
    if m.has("commit_group") {
        nops(ri, 0)?;
        return Ok(Op::BulkCommit);
    }
    if m.has("wait_group") {
        let read = m.has("read");
        nops(ri, 1)?;
        return match cx.src(&o[0], Ty::U32)? {
            Src::I(n) => Ok(Op::BulkWait { n: n as u32, read }),
            _ => Err("cp.async.bulk.wait_group needs an immediate".into()),
        };
    }
    if m.has("tensor") {
        return bulk_tensor(cx, m, ri);
    }
    // the L2 prefetch: no architectural effect
    if m.has("prefetch") {
        m.has("L2");
        m.has("global");
        let hint = m.has("L2::cache_hint");
        nops(ri, if hint { 3 } else { 2 })?;
        cx.addr(&o[0])?;
        return Ok(Op::Nop);
    }
    let _ = parts;
    let hint = m.has("L2::cache_hint");
    let (dst_shared, src_global) = match (
        m.one(&["shared::cluster", "shared::cta", "global"]),
        m.one(&["global", "shared::cta"]),
    ) {
        (Some("shared::cluster" | "shared::cta"), Some("global")) => (true, true),
        (Some("global"), Some("shared::cta")) => (false, false),
        (d, s) => {
            return Err(format!(
                "cp.async.bulk from {} to {} (ptxsim has global to shared and shared to global)",
                s.unwrap_or("?"),
                d.unwrap_or("?")
            ))
        }
    };
    let _ = src_global;
    let extra = usize::from(hint);
    if dst_shared {
        if !m.has("mbarrier::complete_tx::bytes") {
            return Err(
                "global to shared cp.async.bulk needs .mbarrier::complete_tx::bytes".into(),
            );
        }
        let mc = usize::from(m.has("multicast::cluster"));
        nops(ri, 4 + mc + extra)?;
        Ok(Op::BulkCopy {
            dst: cx.addr(&o[0])?,
            src: cx.addr(&o[1])?,
            size: cx.src(&o[2], Ty::U32)?,
            mbar: Some(cx.addr(&o[3])?),
            multicast: match mc {
                1 => Some(cx.src(&o[4], Ty::U16)?),
                _ => None,
            },
        })
    } else {
        if !m.has("bulk_group") {
            return Err("shared to global cp.async.bulk needs .bulk_group".into());
        }
        nops(ri, 3 + extra)?;
        Ok(Op::BulkCopy {
            dst: cx.addr(&o[0])?,
            src: cx.addr(&o[1])?,
            size: cx.src(&o[2], Ty::U32)?,
            mbar: None,
            multicast: None,
        })
    }
}

/// `[tmap, {c0, ...}]` of a tensor copy of `rank` dimensions.
fn tensor_operand(cx: &mut Ctx, o: &RawOperand, rank: usize) -> Result<(Addr, Vec<Src>), String> {
    let RawOperand::TensorAddr(base, coords) = o else {
        return Err("expected `[tensorMap, {coordinates}]`".into());
    };
    if coords.len() != rank {
        return Err(format!(
            "{} coordinates for a {rank}-d tensor copy",
            coords.len()
        ));
    }
    let addr = cx.addr(&RawOperand::Addr {
        base: Some(base.clone()),
        off: 0,
    })?;
    let coords = coords
        .iter()
        .map(|c| cx.src(c, Ty::S32))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((addr, coords))
}

/// `cp.async.bulk.tensor.Nd` in tile mode (loads on an mbarrier, stores in bulk groups) and
/// `cp.async.bulk.prefetch.tensor` (no effect).
fn bulk_tensor(cx: &mut Ctx, m: &mut Mods, ri: &RawInst) -> Result<Op, String> {
    let o = &ri.operands;
    let rank = match m.one(&["1d", "2d", "3d", "4d", "5d"]) {
        Some(d) => d[..1].parse::<usize>().map_err(|e| e.to_string())?,
        None => return Err("cp.async.bulk.tensor needs .1d to .5d".into()),
    };
    m.has("tile");
    let hint = usize::from(m.has("L2::cache_hint"));
    if m.has("prefetch") {
        m.has("L2");
        m.has("global");
        nops(ri, 1 + hint)?;
        tensor_operand(cx, &o[0], rank)?;
        return Ok(Op::Nop);
    }
    match (
        m.one(&["shared::cluster", "shared::cta", "global"]),
        m.one(&["global", "shared::cta"]),
    ) {
        (Some("shared::cluster" | "shared::cta"), Some("global")) => {
            if !m.has("mbarrier::complete_tx::bytes") {
                return Err("a tensor load needs .mbarrier::complete_tx::bytes".into());
            }
            let mc = usize::from(m.has("multicast::cluster"));
            nops(ri, 3 + mc + hint)?;
            let (tmap, coords) = tensor_operand(cx, &o[1], rank)?;
            Ok(Op::BulkTensor {
                smem: cx.addr(&o[0])?,
                tmap,
                coords,
                mbar: Some(cx.addr(&o[2])?),
                multicast: match mc {
                    1 => Some(cx.src(&o[3], Ty::U16)?),
                    _ => None,
                },
            })
        }
        (Some("global"), Some("shared::cta")) => {
            if !m.has("bulk_group") {
                return Err("a tensor store needs .bulk_group".into());
            }
            nops(ri, 2 + hint)?;
            let (tmap, coords) = tensor_operand(cx, &o[0], rank)?;
            Ok(Op::BulkTensor {
                smem: cx.addr(&o[1])?,
                tmap,
                coords,
                mbar: None,
                multicast: None,
            })
        }
        _ => Err("cp.async.bulk.tensor: only global to shared and shared to global".into()),
    }
}
