//! Tensor-core instructions: mma.sync and mma.sp.
//!
//! Fragments are gathered from the 32 lanes into logical matrices using the PTX ISA fragment
//! layouts (section 9.7.14) and, for mma.sp m16n8k32, HARDWARE.md's tables. The product is
//! computed in f64 (every f16/bf16 product is exact there; the sum of at most 32 terms and C
//! is rounded once at the end to the accumulator type). Real tensor cores truncate
//! intermediate sums differently, so results may differ from hardware in the last bits.

use super::float::{bf16_to_f64, f16_to_f64, to_f16, to_f32};
use super::Cta;
use crate::error::{ErrorKind, Fault, SimError};
use crate::ir::*;

fn half_val(ty: Ty, h: u16) -> f64 {
    if ty == Ty::BF16 {
        bf16_to_f64(h)
    } else {
        f16_to_f64(h)
    }
}

/// Legal ordered 2:4 codes: strictly increasing indices.
pub(crate) fn meta_ok(code: u32, ordered: bool) -> bool {
    let (i0, i1) = (code & 3, (code >> 2) & 3);
    if ordered {
        i0 < i1
    } else {
        i0 != i1
    }
}

impl Cta<'_> {
    pub(crate) fn exec_mma(&mut self, w: usize, pc: u32, inst: &Inst) -> Result<(), SimError> {
        let base = w * 32;
        let (shape, aty, cty, dty, d, a, b, c, sparse) = match &inst.op {
            Op::Mma {
                shape,
                aty,
                cty,
                dty,
                d,
                a,
                b,
                c,
            } => (*shape, *aty, *cty, *dty, d, a, b, c, None),
            Op::MmaSp {
                shape,
                ordered,
                aty,
                d,
                a,
                b,
                c,
                e,
                sel,
            } => (
                *shape,
                *aty,
                Ty::F32,
                Ty::F32,
                d,
                a,
                b,
                c,
                Some((*ordered, *e, *sel)),
            ),
            _ => return Ok(()),
        };
        let k = match shape {
            MmaShape::M16N8K8 => 8,
            MmaShape::M16N8K16 => 16,
            MmaShape::M16N8K32 => 32,
        };
        // A as stored: 16 x ka (ka = k, or k/2 when sparse)
        let ka = if sparse.is_some() { k / 2 } else { k };
        let mut am = [[0f64; 32]; 16];
        let mut bm = [[0f64; 8]; 32];
        let mut cm = [[0f64; 8]; 16];
        for l in 0..32usize {
            let t = base + l;
            let (g, q) = (l / 4, l % 4);
            // A: registers hold pairs (row, col) (row, col+1)
            for (i, s) in a.iter().enumerate() {
                let v = self.rd(t, *s);
                let (row, col) = if ka == 8 {
                    (g + 8 * i, 2 * q)
                } else {
                    (g + 8 * (i & 1), 2 * q + 8 * (i >> 1))
                };
                am[row][col] = half_val(aty, v as u16);
                am[row][col + 1] = half_val(aty, (v >> 16) as u16);
            }
            // B: register j holds k = 2q + 8j (+0, +1), n = g
            for (j, s) in b.iter().enumerate() {
                let v = self.rd(t, *s);
                let kk = 2 * q + 8 * j;
                bm[kk][g] = half_val(aty, v as u16);
                bm[kk + 1][g] = half_val(aty, (v >> 16) as u16);
            }
            // C
            if cty == Ty::F32 {
                for (i, s) in c.iter().enumerate() {
                    let v = self.rd(t, *s);
                    cm[g + 8 * (i >> 1)][2 * q + (i & 1)] = f32::from_bits(v as u32) as f64;
                }
            } else {
                for (i, s) in c.iter().enumerate() {
                    let v = self.rd(t, *s);
                    cm[g + 8 * i][2 * q] = f16_to_f64(v as u16);
                    cm[g + 8 * i][2 * q + 1] = f16_to_f64((v >> 16) as u16);
                }
            }
        }
        // Logical column of each stored A element (the identity when dense; from the metadata
        // when sparse). Only stored elements are multiplied, as on the hardware.
        let mut col = [[0usize; 32]; 16];
        for row in col.iter_mut() {
            for (j, c) in row.iter_mut().enumerate() {
                *c = j;
            }
        }
        if let Some((ordered, e, sel)) = sparse {
            for (row, crow) in col.iter_mut().enumerate() {
                let g = row % 8;
                let hi = row >= 8;
                for word in 0..(k / 16) {
                    let lane = if k == 32 {
                        4 * g + 2 * sel as usize + word
                    } else {
                        4 * g + sel as usize
                    };
                    let t = base + lane;
                    let ev = self.rd(t, e) as u32;
                    let w16 = if hi { ev >> 16 } else { ev & 0xffff };
                    for grp in 0..4 {
                        let code = (w16 >> (4 * grp)) & 0xf;
                        if !meta_ok(code, ordered) {
                            return Err(self.error_at(
                                t,
                                pc,
                                Fault::new(ErrorKind::IllegalMetadata(format!(
                                    "lane {lane} (sparsity selector {sel}) gives code {code:#x} for row {row}, columns {}..{} ({}); legal codes are 0x4, 0x8, 0xc, 0x9, 0xd, 0xe",
                                    16 * word + 4 * grp,
                                    16 * word + 4 * grp + 3,
                                    if ordered { "indices must be strictly increasing" } else { "indices must differ" }
                                ))),
                            ));
                        }
                        let lg = 4 * word + grp; // logical group index in the row
                        crow[2 * lg] = 4 * lg + (code & 3) as usize;
                        crow[2 * lg + 1] = 4 * lg + ((code >> 2) & 3) as usize;
                    }
                }
            }
        }
        let mut dm = cm;
        for (r, drow) in dm.iter_mut().enumerate() {
            for j in 0..ka {
                let a = am[r][j];
                let bk = &bm[col[r][j]];
                for (dv, bv) in drow.iter_mut().zip(bk.iter()) {
                    *dv += a * bv;
                }
            }
        }
        for l in 0..32usize {
            let t = base + l;
            let (g, q) = (l / 4, l % 4);
            if dty == Ty::F32 {
                for (i, r) in d.iter().enumerate() {
                    let v = to_f32(dm[g + 8 * (i >> 1)][2 * q + (i & 1)], Rnd::Rn);
                    self.wr(t, *r, v.to_bits() as u64);
                }
            } else {
                for (i, r) in d.iter().enumerate() {
                    let lo = to_f16(dm[g + 8 * i][2 * q], Rnd::Rn) as u64;
                    let hi = to_f16(dm[g + 8 * i][2 * q + 1], Rnd::Rn) as u64;
                    self.wr(t, *r, lo | (hi << 16));
                }
            }
        }
        if sparse.is_some() {
            self.stats.mma_sp_instructions += 1;
        } else {
            self.stats.mma_instructions += 1;
        }
        Ok(())
    }
}
