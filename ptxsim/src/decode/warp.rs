//! Decoding of warp-collective instructions: shfl, vote, activemask, redux, match, ldmatrix, stmatrix (exec/warp.rs).

use super::*;

/// The warp-collective instructions (None for the other opcodes).
pub(super) fn decode(cx: &mut Ctx, m: &mut Mods, r: &Raw) -> Result<Option<Op>, String> {
    let Raw { base, ri, .. } = *r;
    let o = &ri.operands;
    Ok(Some(match base {
        "shfl" => {
            if !m.has("sync") {
                return Err("shfl without .sync".into());
            }
            let mode = match m.one(&["up", "down", "bfly", "idx"]) {
                Some("up") => ShflMode::Up,
                Some("down") => ShflMode::Down,
                Some("bfly") => ShflMode::Bfly,
                Some(_) => ShflMode::Idx,
                None => return Err("missing shfl mode".into()),
            };
            if m.ty()? != Ty::B32 {
                return Err("shfl needs .b32".into());
            }
            nops(ri, 5)?;
            let (d, p) = match &o[0] {
                RawOperand::PredPair(a, b) => (
                    cx.reg(&RawOperand::Name(a.clone()))?,
                    Some(cx.reg(&RawOperand::Name(b.clone()))?),
                ),
                x => (cx.reg(x)?, None),
            };
            Op::Shfl {
                mode,
                d,
                p,
                a: cx.src(&o[1], Ty::B32)?,
                b: cx.src(&o[2], Ty::B32)?,
                c: cx.src(&o[3], Ty::B32)?,
                mask: cx.src(&o[4], Ty::B32)?,
            }
        }
        "vote" => {
            if !m.has("sync") {
                return Err("vote without .sync".into());
            }
            let mode = match m.one(&["all", "any", "uni", "ballot"]) {
                Some("all") => VoteMode::All,
                Some("any") => VoteMode::Any,
                Some("uni") => VoteMode::Uni,
                Some(_) => VoteMode::Ballot,
                None => return Err("missing vote mode".into()),
            };
            m.ty()?;
            nops(ri, 3)?;
            let (a, neg) = cx.pred_src(&o[1])?;
            Op::Vote {
                mode,
                d: cx.reg(&o[0])?,
                a,
                neg,
                mask: cx.src(&o[2], Ty::B32)?,
            }
        }
        "activemask" => {
            m.ty()?;
            nops(ri, 1)?;
            Op::Activemask { d: cx.reg(&o[0])? }
        }
        "redux" => {
            if !m.has("sync") {
                return Err("redux without .sync".into());
            }
            let rop = match m.one(&["add", "min", "max", "and", "or", "xor"]) {
                Some("add") => ReduxOp::Add,
                Some("min") => ReduxOp::Min,
                Some("max") => ReduxOp::Max,
                Some("and") => ReduxOp::And,
                Some("or") => ReduxOp::Or,
                Some(_) => ReduxOp::Xor,
                None => return Err("missing redux operation".into()),
            };
            let ty = m.ty()?;
            nops(ri, 3)?;
            Op::Redux {
                op: rop,
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                mask: cx.src(&o[2], Ty::B32)?,
            }
        }
        "match" => {
            let all = match m.one(&["any", "all"]) {
                Some("all") => true,
                Some(_) => false,
                None => return Err("missing match mode".into()),
            };
            if !m.has("sync") {
                return Err("match without .sync".into());
            }
            let ty = m.ty()?;
            nops(ri, 3)?;
            let a = cx.src(&o[1], ty)?;
            let mask = cx.src(&o[2], Ty::B32)?;
            if all {
                let (d, p) = match &o[0] {
                    RawOperand::PredPair(a, b) => (
                        cx.reg(&RawOperand::Name(a.clone()))?,
                        Some(cx.reg(&RawOperand::Name(b.clone()))?),
                    ),
                    x => (cx.reg(x)?, None),
                };
                Op::MatchAll { ty, d, p, a, mask }
            } else {
                Op::MatchAny {
                    ty,
                    d: cx.reg(&o[0])?,
                    a,
                    mask,
                }
            }
        }
        "ldmatrix" | "stmatrix" => {
            if !(m.has("sync") && m.has("aligned") && m.has("m8n8")) {
                return Err("needs .sync.aligned.m8n8".into());
            }
            let num = match m.one(&["x1", "x2", "x4"]) {
                Some("x1") => 1,
                Some("x2") => 2,
                Some("x4") => 4,
                _ => return Err("needs .x1/.x2/.x4".into()),
            };
            let trans = m.has("trans");
            let space = m.space();
            if space != Space::Shared && space != Space::Generic {
                return Err("ldmatrix/stmatrix need shared memory".into());
            }
            if m.ty()? != Ty::B16 {
                return Err("only .b16".into());
            }
            nops(ri, 2)?;
            if base == "ldmatrix" {
                let d = cx.regs(&o[0])?;
                if d.len() != num as usize {
                    return Err("register count mismatch".into());
                }
                Op::Ldmatrix {
                    num,
                    trans,
                    d,
                    addr: cx.addr(&o[1])?,
                    space,
                }
            } else {
                let s = cx.srcs(&o[1], Ty::B32)?;
                if s.len() != num as usize {
                    return Err("register count mismatch".into());
                }
                Op::Stmatrix {
                    num,
                    trans,
                    s,
                    addr: cx.addr(&o[0])?,
                    space,
                }
            }
        }
        _ => return Ok(None),
    }))
}
