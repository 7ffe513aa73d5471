//! 1-D bulk copies (`cp.async.bulk`, PTX ISA "Data Movement: cp.async.bulk") and their
//! bulk groups.
//!
//! Model: a copy moves its bytes when it is issued. What makes it asynchronous is the
//! shadow state: a global-to-shared copy's destination bytes stay "in flight" until the
//! mbarrier phase it completes on (`.mbarrier::complete_tx::bytes`) has completed, and then
//! are readable only by threads that saw that phase complete (shadow.rs, mbarrier.rs); a
//! shared-to-global store's source bytes may not be written until the thread's
//! `cp.async.bulk.wait_group.read` retires its group. The ISA's operand rules are checked:
//! size a positive multiple of 16, both addresses 16-byte aligned.

use std::collections::VecDeque;

use super::mem::Loc;
use super::shadow::BULK_IN_FLIGHT;
use super::Cta;
use crate::error::{ErrorKind, FResult, Fault};
use crate::ir::*;
use crate::tensormap::{Swizzle, TensorMap, TENSOR_MAP_BYTES};

/// A thread's bulk stores: source ranges (shared offset, bytes) not yet committed, and the
/// committed groups, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct BulkGroups {
    open: Vec<(u32, u32)>,
    groups: VecDeque<Vec<(u32, u32)>>,
}

/// Where a tensor load lands: the base of a CTA's shared window, the offset of the barrier
/// it completes on, and the (offset, bytes) pieces landed there.
type Dest = (u64, u32, Vec<(u32, u32)>);

fn bulk_err(addr: u64, msg: String) -> Box<Fault> {
    Fault::at(ErrorKind::BulkAsync(msg), addr)
}

