//! Warp-collective instructions: shfl, vote, redux, match, elect, bar.warp.sync, ldmatrix,
//! stmatrix.

use super::mem::Loc;
use super::{AccKind, Cta};
use crate::error::{ErrorKind, Fault, SimError};
use crate::ir::*;

impl Cta<'_> {
    /// Execute a collective at `pc` for the member lanes `need` (all arrived).
    #[allow(clippy::needless_range_loop)]
    pub(crate) fn exec_collective(&mut self, w: usize, pc: u32, need: u32) -> Result<(), SimError> {
        let code = self.code;
        let inst = &code[pc as usize];
        let base = w * 32;
        let mut lanes_buf = [0u32; 32];
        let mut nl = 0;
        for l in 0..32u32 {
            if need & (1 << l) != 0 {
                lanes_buf[nl] = l;
                nl += 1;
            }
        }
        let lanes = &lanes_buf[..nl];
        let first = base + lanes[0] as usize;
        match &inst.op {
            Op::WarpSync { .. } => {}
            Op::Elect { d, p, .. } => {
                // the leader: the lowest lane of the member mask (PTX ISA: "a deterministic
                // fashion"; assumed to be the lowest, as on the GPUs seen)
                let leader = lanes[0];
                for &l in lanes {
                    let t = base + l as usize;
                    self.wr(t, *d, leader as u64);
                    self.wr(t, *p, (l == leader) as u64);
                }
            }
            Op::Shfl {
                mode,
                d,
                p,
                a,
                b,
                c,
                ..
            } => {
                let mut vals = [0u64; 32];
                for &l in lanes {
                    vals[l as usize] = self.rd(base + l as usize, *a) & 0xffff_ffff;
                }
                let mut out = [(0usize, 0u64, false); 32];
                let mut no = 0;
                for &l in lanes {
                    let t = base + l as usize;
                    let bval = (self.rd(t, *b) & 0x1f) as i32;
                    let cval = self.rd(t, *c) as u32;
                    let segmask = ((cval >> 8) & 0x1f) as i32;
                    let clamp = (cval & 0x1f) as i32;
                    let li = l as i32;
                    let max_lane = (li & segmask) | (clamp & !segmask);
                    let min_lane = li & segmask;
                    let (j, pval) = match mode {
                        ShflMode::Up => (li - bval, li - bval >= max_lane),
                        ShflMode::Down => (li + bval, li + bval <= max_lane),
                        ShflMode::Bfly => (li ^ bval, (li ^ bval) <= max_lane),
                        ShflMode::Idx => {
                            let j = min_lane | (bval & !segmask);
                            (j, j <= max_lane)
                        }
                    };
                    let j = if pval { j } else { li };
                    let n_exist = self.warp_lanes(base / 32).1 as i32;
                    let v = if j >= n_exist || j < 0 {
                        vals[l as usize]
                    } else if need & (1 << j) == 0 {
                        return Err(self.error_at(
                            t,
                            pc,
                            Fault::new(ErrorKind::PartialCollective(format!(
                                "lane {l} reads lane {j}, which is not in the member mask {need:#010x}"
                            ))),
                        ));
                    } else {
                        vals[j as usize]
                    };
                    out[no] = (t, v, pval);
                    no += 1;
                }
                for &(t, v, pv) in &out[..no] {
                    self.wr(t, *d, v);
                    if let Some(p) = p {
                        self.wr(t, *p, pv as u64);
                    }
                }
            }
            Op::Vote {
                mode, d, a, neg, ..
            } => {
                let mut ballot = 0u32;
                for &l in lanes {
                    let v = (self.rd(base + l as usize, *a) & 1 == 1) != *neg;
                    if v {
                        ballot |= 1 << l;
                    }
                }
                let r = match mode {
                    VoteMode::Ballot => ballot as u64,
                    VoteMode::All => (ballot == need) as u64,
                    VoteMode::Any => (ballot != 0) as u64,
                    VoteMode::Uni => (ballot == need || ballot == 0) as u64,
                };
                for &l in lanes {
                    self.wr(base + l as usize, *d, r);
                }
            }
            Op::Redux { op, ty, d, a, .. } => {
                let vals: Vec<u32> = lanes
                    .iter()
                    .map(|&l| self.rd(base + l as usize, *a) as u32)
                    .collect();
                let s = ty.signed();
                let r = vals.iter().skip(1).fold(vals[0], |acc, &v| match op {
                    ReduxOp::Add => acc.wrapping_add(v),
                    ReduxOp::And => acc & v,
                    ReduxOp::Or => acc | v,
                    ReduxOp::Xor => acc ^ v,
                    ReduxOp::Min => {
                        if s {
                            (acc as i32).min(v as i32) as u32
                        } else {
                            acc.min(v)
                        }
                    }
                    ReduxOp::Max => {
                        if s {
                            (acc as i32).max(v as i32) as u32
                        } else {
                            acc.max(v)
                        }
                    }
                });
                for &l in lanes {
                    self.wr(base + l as usize, *d, r as u64);
                }
            }
            Op::MatchAny { ty, d, a, .. } => {
                let m = ty.mask();
                let vals: Vec<u64> = lanes
                    .iter()
                    .map(|&l| self.rd(base + l as usize, *a) & m)
                    .collect();
                for (i, &l) in lanes.iter().enumerate() {
                    let mut r = 0u32;
                    for (k, &lk) in lanes.iter().enumerate() {
                        if vals[k] == vals[i] {
                            r |= 1 << lk;
                        }
                    }
                    self.wr(base + l as usize, *d, r as u64);
                }
            }
            Op::MatchAll { ty, d, p, a, .. } => {
                let m = ty.mask();
                let vals: Vec<u64> = lanes
                    .iter()
                    .map(|&l| self.rd(base + l as usize, *a) & m)
                    .collect();
                let same = vals.iter().all(|v| *v == vals[0]);
                for &l in lanes {
                    let t = base + l as usize;
                    self.wr(t, *d, if same { need as u64 } else { 0 });
                    if let Some(p) = p {
                        self.wr(t, *p, same as u64);
                    }
                }
            }
            Op::Ldmatrix {
                num,
                trans,
                d,
                addr,
                space,
            } => {
                // rows[m][r] = 8 halves of row r of matrix m
                let mut rows = [[[0u16; 8]; 8]; 4];
                self.acc.clear();
                for m in 0..*num as usize {
                    for r in 0..8 {
                        let l = (m * 8 + r) as u32;
                        let t = base + l as usize;
                        let a = self.addr_value(t, addr);
                        let loc = self.matrix_row(t, pc, *space, a)?;
                        let mut buf = [0u8; 16];
                        self.read_bytes(t, loc, a, &mut buf)
                            .map_err(|f| self.error_at(t, pc, f))?;
                        if let Loc::Shared(off) = loc {
                            self.acc.push((l, off, 16));
                        }
                        for c in 0..8 {
                            rows[m][r][c] = u16::from_le_bytes([buf[2 * c], buf[2 * c + 1]]);
                        }
                    }
                }
                self.acc_kind = AccKind::Shared;
                self.account_access();
                for l in 0..32usize {
                    if need & (1 << l) == 0 {
                        continue;
                    }
                    let t = base + l;
                    let (g, q) = (l / 4, l % 4);
                    for m in 0..*num as usize {
                        let (lo, hi) = if *trans {
                            (rows[m][2 * q][g], rows[m][2 * q + 1][g])
                        } else {
                            (rows[m][g][2 * q], rows[m][g][2 * q + 1])
                        };
                        self.wr(t, d[m], lo as u64 | ((hi as u64) << 16));
                    }
                }
            }
            Op::Stmatrix {
                num,
                trans,
                s,
                addr,
                space,
            } => {
                let mut rows = [[[0u16; 8]; 8]; 4];
                for l in 0..32usize {
                    if need & (1 << l) == 0 {
                        continue;
                    }
                    let t = base + l;
                    let (g, q) = (l / 4, l % 4);
                    for m in 0..*num as usize {
                        let v = self.rd(t, s[m]);
                        let (lo, hi) = (v as u16, (v >> 16) as u16);
                        if *trans {
                            rows[m][2 * q][g] = lo;
                            rows[m][2 * q + 1][g] = hi;
                        } else {
                            rows[m][g][2 * q] = lo;
                            rows[m][g][2 * q + 1] = hi;
                        }
                    }
                }
                self.acc.clear();
                for m in 0..*num as usize {
                    for r in 0..8 {
                        let l = (m * 8 + r) as u32;
                        let t = base + l as usize;
                        let a = self.addr_value(t, addr);
                        let loc = self.matrix_row(t, pc, *space, a)?;
                        let mut buf = [0u8; 16];
                        for c in 0..8 {
                            buf[2 * c..2 * c + 2].copy_from_slice(&rows[m][r][c].to_le_bytes());
                        }
                        self.write_bytes(t, loc, a, &buf)
                            .map_err(|f| self.error_at(t, pc, f))?;
                        if let Loc::Shared(off) = loc {
                            self.acc.push((l, off, 16));
                        }
                    }
                }
                self.acc_kind = AccKind::Shared;
                self.account_access();
            }
            Op::Mma { .. } | Op::MmaSp { .. } => self.exec_mma(w, pc, inst)?,
            _ => {
                return Err(self.error_at(
                    first,
                    pc,
                    Fault::unsupported(format!("`{}` as a collective", inst.text)),
                ))
            }
        }
        Ok(())
    }

    /// Resolve and check one 16-byte ldmatrix/stmatrix row address.
    fn matrix_row(&self, t: usize, pc: u32, space: Space, a: u64) -> Result<Loc, SimError> {
        self.check_align(space, a, 16, 16)
            .map_err(|f| self.error_at(t, pc, f))?;
        let loc = self.resolve(space, a);
        if !matches!(loc, Loc::Shared(_)) {
            return Err(self.error_at(
                t,
                pc,
                Fault::at(
                    ErrorKind::InvalidOperand(
                        "ldmatrix/stmatrix address is not in shared memory".into(),
                    ),
                    a,
                ),
            ));
        }
        Ok(loc)
    }
}
