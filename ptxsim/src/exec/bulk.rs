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
                        let (ma, moff) = self.mbar_offset(t, Space::Shared, mb)?;
                        // bounded by the shared window before the buffer is allocated
                        let off = self.shared_range(da, n, "cp.async.bulk destination")?;
                        let mut buf = vec![0u8; n as usize];
                        self.read_bytes(t, Loc::Global(sa), sa, &mut buf)?;
                        // an uninitialised barrier is reported before any byte moves
                        self.mbar(moff, ma, "cp.async.bulk .mbarrier::complete_tx::bytes")?;
                        self.land(t, off, &buf, moff, da)?;
                        self.stats.bulk_bytes += n;
                        self.mbar_deliver(moff, ma, vec![(off, n as u32)], n)?;
                    }
                    None => {
                        // shared to global, in a bulk group
                        let off = self.shared_range(sa, n, "cp.async.bulk source")?;
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
            } => self.bulk_tensor(t, smem, tmap, coords, mbar.as_ref())?,
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

    /// cp.async.bulk.tensor in tile mode: the box at `coords` between the tensor and the
    /// shared address `smem` (swizzled as the map says); a load when `mbar` is given.
    fn bulk_tensor(
        &mut self,
        t: usize,
        smem: &Addr,
        tmap: &Addr,
        coords: &[Src],
        mbar: Option<&Addr>,
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
        let base = self.shared_range(sa, span, what)? as u64;
        let start: Vec<i64> = coords
            .iter()
            .map(|c| self.rd(t, *c) as u32 as i32 as i64)
            .collect();
        let load = match mbar {
            Some(mb) => {
                let (ma, moff) = self.mbar_offset(t, Space::Shared, mb)?;
                self.mbar(
                    moff,
                    ma,
                    "cp.async.bulk.tensor .mbarrier::complete_tx::bytes",
                )?;
                Some((ma, moff))
            }
            None => None,
        };
        let fill = map.fill().to_le_bytes();
        let mut pieces = Vec::new();
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
            let soff = map.swizzle.apply(base + lin * es) as u32;
            let mut buf = [0u8; 8];
            let e = &mut buf[..es as usize];
            match load {
                Some((_, moff)) => {
                    if inb {
                        self.read_bytes(t, Loc::Global(g), g, e)?;
                    } else {
                        e.copy_from_slice(&fill[..es as usize]);
                    }
                    self.land(t, soff, e, moff, sa)?;
                    pieces.push((soff, es as u32));
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
            Some((ma, moff)) => {
                self.stats.bulk_bytes += bytes;
                self.mbar_deliver(moff, ma, pieces, bytes)
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

    /// The shared offset of `n` bytes at the shared-window address or offset `a`.
    fn shared_range(&self, a: u64, n: u64, what: &str) -> FResult<u32> {
        let Loc::Shared(off) = self.resolve(Space::Shared, a) else {
            return super::unsupported(what);
        };
        if off.saturating_add(n) > self.shared.len() as u64 {
            return Err(Fault::at(
                ErrorKind::OutOfBounds {
                    space: "shared",
                    size: n as u32,
                    detail: format!(
                        " ({what} at offset {off:#x}; the CTA's shared window is {} bytes)",
                        self.shared.len()
                    ),
                },
                a,
            ));
        }
        Ok(off as u32)
    }
}