impl Cta<'_> {
    /// cp.async.bulk, commit_group and wait_group of thread t.
    pub(crate) fn exec_bulk(&mut self, inst: &Inst, t: usize) -> FResult<()> {
        match &inst.op {
            Op::BulkCopy {
                dst,
                src,
                size,
                mbar,
                multicast,
            } => {
                let da = self.addr_value(t, dst);
                let sa = self.addr_value(t, src);
                let n = self.rd(t, *size) & 0xffff_ffff;
                if n == 0 || !n.is_multiple_of(16) {
                    return Err(bulk_err(
                        da,
                        format!("cp.async.bulk size {n} (must be a positive multiple of 16)"),
                    ));
                }
                let (dspace, sspace) = match mbar {
                    Some(_) => (Space::Shared, Space::Global),
                    None => (Space::Global, Space::Shared),
                };
                self.check_align(dspace, da, n as u32, 16)?;
                self.check_align(sspace, sa, n as u32, 16)?;
                match mbar {
                    Some(mb) => {
                        // global to shared, completing on an mbarrier
                        let (ma, moff) = self.mbar_offset(t, Space::SharedCluster, mb)?;
                        // bounded by the shared window before the buffer is allocated
                        let off = self.shared_range(
                            Space::SharedCluster,
                            da,
                            n,
                            "cp.async.bulk destination",
                        )?;
                        let mut buf = vec![0u8; n as usize];
                        self.read_bytes(t, Loc::Global(sa), sa, &mut buf)?;
                        // an uninitialised barrier is reported before any byte moves
                        self.mbar(moff, ma, "cp.async.bulk .mbarrier::complete_tx::bytes")?;
                        // the same offsets of each CTA a multicast names, else the one given
                        let win = self.win.max(1);
                        let dests: Vec<(u32, u32)> = match multicast {
                            Some(m) => self
                                .multicast_ranks(t, *m, da)?
                                .into_iter()
                                .map(|r| {
                                    let b = r as u64 * win;
                                    (
                                        (b + off as u64 % win) as u32,
                                        (b + moff as u64 % win) as u32,
                                    )
                                })
                                .collect(),
                            None => vec![(off, moff)],
                        };
                        for &(o, mb) in &dests {
                            self.mbar(mb, ma, "cp.async.bulk .mbarrier::complete_tx::bytes")?;
                            self.remote_check(o as u64, da)?;
                        }
                        for (o, mb) in dests {
                            self.land(t, o, &buf, mb, da)?;
                            self.stats.bulk_bytes += n;
                            self.mbar_note_remote(t, mb);
                            self.mbar_deliver(mb, ma, vec![(o, n as u32)], n)?;
                        }
                    }
                    None => {
                        // shared to global, in a bulk group
                        let off =
                            self.shared_range(Space::Shared, sa, n, "cp.async.bulk source")?;
                        let mut buf = vec![0u8; n as usize];
                        self.async_read(t, off, sa, &mut buf)?;
                        self.write_bytes(t, Loc::Global(da), da, &buf)?;
                        self.mark_source(t, off, n as u32);
                        self.stats.bulk_bytes += n;
                    }
                }
            }
            Op::BulkTensor {
                smem,
                tmap,
                coords,
                mbar,
                multicast,
            } => {
                let ranks = match multicast {
                    Some(m) => self.multicast_ranks(t, *m, self.addr_value(t, smem))?,
                    None => Vec::new(),
                };
                self.bulk_tensor(t, smem, tmap, coords, mbar.as_ref(), &ranks)?
            }
            Op::BulkCommit => {
                let open = std::mem::take(&mut self.bulk[t].open);
                self.bulk[t].groups.push_back(open);
            }
            Op::BulkWait { n, .. } => self.retire_bulk(t, *n as usize),
            _ => return super::unsupported(&inst.text),
        }
        Ok(())
    }

    /// Write `data` at shared offset `off` as the async proxy: checked like a write of
    /// thread t, then in flight on the barrier at `moff` until its phase completes.
    fn land(&mut self, t: usize, off: u32, data: &[u8], moff: u32, gaddr: u64) -> FResult<()> {
        let n = data.len() as u64;
        self.shadow_check_write(t, off as u64, n, gaddr)?;
        self.shadow_record_write(t, off as u64, n);
        let pc = self.pc[t];
        for x in off..off + n as u32 {
            let s = &mut self.shadow[x as usize];
            s.bulk = BULK_IN_FLIGHT;
            s.bulk_bar = moff;
            s.bulk_pc = pc;
            s.clear_writer();
        }
        self.shared[off as usize..off as usize + n as usize].copy_from_slice(data);
        self.stats.shared_bytes_written += n;
        Ok(())
    }

    /// A bulk store's read of shared bytes at `off` (checked as the async proxy's).
    fn async_read(&mut self, t: usize, off: u32, gaddr: u64, out: &mut [u8]) -> FResult<()> {
        self.async_reader = Some("a bulk store");
        let r = self.read_bytes(t, Loc::Shared(off as u64), gaddr, out);
        self.async_reader = None;
        r
    }

    /// Shared bytes [off, off + n) are the source of a bulk store of thread t.
    fn mark_source(&mut self, t: usize, off: u32, n: u32) {
        let pc = self.pc[t];
        for x in off..off + n {
            let s = &mut self.shadow[x as usize];
            s.bsrc = t as u16 + 1;
            s.bulk_pc = pc;
        }
        self.bulk[t].open.push((off, n));
    }

    /// The tensor map at the address `a` (a `__grid_constant__` parameter or global
    /// memory), in ptxsim's encoding.
    fn tensor_map(&mut self, t: usize, a: &Addr) -> FResult<TensorMap> {
        let ga = self.addr_value(t, a);
        self.check_align(Space::Generic, ga, TENSOR_MAP_BYTES as u32, 64)?;
        let loc = self.resolve(Space::Generic, ga);
        let mut b = [0u8; TENSOR_MAP_BYTES];
        self.read_bytes(t, loc, ga, &mut b)?;
        TensorMap::decode(&b).map_err(|e| {
            Fault::at(
                ErrorKind::InvalidOperand(format!("the tensor map at {ga:#x}: {e}")),
                ga,
            )
        })
    }

    /// The CTA ranks of a multicast's 16-bit CTA mask (each must exist in the cluster).
    fn multicast_ranks(&self, t: usize, m: Src, sa: u64) -> FResult<Vec<usize>> {
        let mask = self.rd(t, m) & 0xffff;
        if mask == 0 || mask >> self.ncta != 0 {
            return Err(bulk_err(
                sa,
                format!(
                    "multicast CTA mask {mask:#06x} (must name at least one CTA, and only ranks below the cluster's {} CTAs)",
                    self.ncta
                ),
            ));
        }
        Ok((0..self.ncta).filter(|r| mask >> r & 1 != 0).collect())
    }

    /// cp.async.bulk.tensor in tile mode: the box at `coords` between the tensor and the
    /// shared address `smem` (swizzled as the map says); a load when `mbar` is given, into
    /// the same offsets (and completing on the same barrier offset) of the CTAs of rank
    /// `multicast` when that is not empty.
    fn bulk_tensor(
        &mut self,
        t: usize,
        smem: &Addr,
        tmap: &Addr,
        coords: &[Src],
        mbar: Option<&Addr>,
        multicast: &[usize],
    ) -> FResult<()> {
        let map = self.tensor_map(t, tmap)?;
        let sa = self.addr_value(t, smem);
        if coords.len() != map.rank() {
            return Err(Fault::at(
                ErrorKind::InvalidOperand(format!(
                    "a {}-d tensor copy with a tensor map of rank {}",
                    coords.len(),
                    map.rank()
                )),
                sa,
            ));
        }
        let es = map.dtype.bytes() as u64;
        let counts = map.box_counts();
        let total: u64 = counts.iter().product();
        let bytes = total * es;
        // 128-byte aligned shared address; a swizzled box: aligned to the pattern's repeat
        let align = map.swizzle.repeat().max(128);
        self.check_align(Space::Shared, sa, bytes as u32, align as u32)?;
        let what = "cp.async.bulk.tensor shared memory";
        // a swizzle permutes 16-byte chunks within whole 128-byte lines
        let span = if map.swizzle == Swizzle::None {
            bytes
        } else {
            bytes.next_multiple_of(128)
        };
        let space = if mbar.is_some() {
            Space::SharedCluster
        } else {
            Space::Shared
        };
        let base = self.shared_range(space, sa, span, what)? as u64;
        // swizzle patterns follow the address within the CTA's window
        let win = self.win.max(1);
        let (cta_base, base) = (base / win * win, base % win);
        let start: Vec<i64> = coords
            .iter()
            .map(|c| self.rd(t, *c) as u32 as i32 as i64)
            .collect();
        let load = match mbar {
            Some(mb) => {
                let (ma, moff) = self.mbar_offset(t, Space::SharedCluster, mb)?;
                self.mbar(
                    moff,
                    ma,
                    "cp.async.bulk.tensor .mbarrier::complete_tx::bytes",
                )?;
                Some((ma, moff))
            }
            None => None,
        };
        // destinations: (shared base of the CTA's window, barrier offset, pieces landed)
        let mut dests: Vec<Dest> = match load {
            Some((ma, moff)) if !multicast.is_empty() => {
                let (mb_local, mut v) = (moff as u64 % win, Vec::new());
                for &r in multicast {
                    let b = r as u64 * win;
                    self.mbar(
                        b as u32 + mb_local as u32,
                        ma,
                        "cp.async.bulk.tensor multicast",
                    )?;
                    self.remote_check(b, sa)?;
                    v.push((b, (b + mb_local) as u32, Vec::new()));
                }
                v
            }
            Some((_, moff)) => vec![(cta_base, moff, Vec::new())],
            None => vec![(cta_base, 0, Vec::new())],
        };
        let fill = map.fill().to_le_bytes();
        let mut moved = 0u64;
        for lin in 0..total {
            // the element's coordinates and global address; in bounds or not
            let (mut rem, mut g, mut inb) = (lin, map.global_address as i128, true);
            for (i, &n) in counts.iter().enumerate() {
                let c = start[i] + (rem % n) as i64 * map.element_strides[i] as i64;
                rem /= n;
                inb &= c >= 0 && (c as u64) < map.dims[i];
                let stride = if i == 0 { es } else { map.strides[i - 1] };
                g += c as i128 * stride as i128;
            }
            let g = g as u64;
            let sl = map.swizzle.apply(base + lin * es);
            let soff = (cta_base + sl) as u32;
            let mut buf = [0u8; 8];
            let e = &mut buf[..es as usize];
            match load {
                Some(_) => {
                    if inb {
                        self.read_bytes(t, Loc::Global(g), g, e)?;
                    } else {
                        e.copy_from_slice(&fill[..es as usize]);
                    }
                    for (db, moff, pieces) in dests.iter_mut() {
                        let o = (*db + sl) as u32;
                        self.land(t, o, e, *moff, sa)?;
                        pieces.push((o, es as u32));
                    }
                }
                None => {
                    self.async_read(t, soff, sa, e)?;
                    if inb {
                        self.write_bytes(t, Loc::Global(g), g, e)?;
                        moved += es;
                    }
                    self.mark_source(t, soff, es as u32);
                }
            }
        }
        match load {
            Some((ma, _)) => {
                for (_, moff, pieces) in dests {
                    self.stats.bulk_bytes += bytes;
                    self.mbar_note_remote(t, moff);
                    self.mbar_deliver(moff, ma, pieces, bytes)?;
                }
                Ok(())
            }
            None => {
                self.stats.bulk_bytes += moved;
                Ok(())
            }
        }
    }

    /// Retire the oldest bulk groups of thread t until at most `keep` remain
    /// (`usize::MAX`: all, uncommitted stores included, as at thread exit).
    pub(crate) fn retire_bulk(&mut self, t: usize, keep: usize) {
        let keep = if keep == usize::MAX {
            let open = std::mem::take(&mut self.bulk[t].open);
            self.bulk[t].groups.push_back(open);
            0
        } else {
            keep
        };
        while self.bulk[t].groups.len() > keep {
            let Some(g) = self.bulk[t].groups.pop_front() else {
                break;
            };
            for (o, n) in g {
                for x in o..o + n {
                    let s = &mut self.shadow[x as usize];
                    if s.bsrc == t as u16 + 1 {
                        s.bsrc = 0;
                    }
                }
            }
        }
        // sources of the thread's younger stores that overlap the retired ones stay marked
        let b = &self.bulk[t];
        for &(o, n) in b.groups.iter().flatten().chain(b.open.iter()) {
            for x in o..o + n {
                self.shadow[x as usize].bsrc = t as u16 + 1;
            }
        }
    }

    /// The shared offset of `n` bytes at the address `a` of `space`.
    fn shared_range(&self, space: Space, a: u64, n: u64, what: &str) -> FResult<u32> {
        let Loc::Shared(off) = self.resolve(space, a) else {
            return super::unsupported(what);
        };
        if !self.shared_fits(off, n) {
            return Err(Fault::at(
                ErrorKind::OutOfBounds {
                    space: "shared",
                    size: n as u32,
                    detail: self.shared_oob_detail(off, &format!("{what} at ")),
                },
                a,
            ));
        }
        self.remote_check(off, a)?;
        Ok(off as u32)
    }
}
