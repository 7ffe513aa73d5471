//! Memory: address resolution and cvta, bounds/alignment checks, loads, stores, atomics, cp.async.

use super::alu::{fget, ibin};
use super::{unsupported, AccKind, CpCopy, Cta};
use crate::error::{ErrorKind, FResult, Fault};
use crate::ir::*;
use crate::memory::{CONST_WIN, LOCAL_WIN, PARAM_WIN, SHARED_WIN, WIN_SIZE};

/// A resolved location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    Global(u64),
    Shared(u64),
    Local(u64),
    KParam(u64),
    Const(u64),
}

fn in_win(a: u64, w: u64) -> bool {
    a >= w && a < w + WIN_SIZE
}

impl Cta<'_> {
    pub(crate) fn addr_value(&self, t: usize, a: &Addr) -> u64 {
        match *a {
            Addr::Reg(r, off) => self.regs[r as usize * self.nthreads + t].wrapping_add(off as u64),
            Addr::Sym(s, off) => self.sym_value(t, s).wrapping_add(off as u64),
            Addr::Abs(v) => v,
        }
    }

    pub(crate) fn resolve(&self, space: Space, a: u64) -> Loc {
        match space {
            Space::Global => Loc::Global(a),
            Space::Shared => Loc::Shared(self.cta_shared(a)),
            Space::SharedCluster => Loc::Shared(self.cluster_shared(a)),
            Space::Local => Loc::Local(a),
            Space::Const => Loc::Const(a),
            Space::Param => {
                if in_win(a, PARAM_WIN) {
                    Loc::KParam(a - PARAM_WIN)
                } else {
                    Loc::Local(a)
                }
            }
            Space::Generic => {
                if in_win(a, SHARED_WIN) {
                    Loc::Shared(self.cluster_shared(a - SHARED_WIN))
                } else if in_win(a, LOCAL_WIN) {
                    Loc::Local(a - LOCAL_WIN)
                } else if in_win(a, PARAM_WIN) {
                    Loc::KParam(a - PARAM_WIN)
                } else if in_win(a, CONST_WIN) {
                    Loc::Const(a - CONST_WIN)
                } else {
                    Loc::Global(a)
                }
            }
        }
    }

    fn oob(&self, space: &'static str, addr: u64, size: u32, detail: String) -> Box<Fault> {
        Fault::at(
            ErrorKind::OutOfBounds {
                space,
                size,
                detail,
            },
            addr,
        )
    }

    /// Read `out.len()` bytes. `gaddr` is the address as the program saw it (for errors).
    pub(crate) fn read_bytes(
        &mut self,
        t: usize,
        loc: Loc,
        gaddr: u64,
        out: &mut [u8],
    ) -> FResult<()> {
        let n = out.len() as u64;
        match loc {
            Loc::Global(a) => match self.mem.load(a, out) {
                true => self.stats.global_bytes_read += n,
                false => {
                    let d = self.mem.describe(a, n);
                    return Err(self.oob("global", gaddr, n as u32, d));
                }
            },
            Loc::Shared(a) => {
                if !self.shared_fits(a, n) {
                    return Err(self.oob("shared", gaddr, n as u32, self.shared_oob_detail(a, "")));
                }
                self.remote_check(a, gaddr)?;
                self.shadow_read(t, a, n, gaddr)?;
                out.copy_from_slice(&self.shared[a as usize..(a + n) as usize]);
                self.stats.shared_bytes_read += n;
            }
            Loc::Local(a) => {
                let l = &self.local[t];
                if a.saturating_add(n) > l.len() as u64 {
                    return Err(self.oob(
                        "local",
                        gaddr,
                        n as u32,
                        format!(
                            " (offset {a:#x}; the thread's local frame is {} bytes)",
                            l.len()
                        ),
                    ));
                }
                out.copy_from_slice(&l[a as usize..(a + n) as usize]);
            }
            Loc::KParam(a) => {
                let p = self.p.params;
                if a.saturating_add(n) > p.len() as u64 {
                    return Err(self.oob(
                        "param",
                        gaddr,
                        n as u32,
                        format!(" (param buffer is {} bytes)", p.len()),
                    ));
                }
                out.copy_from_slice(&p[a as usize..(a + n) as usize]);
            }
            Loc::Const(a) => {
                let c = &self.p.prog.const_bank;
                if a.saturating_add(n) > c.len() as u64 {
                    return Err(self.oob(
                        "const",
                        gaddr,
                        n as u32,
                        format!(" (const bank is {} bytes)", c.len()),
                    ));
                }
                out.copy_from_slice(&c[a as usize..(a + n) as usize]);
            }
        }
        Ok(())
    }

    pub(crate) fn write_bytes(
        &mut self,
        t: usize,
        loc: Loc,
        gaddr: u64,
        data: &[u8],
    ) -> FResult<()> {
        let n = data.len() as u64;
        match loc {
            Loc::Global(a) => match self.mem.store(a, data) {
                true => self.stats.global_bytes_written += n,
                false => {
                    let d = self.mem.describe(a, n);
                    return Err(self.oob("global", gaddr, n as u32, d));
                }
            },
            Loc::Shared(a) => {
                if !self.shared_fits(a, n) {
                    return Err(self.oob("shared", gaddr, n as u32, self.shared_oob_detail(a, "")));
                }
                self.remote_check(a, gaddr)?;
                self.shadow_write(t, a, n, gaddr)?;
                self.shared[a as usize..(a + n) as usize].copy_from_slice(data);
                self.stats.shared_bytes_written += n;
            }
            Loc::Local(a) => {
                let len = self.local[t].len() as u64;
                if a.saturating_add(n) > len {
                    return Err(self.oob(
                        "local",
                        gaddr,
                        n as u32,
                        format!(" (offset {a:#x}; the thread's local frame is {len} bytes)"),
                    ));
                }
                self.local[t][a as usize..(a + n) as usize].copy_from_slice(data);
            }
            Loc::KParam(_) => {
                return Err(Fault::at(
                    ErrorKind::InvalidOperand("store to a kernel parameter".into()),
                    gaddr,
                ))
            }
            Loc::Const(_) => {
                return Err(Fault::at(
                    ErrorKind::InvalidOperand("store to the const space".into()),
                    gaddr,
                ))
            }
        }
        Ok(())
    }

    pub(crate) fn check_align(
        &self,
        space: Space,
        addr: u64,
        size: u32,
        align: u32,
    ) -> FResult<()> {
        if align > 1 && !addr.is_multiple_of(align as u64) {
            return Err(Fault::at(
                ErrorKind::Misaligned {
                    space: space.name(),
                    size,
                    align,
                },
                addr,
            ));
        }
        Ok(())
    }

    fn note_access(&mut self, lane: u32, loc: Loc, size: u32) {
        match loc {
            Loc::Global(a) => {
                self.acc_kind = AccKind::Global;
                self.acc.push((lane, a, size));
            }
            Loc::Shared(a) => {
                self.acc_kind = AccKind::Shared;
                self.acc.push((lane, a, size));
            }
            _ => {}
        }
    }

    pub(crate) fn exec_mem(&mut self, inst: &Inst, t: usize, lane: u32) -> FResult<()> {
        match &inst.op {
            Op::Ld { space, ty, d, addr } => {
                let eb = ty.bytes();
                if eb > 8 {
                    return unsupported("128-bit load");
                }
                let total = eb * d.len() as u32;
                let a = self.addr_value(t, addr);
                self.check_align(*space, a, total, total)?;
                let loc = self.resolve(*space, a);
                let mut buf = [0u8; 64];
                self.read_bytes(t, loc, a, &mut buf[..total as usize])?;
                self.note_access(lane, loc, total);
                for (i, r) in d.iter().enumerate() {
                    let mut b8 = [0u8; 8];
                    b8[..eb as usize].copy_from_slice(&buf[i * eb as usize..(i + 1) * eb as usize]);
                    let mut v = u64::from_le_bytes(b8);
                    if ty.signed() && eb < 8 {
                        let sh = 64 - 8 * eb;
                        v = (((v << sh) as i64) >> sh) as u64;
                    }
                    self.wr(t, *r, v);
                }
            }
            Op::St { space, ty, s, addr } => {
                let eb = ty.bytes();
                if eb > 8 {
                    return unsupported("128-bit store");
                }
                let total = eb * s.len() as u32;
                let a = self.addr_value(t, addr);
                self.check_align(*space, a, total, total)?;
                let loc = self.resolve(*space, a);
                let mut buf = [0u8; 64];
                for (i, x) in s.iter().enumerate() {
                    let v = self.rd(t, *x).to_le_bytes();
                    buf[i * eb as usize..(i + 1) * eb as usize].copy_from_slice(&v[..eb as usize]);
                }
                self.write_bytes(t, loc, a, &buf[..total as usize])?;
                self.note_access(lane, loc, total);
            }
            Op::Atom {
                space,
                op,
                ty,
                d,
                addr,
                a,
                b,
            } => {
                let eb = ty.bytes();
                if eb != 4 && eb != 8 {
                    return unsupported(&format!("`{}` on a {}-byte type", inst.text, eb));
                }
                let ad = self.addr_value(t, addr);
                self.check_align(*space, ad, eb, eb)?;
                let loc = self.resolve(*space, ad);
                if !matches!(loc, Loc::Global(_) | Loc::Shared(_)) {
                    return Err(Fault::at(
                        ErrorKind::InvalidOperand(
                            "atomic on a space other than global or shared".into(),
                        ),
                        ad,
                    ));
                }
                let mut b8 = [0u8; 8];
                // global atomics are serialised across the CTAs running on other host threads
                let mem = self.mem;
                let _guard = matches!(loc, Loc::Global(_)).then(|| mem.lock_atomics());
                self.in_atomic = true;
                let r = self.read_bytes(t, loc, ad, &mut b8[..eb as usize]);
                self.in_atomic = false;
                r?;
                let old = u64::from_le_bytes(b8);
                let x = self.rd(t, *a);
                let y = self.rd(t, *b);
                let m = ty.mask();
                let new = match (op, ty) {
                    (AtomOp::Add, Ty::F32) => {
                        let r = super::float::ftz32(
                            super::float::ftz32(f32::from_bits(old as u32))
                                + super::float::ftz32(f32::from_bits(x as u32)),
                        );
                        r.to_bits() as u64
                    }
                    (AtomOp::Add, Ty::F64) => (f64::from_bits(old) + f64::from_bits(x)).to_bits(),
                    (AtomOp::Min | AtomOp::Max, Ty::F32 | Ty::F64) => {
                        let (o, v) = (fget(*ty, old), fget(*ty, x));
                        let r = if (*op == AtomOp::Min) == (v < o) {
                            v
                        } else {
                            o
                        };
                        if *ty == Ty::F32 {
                            (r as f32).to_bits() as u64
                        } else {
                            r.to_bits()
                        }
                    }
                    (AtomOp::Add, _) => ibin(IBin::Add, *ty, false, old, x),
                    (AtomOp::Min, _) => ibin(IBin::Min, *ty, false, old, x),
                    (AtomOp::Max, _) => ibin(IBin::Max, *ty, false, old, x),
                    (AtomOp::And, _) => old & x & m,
                    (AtomOp::Or, _) => (old | x) & m,
                    (AtomOp::Xor, _) => (old ^ x) & m,
                    (AtomOp::Exch, _) => x & m,
                    (AtomOp::Cas, _) => {
                        if old & m == x & m {
                            y & m
                        } else {
                            old
                        }
                    }
                    (AtomOp::Inc, _) => {
                        if old & m >= x & m {
                            0
                        } else {
                            (old + 1) & m
                        }
                    }
                    (AtomOp::Dec, _) => {
                        if old & m == 0 || old & m > x & m {
                            x & m
                        } else {
                            (old - 1) & m
                        }
                    }
                };
                self.in_atomic = true;
                let r = self.write_bytes(t, loc, ad, &new.to_le_bytes()[..eb as usize]);
                self.in_atomic = false;
                r?;
                self.note_access(lane, loc, eb);
                if let Some(d) = d {
                    let v = if ty.signed() && eb == 4 {
                        old as u32 as i32 as i64 as u64
                    } else {
                        old
                    };
                    self.wr(t, *d, v);
                }
            }
            Op::CpAsync {
                dst,
                src,
                size,
                src_size,
                ..
            } => {
                let da = self.addr_value(t, dst);
                let sa = self.addr_value(t, src);
                self.check_align(Space::Shared, da, *size, *size)?;
                self.check_align(Space::Global, sa, *size, *size)?;
                let n = match src_size {
                    Some(s) => (self.rd(t, *s) as u32).min(*size),
                    None => *size,
                };
                let dl = self.resolve(Space::Shared, da);
                let Loc::Shared(doff) = dl else {
                    return unsupported("cp.async destination");
                };
                if !self.shared_fits(doff, *size as u64) {
                    return Err(self.oob(
                        "shared",
                        da,
                        *size,
                        self.shared_oob_detail(doff, "cp.async destination "),
                    ));
                }
                let mut data = [0u8; 16];
                if n > 0 {
                    self.read_bytes(t, Loc::Global(sa), sa, &mut data[..n as usize])?;
                }
                self.shadow_pending(t, doff, *size as u64, da)?;
                self.note_access(lane, Loc::Global(sa), n.max(1));
                self.stats.shared_bytes_written += *size as u64;
                self.cp[t].open.push(CpCopy {
                    dst: doff as u32,
                    data,
                    len: *size as u8,
                });
            }
            Op::CpCommit => {
                let open = std::mem::take(&mut self.cp[t].open);
                self.cp[t].groups.push_back(open);
            }
            Op::CpWait { n } => {
                if inst.text.contains("wait_all") {
                    let open = std::mem::take(&mut self.cp[t].open);
                    self.cp[t].groups.push_back(open);
                }
                self.flush_cp(t, *n as usize);
            }
            Op::Cvta {
                to,
                space,
                d,
                a,
                wide,
            } => {
                let x = self.rd(t, *a);
                let win = match space {
                    Space::Shared | Space::SharedCluster => SHARED_WIN,
                    Space::Local => LOCAL_WIN,
                    Space::Const => CONST_WIN,
                    Space::Param => {
                        let _ = PARAM_WIN;
                        0
                    }
                    _ => 0,
                };
                let mut v = if *to {
                    x.wrapping_sub(win)
                } else {
                    x.wrapping_add(win)
                };
                if !wide {
                    v &= 0xffff_ffff;
                }
                self.wr(t, *d, v);
            }
            _ => return unsupported(&inst.text),
        }
        Ok(())
    }
}
