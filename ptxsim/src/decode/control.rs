//! Decoding of control flow and CTA barriers: bra, call, ret, exit, trap, bar/barrier (exec/mod.rs).

use super::*;

/// The control-flow and CTA-barrier instructions (None for the other opcodes).
pub(super) fn decode(cx: &mut Ctx, m: &mut Mods, r: &Raw) -> Result<Option<Op>, String> {
    let Raw { base, parts, ri } = *r;
    let o = &ri.operands;
    Ok(Some(match base {
        "bra" => {
            m.has("uni");
            nops(ri, 1)?;
            let t = match &o[0] {
                RawOperand::Name(n) => cx.label(n).ok_or(format!("unknown label `{n}`"))?,
                _ => return Err("bad branch target".into()),
            };
            Op::Bra { target: t }
        }
        "call" => {
            m.has("uni");
            let mut rets = Vec::new();
            let mut args = Vec::new();
            let mut func = None;
            for x in o {
                match x {
                    RawOperand::List(l) => {
                        let mut v = Vec::new();
                        for y in l {
                            match y {
                                RawOperand::Name(n) => match cx.lookup(n) {
                                    Some(Sym::Frame(off, size)) => v.push((off, size)),
                                    _ => {
                                        return Err(format!("call argument `{n}` is not a .param"))
                                    }
                                },
                                _ => return Err("unsupported call argument".into()),
                            }
                        }
                        if func.is_none() {
                            rets = v;
                        } else {
                            args = v;
                        }
                    }
                    RawOperand::Name(n) => match cx.lookup(n) {
                        Some(Sym::Func(f)) => func = Some(f),
                        _ => return Err(format!("indirect call through `{n}`")),
                    },
                    _ => return Err("bad call operand".into()),
                }
            }
            let func = func.ok_or("call without a target")?;
            let calls = &mut cx.prog.func_calls[cx.func_idx as usize];
            if !calls.contains(&func) {
                calls.push(func);
            }
            Op::Call { func, args, rets }
        }
        "ret" => {
            m.has("uni");
            Op::Ret
        }
        "exit" => Op::Exit,
        "trap" => Op::Trap,
        "bar" | "barrier" => {
            m.has("cta");
            if m.has("warp") {
                m.has("sync");
                nops(ri, 1)?;
                Op::WarpSync {
                    mask: cx.src(&o[0], Ty::B32)?,
                }
            } else {
                let arrive = match m.one(&["sync", "arrive"]) {
                    Some("sync") => false,
                    Some(_) => true,
                    None if base == "bar" && parts.is_empty() => false,
                    None => return Err("unsupported barrier form".into()),
                };
                m.has("aligned");
                if o.is_empty() || o.len() > 2 {
                    return Err("bad operand count".into());
                }
                Op::Bar {
                    arrive,
                    id: cx.src(&o[0], Ty::U32)?,
                    count: if o.len() == 2 {
                        Some(cx.src(&o[1], Ty::U32)?)
                    } else {
                        None
                    },
                }
            }
        }
        _ => return Ok(None),
    }))
}
