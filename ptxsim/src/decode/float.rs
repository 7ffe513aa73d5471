//! Decoding of floating-point arithmetic, special functions and conversions (exec/float.rs, exec/alu.rs).

use super::*;

/// The floating-point and conversion instructions (None for the other opcodes).
pub(super) fn decode(cx: &mut Ctx, m: &mut Mods, r: &Raw) -> Result<Option<Op>, String> {
    let Raw { base, ri, .. } = *r;
    let o = &ri.operands;
    Ok(Some(match base {
        "neg" | "abs" => {
            let ftz = m.has("ftz");
            let ty = m.ty()?;
            nops(ri, 2)?;
            let d = cx.reg(&o[0])?;
            let a = cx.src(&o[1], ty)?;
            if ty.is_float() {
                Op::FUn {
                    op: if base == "neg" { FUn::Neg } else { FUn::Abs },
                    ty,
                    m: FMods {
                        nan: false,
                        rnd: Rnd::Rn,
                        ftz,
                        sat: false,
                        approx: false,
                    },
                    d,
                    a,
                }
            } else {
                Op::IUn {
                    op: if base == "neg" { IUn::Neg } else { IUn::Abs },
                    ty,
                    d,
                    a,
                }
            }
        }
        "sqrt" | "rcp" | "rsqrt" | "ex2" | "lg2" | "sin" | "cos" | "tanh" => {
            let approx = m.has("approx");
            let full = m.has("full");
            let rnd = m.rnd();
            let ftz = m.has("ftz");
            let ty = m.ty()?;
            if !approx && rnd.is_none() && !full {
                return Err("needs .approx or a rounding modifier".into());
            }
            if approx
                && !matches!(
                    ty,
                    Ty::F32 | Ty::F64 | Ty::F16 | Ty::F16x2 | Ty::BF16 | Ty::BF16x2
                )
            {
                return Err("bad type".into());
            }
            nops(ri, 2)?;
            Op::FUn {
                op: match base {
                    "sqrt" => FUn::Sqrt,
                    "rcp" => FUn::Rcp,
                    "rsqrt" => FUn::Rsqrt,
                    "ex2" => FUn::Ex2,
                    "lg2" => FUn::Lg2,
                    "sin" => FUn::Sin,
                    "cos" => FUn::Cos,
                    _ => FUn::Tanh,
                },
                ty,
                m: FMods {
                    nan: false,
                    rnd: rnd.unwrap_or(Rnd::Rn),
                    ftz,
                    sat: false,
                    approx,
                },
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
            }
        }
        "copysign" => {
            let ty = m.ty()?;
            nops(ri, 3)?;
            Op::FBin {
                op: FBin::Copysign,
                ty,
                m: FMods {
                    nan: false,
                    rnd: Rnd::Rn,
                    ftz: false,
                    sat: false,
                    approx: false,
                },
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                b: cx.src(&o[2], ty)?,
            }
        }
        "testp" => {
            let t = m
                .one(&[
                    "finite",
                    "infinite",
                    "number",
                    "notanumber",
                    "normal",
                    "subnormal",
                ])
                .ok_or("testp needs an operation")?;
            let ty = m.ty()?;
            nops(ri, 2)?;
            Op::Testp {
                op: match t {
                    "finite" => TestpOp::Finite,
                    "infinite" => TestpOp::Infinite,
                    "number" => TestpOp::Number,
                    "notanumber" => TestpOp::NotANumber,
                    "normal" => TestpOp::Normal,
                    _ => TestpOp::Subnormal,
                },
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
            }
        }
        "cvt" => {
            let irnd = m.one(&["rni", "rzi", "rmi", "rpi"]);
            let frnd = m.rnd();
            let ftz = m.has("ftz");
            let sat = m.has("sat");
            let relu = m.has("relu");
            let tys = m.types();
            if tys.len() != 2 {
                return Err("cvt takes two types".into());
            }
            let (dty, sty) = (tys[0], tys[1]);
            if matches!(dty, Ty::F16x2 | Ty::BF16x2) {
                nops(ri, 3)?;
                if sty != Ty::F32 {
                    return Err("packed cvt needs .f32 sources".into());
                }
                Op::CvtPack {
                    dty,
                    rnd: frnd.ok_or("packed cvt needs a rounding modifier")?,
                    relu,
                    sat,
                    d: cx.reg(&o[0])?,
                    a: cx.src(&o[1], Ty::F32)?,
                    b: cx.src(&o[2], Ty::F32)?,
                }
            } else {
                nops(ri, 2)?;
                let (rnd, int_rnd) = match (irnd, frnd) {
                    (Some(i), None) => (
                        Some(match i {
                            "rni" => Rnd::Rn,
                            "rzi" => Rnd::Rz,
                            "rmi" => Rnd::Rm,
                            _ => Rnd::Rp,
                        }),
                        true,
                    ),
                    (None, r) => (r, false),
                    _ => return Err("two rounding modifiers".into()),
                };
                Op::Cvt {
                    dty,
                    sty,
                    rnd,
                    int_rnd,
                    sat,
                    ftz,
                    relu,
                    d: cx.reg(&o[0])?,
                    a: cx.src(&o[1], sty)?,
                }
            }
        }
        _ => return Ok(None),
    }))
}

/// The float forms of add/sub/mul/div/min/max/fma/mad, operands already decoded.
pub(super) fn arith(
    base: &str,
    ty: Ty,
    m: &mut Mods,
    [d]: [u32; 1],
    [a, b, c]: [Src; 3],
) -> Result<Op, String> {
    let rnd = m.rnd();
    let approx = m.has("approx");
    let full = m.has("full");
    let ftz = m.has("ftz");
    let sat = m.has("sat");
    let nan = m.has("NaN");
    if nan && base != "min" && base != "max" {
        return Err(".NaN is only for min/max".into());
    }
    let fm = FMods {
        nan,
        rnd: rnd.unwrap_or(Rnd::Rn),
        ftz,
        sat,
        approx: approx || full,
    };
    if base == "div" && ty == Ty::F32 && rnd.is_none() && !approx && !full {
        return Err("div.f32 needs .rn/.approx/.full".into());
    }
    if base == "fma" && rnd.is_none() {
        return Err("fma needs a rounding modifier".into());
    }
    if base == "mad" && ty != Ty::F32 && ty != Ty::F64 {
        return Err("bad mad type".into());
    }
    Ok(match base {
        "add" | "sub" | "mul" | "div" | "min" | "max" => Op::FBin {
            op: match base {
                "add" => FBin::Add,
                "sub" => FBin::Sub,
                "mul" => FBin::Mul,
                "div" => FBin::Div,
                "min" => FBin::Min,
                _ => FBin::Max,
            },
            ty,
            m: fm,
            d,
            a,
            b,
        },
        "fma" | "mad" => Op::Fma {
            ty,
            m: fm,
            d,
            a,
            b,
            c,
        },
        _ => return Err("bad float op".into()),
    })
}
