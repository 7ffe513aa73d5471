//! Decoding of integer, logic, compare/select and move instructions (exec/alu.rs).

use super::*;

/// The integer, logic, compare/select and move instructions (None for the other opcodes).
pub(super) fn decode(cx: &mut Ctx, m: &mut Mods, r: &Raw) -> Result<Option<Op>, String> {
    let Raw { base, parts, ri } = *r;
    let o = &ri.operands;
    Ok(Some(match base {
        "mov" => {
            let ty = m.ty()?;
            nops(ri, 2)?;
            match (&o[0], &o[1]) {
                (RawOperand::Vec(ds), a) => {
                    let ds = ds
                        .iter()
                        .map(|x| cx.reg(x))
                        .collect::<Result<Vec<_>, _>>()?;
                    let bits = vec_part_bits(ty, ds.len())?;
                    Op::Unpack {
                        ds,
                        a: cx.src(a, ty)?,
                        bits,
                    }
                }
                (d, RawOperand::Vec(ps)) => {
                    let parts = ps
                        .iter()
                        .map(|x| cx.src(x, Ty::B32))
                        .collect::<Result<Vec<_>, _>>()?;
                    let bits = vec_part_bits(ty, parts.len())?;
                    Op::Pack {
                        d: cx.reg(d)?,
                        parts,
                        bits,
                    }
                }
                (d, a) => Op::Mov {
                    d: cx.reg(d)?,
                    a: cx.src(a, ty)?,
                    mask: ty.mask(),
                },
            }
        }
        "add" | "sub" | "mul" | "mad" | "fma" | "div" | "rem" | "min" | "max" | "mul24"
        | "mad24" | "addc" | "subc" | "madc" => decode_arith(cx, base, m, ri)?,
        "and" | "or" | "xor" | "shl" | "shr" => {
            let ty = m.ty()?;
            nops(ri, 3)?;
            let d = cx.reg(&o[0])?;
            let a = cx.src(&o[1], ty)?;
            let b = cx.src(&o[2], ty)?;
            if ty == Ty::Pred && base != "shl" && base != "shr" {
                Op::PredLogic {
                    op: match base {
                        "and" => BoolOp::And,
                        "or" => BoolOp::Or,
                        _ => BoolOp::Xor,
                    },
                    d,
                    a,
                    b,
                }
            } else {
                let op = match base {
                    "and" => IBin::And,
                    "or" => IBin::Or,
                    "xor" => IBin::Xor,
                    "shl" => IBin::Shl,
                    _ => IBin::Shr,
                };
                Op::IBin {
                    op,
                    ty,
                    sat: false,
                    d,
                    a,
                    b,
                }
            }
        }
        "not" | "cnot" | "brev" | "clz" | "popc" | "bfind" => {
            let shift = m.has("shiftamt");
            let ty = m.ty()?;
            nops(ri, 2)?;
            let d = cx.reg(&o[0])?;
            let a = cx.src(&o[1], ty)?;
            if ty == Ty::Pred && base == "not" {
                Op::PredNot { d, a }
            } else {
                Op::IUn {
                    op: match base {
                        "not" => IUn::Not,
                        "cnot" => IUn::Cnot,
                        "brev" => IUn::Brev,
                        "clz" => IUn::Clz,
                        "popc" => IUn::Popc,
                        _ if shift => IUn::BfindShift,
                        _ => IUn::Bfind,
                    },
                    ty,
                    d,
                    a,
                }
            }
        }
        "bfe" => {
            let ty = m.ty()?;
            nops(ri, 4)?;
            Op::Bfe {
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                b: cx.src(&o[2], Ty::U32)?,
                c: cx.src(&o[3], Ty::U32)?,
            }
        }
        "bfi" => {
            let ty = m.ty()?;
            nops(ri, 5)?;
            Op::Bfi {
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                b: cx.src(&o[2], ty)?,
                c: cx.src(&o[3], Ty::U32)?,
                e: cx.src(&o[4], Ty::U32)?,
            }
        }
        "prmt" => {
            let mode = match m.one(&["f4e", "b4e", "rc8", "ecl", "ecr", "rc16"]) {
                None => PrmtMode::Default,
                Some("f4e") => PrmtMode::F4e,
                Some("b4e") => PrmtMode::B4e,
                Some("rc8") => PrmtMode::Rc8,
                Some("ecl") => PrmtMode::Ecl,
                Some("ecr") => PrmtMode::Ecr,
                _ => PrmtMode::Rc16,
            };
            if m.ty()? != Ty::B32 {
                return Err("prmt needs .b32".into());
            }
            nops(ri, 4)?;
            Op::Prmt {
                mode,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], Ty::B32)?,
                b: cx.src(&o[2], Ty::B32)?,
                c: cx.src(&o[3], Ty::B32)?,
            }
        }
        "lop3" => {
            if m.ty()? != Ty::B32 {
                return Err("lop3 needs .b32".into());
            }
            nops(ri, 5)?;
            let lut = match cx.src(&o[4], Ty::B32)? {
                Src::I(v) => v as u8,
                _ => return Err("lop3 LUT must be an immediate".into()),
            };
            Op::Lop3 {
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], Ty::B32)?,
                b: cx.src(&o[2], Ty::B32)?,
                c: cx.src(&o[3], Ty::B32)?,
                lut,
            }
        }
        "shf" => {
            let left = match m.one(&["l", "r"]) {
                Some("l") => true,
                Some(_) => false,
                None => return Err("shf needs .l or .r".into()),
            };
            let clamp = match m.one(&["wrap", "clamp"]) {
                Some("clamp") => true,
                Some(_) => false,
                None => return Err("shf needs .wrap or .clamp".into()),
            };
            if m.ty()? != Ty::B32 {
                return Err("shf needs .b32".into());
            }
            nops(ri, 4)?;
            Op::Shf {
                left,
                clamp,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], Ty::B32)?,
                b: cx.src(&o[2], Ty::B32)?,
                c: cx.src(&o[3], Ty::U32)?,
            }
        }
        "setp" | "set" => {
            let cmp = parts
                .first()
                .and_then(|c| parse_cmp(c))
                .ok_or("missing comparison")?;
            m.used[0] = true;
            let bop = match m.one(&["and", "or", "xor"]) {
                Some("and") => Some(BoolOp::And),
                Some("or") => Some(BoolOp::Or),
                Some("xor") => Some(BoolOp::Xor),
                _ => None,
            };
            let _ftz = m.has("ftz");
            let tys = m.types();
            let n = o.len();
            if n != 3 && n != 4 {
                return Err("bad operand count".into());
            }
            let sty = *tys.last().ok_or("missing type")?;
            let a = cx.src(&o[1], sty)?;
            let b = cx.src(&o[2], sty)?;
            let comb = if n == 4 {
                let (c, neg) = cx.pred_src(&o[3])?;
                Some((bop.ok_or("4th operand needs .and/.or/.xor")?, c, neg))
            } else {
                None
            };
            if base == "setp" {
                if tys.len() != 1 {
                    return Err("setp takes one type".into());
                }
                let (p, q) = match &o[0] {
                    RawOperand::PredPair(p, q) => (
                        cx.reg(&RawOperand::Name(p.clone()))?,
                        Some(cx.reg(&RawOperand::Name(q.clone()))?),
                    ),
                    x => (cx.reg(x)?, None),
                };
                Op::Setp {
                    cmp,
                    ty: sty,
                    p,
                    q,
                    a,
                    b,
                    comb,
                }
            } else {
                if tys.len() != 2 {
                    return Err("set takes two types".into());
                }
                Op::Set {
                    cmp,
                    dty: tys[0],
                    sty,
                    d: cx.reg(&o[0])?,
                    a,
                    b,
                    comb,
                }
            }
        }
        "selp" => {
            let ty = m.ty()?;
            nops(ri, 4)?;
            Op::Selp {
                ty,
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], ty)?,
                b: cx.src(&o[2], ty)?,
                p: cx.src(&o[3], Ty::Pred)?,
            }
        }
        "slct" => {
            let _ftz = m.has("ftz");
            let tys = m.types();
            if tys.len() != 2 {
                return Err("slct takes two types".into());
            }
            nops(ri, 4)?;
            Op::Slct {
                ty: tys[0],
                cty: tys[1],
                d: cx.reg(&o[0])?,
                a: cx.src(&o[1], tys[0])?,
                b: cx.src(&o[2], tys[0])?,
                c: cx.src(&o[3], tys[1])?,
            }
        }
        _ => return Ok(None),
    }))
}

