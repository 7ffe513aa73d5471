//! Decoding of memory instructions: cvta, ld/st, atom/red, fences, prefetch, cp.async (exec/mem.rs).

use super::*;

/// The memory instructions (None for the other opcodes).
pub(super) fn decode(cx: &mut Ctx, m: &mut Mods, r: &Raw) -> Result<Option<Op>, String> {
    let Raw { base, ri, .. } = *r;
    let o = &ri.operands;
    Ok(Some(match base {
        "cvta" => {
            let to = m.has("to");
            let space = m.space();
            let ty = m.ty()?;
            nops(ri, 2)?;
            if space == Space::Generic {
                return Err("cvta needs a state space".into());
            }
            Op::Cvta {
                to,
                space,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                wide: ty.bits() == 64,
            }
        }
        "ld" | "ldu" | "st" => {
            let hint = m.eat_mem_hints()?;
            let space = m.space();
            let vec = match m.one(&["v2", "v4", "v8"]) {
                Some("v2") => 2,
                Some("v4") => 4,
                Some("v8") => 8,
                _ => 1,
            };
            let ty = m.ty()?;
            let o = policy(cx, o, hint)?;
            if o.len() != 2 {
                return Err(format!("expected 2 operands, found {}", o.len()));
            }
            if base == "st" {
                let addr = cx.addr(&o[0])?;
                let s = cx.srcs(&o[1], ty)?;
                if s.len() != vec {
                    return Err("vector size mismatch".into());
                }
                Op::St { space, ty, s, addr }
            } else {
                let d = cx.regs(&o[0])?;
                if d.len() != vec {
                    return Err("vector size mismatch".into());
                }
                let addr = cx.addr(&o[1])?;
                Op::Ld { space, ty, d, addr }
            }
        }
        "atom" | "red" => {
            let hint = m.eat_mem_hints()?;
            let o = policy(cx, o, hint)?;
            let space = m.space();
            let aop = match m.one(&[
                "add", "min", "max", "inc", "dec", "and", "or", "xor", "exch", "cas",
            ]) {
                Some("add") => AtomOp::Add,
                Some("min") => AtomOp::Min,
                Some("max") => AtomOp::Max,
                Some("inc") => AtomOp::Inc,
                Some("dec") => AtomOp::Dec,
                Some("and") => AtomOp::And,
                Some("or") => AtomOp::Or,
                Some("xor") => AtomOp::Xor,
                Some("exch") => AtomOp::Exch,
                Some("cas") => AtomOp::Cas,
                _ => return Err("missing atomic operation".into()),
            };
            let ty = m.ty()?;
            let (d, rest) = if base == "atom" {
                (Some(cx.reg(o.first().ok_or("missing operands")?)?), &o[1..])
            } else {
                (None, o)
            };
            let need = if aop == AtomOp::Cas { 3 } else { 2 };
            if rest.len() != need {
                return Err("bad operand count".into());
            }
            Op::Atom {
                space,
                op: aop,
                ty,
                d,
                addr: cx.addr(&rest[0])?,
                a: cx.src(&rest[1], ty)?,
                b: if need == 3 {
                    cx.src(&rest[2], ty)?
                } else {
                    Src::I(0)
                },
            }
        }
        "membar" => {
            m.one(&["cta", "gl", "sys"]);
            Op::Nop
        }
        "fence" => {
            m.one(&["sc", "acq_rel"]);
            m.one(&["cta", "gpu", "sys", "cluster"]);
            if m.has("proxy") && m.prefixed("async").is_some() {
                m.one(&["shared::cta", "shared::cluster", "global"]);
                Op::ProxyFence
            } else {
                Op::Nop
            }
        }
        // an opaque 64-bit cache policy: ptxsim has no cache, so any value does (the
        // instructions that take it with .L2::cache_hint ignore it)
        "createpolicy" => {
            let kind = m
                .one(&["fractional", "range", "cvt"])
                .ok_or("createpolicy needs .fractional, .range or .cvt")?;
            m.one(&[
                "L2::evict_last",
                "L2::evict_normal",
                "L2::evict_first",
                "L2::evict_unchanged",
                "L2",
            ]);
            m.one(&["L2::evict_unchanged", "L2::evict_first"]);
            if m.ty()? != Ty::B64 {
                return Err("createpolicy needs .b64".into());
            }
            let n = match kind {
                "fractional" => 1..=2,
                "range" => 4..=4,
                _ => 2..=2,
            };
            if !n.contains(&o.len()) {
                return Err("bad operand count".into());
            }
            for x in &o[1..] {
                if !matches!(x, RawOperand::Addr { .. }) {
                    cx.src(x, Ty::B64)?;
                }
            }
            Op::Mov {
                d: cx.reg(&o[0])?,
                a: Src::I(0x0c0f_fee0_0000_0000),
                mask: u64::MAX,
            }
        }
        "nanosleep" | "pmevent" | "prefetch" | "prefetchu" => {
            m.eat_mem_hints()?;
            m.space();
            m.one(&["L1", "L2", "u32"]);
            m.prefixed("L2::");
            Op::Nop
        }
        "cp" => {
            if !m.has("async") {
                return Err("unsupported cp form".into());
            }
            if m.has("commit_group") {
                Op::CpCommit
            } else if m.has("wait_group") {
                nops(ri, 1)?;
                match cx.src(&o[0], Ty::U32)? {
                    Src::I(n) => Op::CpWait { n: n as u32 },
                    _ => return Err("wait_group needs an immediate".into()),
                }
            } else if m.has("wait_all") {
                Op::CpWait { n: 0 }
            } else {
                let cg = match m.one(&["ca", "cg"]) {
                    Some("cg") => true,
                    Some(_) => false,
                    None => return Err("cp.async needs .ca or .cg".into()),
                };
                let dspace = m.space();
                if dspace != Space::Shared {
                    return Err("cp.async destination must be .shared".into());
                }
                if m.space() != Space::Global {
                    return Err("cp.async source must be .global".into());
                }
                let hint = m.eat_mem_hints()?;
                let o = policy(cx, o, hint)?;
                if o.len() < 3 || o.len() > 4 {
                    return Err("bad operand count".into());
                }
                let size = match cx.src(&o[2], Ty::U32)? {
                    Src::I(n) if n == 4 || n == 8 || n == 16 => n as u32,
                    _ => return Err("cp-size must be 4, 8 or 16".into()),
                };
                if cg && size != 16 {
                    return Err("cp.async.cg needs cp-size 16".into());
                }
                Op::CpAsync {
                    dst: cx.addr(&o[0])?,
                    src: cx.addr(&o[1])?,
                    size,
                    src_size: if o.len() == 4 {
                        Some(cx.src(&o[3], Ty::U32)?)
                    } else {
                        None
                    },
                    dspace,
                }
            }
        }
        _ => return Ok(None),
    }))
}

/// The operands before a `.L2::cache_hint` instruction's trailing cache-policy operand (a
/// 64-bit value from `createpolicy`: checked to decode, then ignored, as ptxsim has no cache).
fn policy<'o>(cx: &mut Ctx, o: &'o [RawOperand], hint: bool) -> Result<&'o [RawOperand], String> {
    if !hint {
        return Ok(o);
    }
    let (last, rest) = o
        .split_last()
        .ok_or(".L2::cache_hint needs a cache-policy operand")?;
    cx.src(last, Ty::B64)?;
    Ok(rest)
}
