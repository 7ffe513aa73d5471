//! Decoding of the warpgroup instructions: `wgmma.fence`, `wgmma.commit_group`,
//! `wgmma.wait_group`, `wgmma.mma_async{.sp}` and `setmaxnreg` (exec/wgmma.rs). Only reached
//! for `.target sm_90` or later (see HOPPER_DONE in mod.rs).

use super::*;

/// The warpgroup instructions (None for the other opcodes).
pub(super) fn decode(cx: &mut Ctx, m: &mut Mods, r: &Raw) -> Result<Option<Op>, String> {
    let Raw { base, parts, ri } = *r;
    let o = &ri.operands;
    Ok(Some(match base {
        "wgmma" => {
            let what = *parts.first().ok_or("wgmma needs an operation")?;
            m.has(what);
            if !(m.has("sync") && m.has("aligned")) {
                return Err(format!("wgmma.{what} needs .sync.aligned"));
            }
            match what {
                "fence" => {
                    nops(ri, 0)?;
                    Op::WgFence
                }
                "commit_group" => {
                    nops(ri, 0)?;
                    Op::WgCommit
                }
                "wait_group" => {
                    nops(ri, 1)?;
                    match cx.src(&o[0], Ty::U32)? {
                        Src::I(n) => Op::WgWait { n: n as u32 },
                        _ => return Err("wgmma.wait_group needs an immediate count".into()),
                    }
                }
                "mma_async" => Op::Wgmma(Box::new(mma_async(cx, m, ri)?)),
                _ => return Err(format!("unknown wgmma operation `{what}`")),
            }
        }
        "setmaxnreg" => {
            let inc = match m.one(&["inc", "dec"]) {
                Some("inc") => true,
                Some(_) => false,
                None => return Err("setmaxnreg needs .inc or .dec".into()),
            };
            if !(m.has("sync") && m.has("aligned")) {
                return Err("setmaxnreg needs .sync.aligned".into());
            }
            if m.ty()? != Ty::U32 {
                return Err("setmaxnreg needs .u32".into());
            }
            nops(ri, 1)?;
            let n = match cx.src(&o[0], Ty::U32)? {
                Src::I(n) => n as u32,
                _ => return Err("setmaxnreg needs an immediate register count".into()),
            };
            if !(24..=256).contains(&n) || !n.is_multiple_of(8) {
                return Err(format!(
                    "setmaxnreg count {n} must be a multiple of 8 in 24..=256"
                ));
            }
            Op::SetMaxNReg { inc, n }
        }
        _ => return Ok(None),
    }))
}

/// An immediate operand (`imm-scale-*`, `imm-trans-*`, the selector) among `ok`.
fn imm(cx: &mut Ctx, o: &RawOperand, what: &str, ok: &[i128]) -> Result<i128, String> {
    match o {
        RawOperand::Imm(Imm::Int(v)) if ok.contains(v) => Ok(*v),
        _ => {
            let _ = cx;
            Err(format!(
                "{what} must be an immediate among {ok:?}, found {o:?}"
            ))
        }
    }
}

fn mma_async(cx: &mut Ctx, m: &mut Mods, ri: &RawInst) -> Result<Wgmma, String> {
    let o = &ri.operands;
    let sparse = m.has("sp");
    let shape = m
        .prefixed("m64n")
        .ok_or("wgmma.mma_async needs an m64nNkK shape")?;
    let k = if sparse { 32 } else { 16 };
    let n: u32 = shape
        .strip_prefix("m64n")
        .and_then(|s| s.strip_suffix(&format!("k{k}")))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "shape `{shape}`: f16/bf16 {}wgmma is m64nNk{k}",
                if sparse { "sparse " } else { "" }
            )
        })?;
    if n == 0 || n > 256 || !n.is_multiple_of(8) {
        return Err(format!("shape `{shape}`: N must be 8..=256 in steps of 8"));
    }
    let tys = m.types();
    if tys.len() != 3 {
        return Err("wgmma.mma_async needs three types (.dtype.atype.btype)".into());
    }
    if tys[0] != Ty::F32 {
        return Err(format!(
            "wgmma accumulator type {:?}: only .f32 is supported yet",
            tys[0]
        ));
    }
    if tys[1] != tys[2] || !matches!(tys[1], Ty::F16 | Ty::BF16) {
        return Err(format!(
            "wgmma input types {:?}/{:?}: only .f16 and .bf16 are supported yet",
            tys[1], tys[2]
        ));
    }
    let bf16 = tys[1] == Ty::BF16;
    let a_regs = matches!(o.get(1), Some(RawOperand::Vec(_)));
    // d, a, b, [e, sel,] scale-d, scale-a, scale-b, [trans-a,] trans-b
    let nexp = 7 + usize::from(!a_regs) + 2 * usize::from(sparse);
    nops(ri, nexp)?;
    let d = cx.regs(&o[0])?;
    if d.len() != n as usize / 2 {
        return Err(format!(
            "m64n{n} needs {} f32 accumulator registers per thread, found {}",
            n / 2,
            d.len()
        ));
    }
    let a = if a_regs {
        let v = cx.srcs(&o[1], Ty::B32)?;
        if v.len() != 4 {
            return Err(format!(
                "A from registers needs four .b32 registers, found {}",
                v.len()
            ));
        }
        WgA::Regs(v)
    } else {
        WgA::Desc(cx.src(&o[1], Ty::B64)?)
    };
    let b = cx.src(&o[2], Ty::B64)?;
    let mut i = 3;
    let sp = if sparse {
        let e = cx.src(&o[3], Ty::B32)?;
        let sel = imm(cx, &o[4], "the sparsity selector", &[0, 1])? as u32;
        i = 5;
        Some((e, sel))
    } else {
        None
    };
    let scale_d = match &o[i] {
        RawOperand::Imm(Imm::Int(v)) if *v == 0 || *v == 1 => Src::I(*v as u64),
        RawOperand::Imm(_) => return Err("scale-d must be a predicate, 0 or 1".into()),
        x => cx.src(x, Ty::Pred)?,
    };
    let neg_a = imm(cx, &o[i + 1], "imm-scale-a", &[1, -1])? == -1;
    let neg_b = imm(cx, &o[i + 2], "imm-scale-b", &[1, -1])? == -1;
    let (trans_a, trans_b) = if a_regs {
        (false, imm(cx, &o[i + 3], "imm-trans-b", &[0, 1])? == 1)
    } else {
        (
            imm(cx, &o[i + 3], "imm-trans-a", &[0, 1])? == 1,
            imm(cx, &o[i + 4], "imm-trans-b", &[0, 1])? == 1,
        )
    };
    Ok(Wgmma {
        n,
        bf16,
        d,
        a,
        b,
        sp,
        scale_d,
        neg_a,
        neg_b,
        trans_a,
        trans_b,
    })
}
