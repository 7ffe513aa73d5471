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
                if n == 0 || n % 16 != 0 {
                    return Err(bulk_err(
                        da,
                        format!("cp.async.bulk size {n} (must be a positive multiple of 16)"),
                    ));
                }
                self.check_align(Space::Shared, da, n as u32, 16)?;
                self.check_align(Space::Global, sa, n as u32, 16)?;
                let mut buf = vec![0u8; n as usize];
                match mbar {
                    Some(mb) => {
                        // global to shared, completing on an mbarrier
                        let (ma, moff) = self.mbar_offset(t, Space::Shared, mb)?;
                        let off = self.shared_range(da, n, "cp.async.bulk destination")?;
                        self.read_bytes(t, Loc::Global(sa), sa, &mut buf)?;
                        // an uninitialised barrier is reported before any byte moves
                        self.mbar(moff, ma, "cp.async.bulk .mbarrier::complete_tx::bytes")?;
                        self.shadow_check_write(t, off as u64, n, da)?;
                        self.shadow_record_write(t, off as u64, n);
                        let pc = self.pc[t];
                        for x in off..off + n as u32 {
                            let s = &mut self.shadow[x as usize];
                            s.bulk = BULK_IN_FLIGHT;
                            s.bulk_bar = moff;
                            s.bulk_pc = pc;
                            s.clear_writer();
                        }
                        self.shared[off as usize..(off as u64 + n) as usize].copy_from_slice(&buf);
                        self.stats.shared_bytes_written += n;
                        self.stats.bulk_bytes += n;
                        self.mbar_deliver(moff, ma, off, n as u32)?;
                    }
                    None => {
                        // shared to global, in a bulk group
                        let off = self.shared_range(sa, n, "cp.async.bulk source")?;
                        self.read_bytes(t, Loc::Shared(off as u64), sa, &mut buf)?;
                        self.write_bytes(t, Loc::Global(da), da, &buf)?;
                        let pc = self.pc[t];
                        for x in off..off + n as u32 {
                            let s = &mut self.shadow[x as usize];
                            s.bsrc = t as u16 + 1;
                            s.bulk_pc = pc;
                        }
                        self.bulk[t].open.push((off, n as u32));
                        self.stats.bulk_bytes += n;
                    }
                }
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
