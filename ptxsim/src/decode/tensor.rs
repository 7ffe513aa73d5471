//! Decoding of tensor-core instructions: mma and mma.sp (exec/tensor.rs).

use super::*;

/// The tensor-core instructions (None for the other opcodes).
pub(super) fn decode(cx: &mut Ctx, m: &mut Mods, r: &Raw) -> Result<Option<Op>, String> {
    let Raw { base, parts, ri } = *r;
    Ok(Some(match base {
        "mma" => decode_mma(cx, m, ri, parts)?,
        _ => return Ok(None),
    }))
}

fn decode_mma(cx: &mut Ctx, m: &mut Mods, ri: &RawInst, parts: &[&str]) -> Result<Op, String> {
    let o = &ri.operands;
    let sparse = match parts.first() {
        Some(&"sp") => Some(false),
        Some(&"sp::ordered_metadata") => Some(true),
        _ => None,
    };
    if sparse.is_some() {
        m.used[0] = true;
    }
    if !(m.has("sync") && m.has("aligned")) {
        return Err("mma needs .sync.aligned".into());
    }
    let shape = match m.one(&["m16n8k8", "m16n8k16", "m16n8k32"]) {
        Some("m16n8k8") => MmaShape::M16N8K8,
        Some("m16n8k16") => MmaShape::M16N8K16,
        Some("m16n8k32") => MmaShape::M16N8K32,
        _ => return Err("unsupported mma shape".into()),
    };
    if !(m.has("row") && m.has("col")) {
        return Err("mma needs .row.col".into());
    }
    let tys = m.types();
    if tys.len() != 4 {
        return Err("mma needs four types".into());
    }
    let (dty, aty, bty, cty) = (tys[0], tys[1], tys[2], tys[3]);
    if aty != bty || !matches!(aty, Ty::F16 | Ty::BF16) {
        return Err(format!("mma input types {aty:?}/{bty:?}"));
    }
    if !matches!(dty, Ty::F32 | Ty::F16) || !matches!(cty, Ty::F32 | Ty::F16) {
        return Err("mma accumulator types".into());
    }
    if aty == Ty::BF16 && (dty != Ty::F32 || cty != Ty::F32) {
        return Err("bf16 mma needs f32 accumulators".into());
    }
    let d = cx.regs(&o[0])?;
    let a = cx.srcs(o.get(1).ok_or("missing A")?, Ty::B32)?;
    let b = cx.srcs(o.get(2).ok_or("missing B")?, Ty::B32)?;
    let c = cx.srcs(o.get(3).ok_or("missing C")?, cty)?;
    let nacc = if dty == Ty::F32 { 4 } else { 2 };
    let ncc = if cty == Ty::F32 { 4 } else { 2 };
    if d.len() != nacc || c.len() != ncc {
        return Err("accumulator register count".into());
    }
    match sparse {
        None => {
            nops(ri, 4)?;
            let (na, nb) = match shape {
                MmaShape::M16N8K8 => (2, 1),
                MmaShape::M16N8K16 => (4, 2),
                MmaShape::M16N8K32 => return Err("dense m16n8k32 is for 8-bit types".into()),
            };
            if a.len() != na || b.len() != nb {
                return Err("A/B register count".into());
            }
            Ok(Op::Mma {
                shape,
                aty,
                cty,
                dty,
                d,
                a,
                b,
                c,
            })
        }
        Some(ordered) => {
            nops(ri, 6)?;
            if dty != Ty::F32 || cty != Ty::F32 {
                return Err("mma.sp: only f32 accumulators are supported".into());
            }
            let (na, nb) = match shape {
                MmaShape::M16N8K16 => (2, 2),
                MmaShape::M16N8K32 => (4, 4),
                MmaShape::M16N8K8 => return Err("mma.sp has no m16n8k8 for f16/bf16".into()),
            };
            if a.len() != na || b.len() != nb {
                return Err("A/B register count".into());
            }
            let e = cx.src(&o[4], Ty::B32)?;
            let sel = match cx.src(&o[5], Ty::U32)? {
                Src::I(s) => s as u32,
                _ => return Err("sparsity selector must be an immediate".into()),
            };
            let max_sel = if shape == MmaShape::M16N8K32 { 1 } else { 3 };
            if sel > max_sel {
                return Err(format!(
                    "sparsity selector {sel} out of range 0..={max_sel}"
                ));
            }
            Ok(Op::MmaSp {
                shape,
                ordered,
                aty,
                d,
                a,
                b,
                c,
                e,
                sel,
            })
        }
    }
}