/// add/sub/mul/mad/div/rem/min/max and their carry and 24-bit forms; float types go to
/// [`super::float::arith`].
fn decode_arith(cx: &mut Ctx, base: &str, m: &mut Mods, ri: &RawInst) -> Result<Op, String> {
    let o = &ri.operands;
    let tys = m.types();
    let ty = *tys.first().ok_or("missing type")?;
    if tys.len() != 1 {
        return Err("expected one type".into());
    }
    let three = matches!(base, "mad" | "fma" | "mad24" | "madc");
    nops(ri, if three { 4 } else { 3 })?;
    let d = cx.reg(&o[0])?;
    let a = cx.src(&o[1], ty)?;
    let b = cx.src(&o[2], ty)?;
    let c = if three { cx.src(&o[3], ty)? } else { Src::I(0) };
    if ty.is_float() {
        return super::float::arith(base, ty, m, [d], [a, b, c]);
    }
    let cc = m.has("cc");
    let mode = match m.one(&["lo", "hi", "wide"]) {
        Some("lo") => Some(IBin::MulLo),
        Some("hi") => Some(IBin::MulHi),
        Some(_) => Some(IBin::MulWide),
        None => None,
    };
    let sat = m.has("sat");
    if base == "madc" || (base == "mad" && cc) {
        let hi = match mode {
            Some(IBin::MulLo) => false,
            Some(IBin::MulHi) => true,
            _ => return Err("mad with carry needs .lo or .hi".into()),
        };
        if !matches!(
            ty,
            Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64 | Ty::B32 | Ty::B64
        ) {
            return Err("mad with carry needs a 32- or 64-bit integer type".into());
        }
        return Ok(Op::MadCarry {
            hi,
            cin: base == "madc",
            cout: cc,
            ty,
            d,
            a,
            b,
            c,
        });
    }
    if base == "addc" || base == "subc" {
        return Ok(Op::Carry {
            sub: base == "subc",
            cin: true,
            cout: cc,
            ty,
            d,
            a,
            b,
        });
    }
    if cc {
        return match base {
            "add" | "sub" => Ok(Op::Carry {
                sub: base == "sub",
                cin: false,
                cout: true,
                ty,
                d,
                a,
                b,
            }),
            _ => Err("unsupported .cc form".into()),
        };
    }
    Ok(match base {
        "add" | "sub" | "div" | "rem" | "min" | "max" => Op::IBin {
            op: match base {
                "add" => IBin::Add,
                "sub" => IBin::Sub,
                "div" => IBin::Div,
                "rem" => IBin::Rem,
                "min" => IBin::Min,
                _ => IBin::Max,
            },
            ty,
            sat,
            d,
            a,
            b,
        },
        "mul" => Op::IBin {
            op: mode.ok_or("mul needs .lo/.hi/.wide")?,
            ty,
            sat,
            d,
            a,
            b,
        },
        "mul24" => {
            if mode != Some(IBin::MulLo) {
                return Err("only mul24.lo".into());
            }
            Op::IBin {
                op: IBin::Mul24Lo,
                ty,
                sat,
                d,
                a,
                b,
            }
        }
        "mad" => Op::Mad {
            mode: mode.ok_or("mad needs .lo/.hi/.wide")?,
            ty,
            sat,
            d,
            a,
            b,
            c,
        },
        _ => return Err("unsupported integer form".into()),
    })
}
