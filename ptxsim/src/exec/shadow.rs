//! Shared-memory shadow state for the stage-2 checks: reads of bytes never written in this
//! CTA, races between threads with no barrier or warp-collective ordering between them, and
//! reads of bytes an in-flight cp.async will write.
//!
//! Ordering model (DESIGN.md "ptxsim memory model"): a completed CTA barrier orders the
//! accesses before it (of the threads that waited) before those after it; a completed warp
//! collective orders accesses among its member lanes; atomics do not race with atomics. The
//! check keeps the last writer and the last reader(s) of every byte, with the barrier epoch
//! and warp-collective stamp of the accessing thread at that time. It may miss races (it keeps
//! one reader, and partial barriers count as full ones) but does not report ordered accesses.

use super::Cta;
use crate::error::{ErrorKind, FResult, Fault};

const NONE: u16 = 0;
const MANY: u16 = u16::MAX;
pub(crate) const BULK_NONE: u8 = 0;
pub(crate) const BULK_IN_FLIGHT: u8 = 1;
pub(crate) const BULK_LANDED: u8 = 2;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shadow {
    init: bool,
    w_atomic: bool,
    r_atomic: bool,
    /// thread + 1 of the last writer
    w_tid: u16,
    /// thread + 1 of the last reader, or MANY
    r_tid: u16,
    /// warp of the readers (u16::MAX when mixed)
    r_warp: u16,
    /// cluster rank of the readers' CTA (u8::MAX when mixed)
    r_rank: u8,
    /// thread + 1 of a cp.async in flight that will write this byte
    pend: u16,
    /// the byte belongs to an initialised mbarrier object (plain loads and stores refused)
    pub(crate) mbar: bool,
    /// written by a cp.async.bulk: BULK_NONE, BULK_IN_FLIGHT (its mbarrier phase has not
    /// completed) or BULK_LANDED (completed at barrier epoch `bulk_epoch`)
    pub(crate) bulk: u8,
    /// thread + 1 of a cp.async.bulk store reading this byte, not yet retired by
    /// `cp.async.bulk.wait_group.read`
    pub(crate) bsrc: u16,
    /// shared offset of the mbarrier the bulk copy completes on
    pub(crate) bulk_bar: u32,
    pub(crate) bulk_epoch: u32,
    /// pc of the bulk copy (load into this byte, or store from it)
    pub(crate) bulk_pc: u32,
    /// fence.proxy.async count of the writer when it wrote (see `proxy_fences`)
    w_fences: u32,
    w_epoch: u32,
    w_ws: u32,
    w_pc: u32,
    r_epoch: u32,
    r_ws: u32,
    r_pc: u32,
    pend_pc: u32,
}

impl Shadow {
    /// Forget the writer and readers of a byte written by the async proxy (a bulk copy):
    /// its ordering is that of the copy's mbarrier phase.
    pub(crate) fn clear_writer(&mut self) {
        self.w_tid = NONE;
        self.r_tid = NONE;
    }
}

impl Cta<'_> {
    /// Whether an access of thread t1 at barrier epoch e1 (warp stamp ws1) is ordered before
    /// thread t2's current one. Threads of different CTAs of a cluster are ordered only by a
    /// cluster-scope ordering point (`cepoch`): a CTA barrier orders its own CTA's threads.
    fn ordered(&self, t1: usize, e1: u32, ws1: u32, t2: usize) -> bool {
        let e2 = if self.ncta == 1 || self.rank_of(t1) == self.rank_of(t2) {
            self.epoch[t2]
        } else {
            self.cepoch[t2]
        };
        t1 == t2 || e2 > e1 || (t1 / 32 == t2 / 32 && self.wstamp[t2] > ws1)
    }

    fn line(&self, pc: u32) -> u32 {
        self.code.get(pc as usize).map(|i| i.line).unwrap_or(0)
    }

    fn race(&self, gaddr: u64, what: String) -> Box<Fault> {
        Fault::at(ErrorKind::SharedRace(what), gaddr)
    }

    /// Check a read of shared bytes [off, off+n) by thread t.
    pub(crate) fn shadow_read(&mut self, t: usize, off: u64, n: u64, gaddr: u64) -> FResult<()> {
        let pc = self.pc[t];
        let atomic = self.in_atomic;
        for b in off..off + n {
            let s = self.shadow[b as usize];
            if s.pend != NONE {
                let issuer = s.pend as usize - 1;
                if issuer == t {
                    return Err(Fault::at(
                        ErrorKind::CpAsyncInFlight(format!(
                            "byte {b:#x} is the destination of this thread's cp.async at PTX line {}, not yet retired by cp.async.wait_group/wait_all",
                            self.line(s.pend_pc)
                        )),
                        gaddr,
                    ));
                }
                return Err(self.race(
                    gaddr,
                    format!(
                        "read of shared byte {b:#x}, which {} is writing with a cp.async (PTX line {}) still in flight",
                        self.who(issuer),
                        self.line(s.pend_pc)
                    ),
                ));
            }
            if s.mbar || s.bulk != BULK_NONE {
                self.async_check(t, b, &s, gaddr, false)?;
            }
            if !s.init {
                return Err(Fault::at(ErrorKind::UninitShared { size: n as u32 }, gaddr));
            }
            if let (Some(who), true) = (self.async_reader, s.w_tid != NONE) {
                let w = s.w_tid as usize - 1;
                if self.proxy_fences[w] == s.w_fences {
                    let msg = format!(
                        "{who} reads shared byte {b:#x}, written by {} at PTX line {} through the generic proxy with no fence.proxy.async by that thread since",
                        self.who(w),
                        self.line(s.w_pc)
                    );
                    let kind = if who.contains("wgmma") {
                        ErrorKind::Wgmma(msg)
                    } else {
                        ErrorKind::BulkAsync(msg)
                    };
                    return Err(Fault::at(kind, gaddr));
                }
            }
            if s.w_tid != NONE {
                let w = s.w_tid as usize - 1;
                if !(self.ordered(w, s.w_epoch, s.w_ws, t) || (atomic && s.w_atomic)) {
                    return Err(self.race(
                        gaddr,
                        format!(
                            "read of shared byte {b:#x} written by {} at PTX line {} with no barrier or warp-collective ordering between them",
                            self.who(w),
                            self.line(s.w_pc)
                        ),
                    ));
                }
            }
        }
        let (e, ws, warp) = (self.epoch[t], self.wstamp[t], (t / 32) as u16);
        let rank = self.rank_of(t) as u8;
        for b in off..off + n {
            let s = &mut self.shadow[b as usize];
            if s.r_tid == NONE || s.r_epoch != e {
                s.r_tid = t as u16 + 1;
                s.r_epoch = e;
                s.r_ws = ws;
                s.r_pc = pc;
                s.r_warp = warp;
                s.r_rank = rank;
                s.r_atomic = atomic;
            } else if s.r_tid != t as u16 + 1 {
                s.r_tid = MANY;
                if s.r_warp != warp {
                    s.r_warp = u16::MAX;
                }
                if s.r_rank != rank {
                    s.r_rank = u8::MAX;
                }
                s.r_ws = s.r_ws.min(ws);
                s.r_atomic &= atomic;
            }
        }
        Ok(())
    }

    /// Check and record a write of shared bytes [off, off+n) by thread t.
    pub(crate) fn shadow_write(&mut self, t: usize, off: u64, n: u64, gaddr: u64) -> FResult<()> {
        self.shadow_check_write(t, off, n, gaddr)?;
        self.shadow_record_write(t, off, n);
        Ok(())
    }

    /// Check a write of shared bytes [off, off+n) by thread t against earlier accesses.
    pub(crate) fn shadow_check_write(&self, t: usize, off: u64, n: u64, gaddr: u64) -> FResult<()> {
        let atomic = self.in_atomic;
        for b in off..off + n {
            let s = self.shadow[b as usize];
            if self.wg.pending > 0 {
                self.wg_foot_check(b, gaddr)?;
            }
            if s.mbar || s.bulk != BULK_NONE || s.bsrc != NONE {
                self.async_check(t, b, &s, gaddr, true)?;
            }
            if s.pend != NONE && s.pend as usize - 1 != t {
                return Err(self.race(
                    gaddr,
                    format!(
                        "write of shared byte {b:#x}, which {} is writing with a cp.async (PTX line {}) still in flight",
                        self.who(s.pend as usize - 1),
                        self.line(s.pend_pc)
                    ),
                ));
            }
            if s.w_tid != NONE {
                let w = s.w_tid as usize - 1;
                if !(self.ordered(w, s.w_epoch, s.w_ws, t) || (atomic && s.w_atomic)) {
                    return Err(self.race(
                        gaddr,
                        format!(
                            "write of shared byte {b:#x} also written by {} at PTX line {} with no barrier or warp-collective ordering between them",
                            self.who(w),
                            self.line(s.w_pc)
                        ),
                    ));
                }
            }
            if s.r_tid != NONE && !(atomic && s.r_atomic) {
                let conflict = if s.r_tid == MANY {
                    let e = if s.r_rank as usize == self.rank_of(t) {
                        self.epoch[t]
                    } else {
                        self.cepoch[t]
                    };
                    e <= s.r_epoch && !(s.r_warp == (t / 32) as u16 && self.wstamp[t] > s.r_ws)
                } else {
                    let r = s.r_tid as usize - 1;
                    !self.ordered(r, s.r_epoch, s.r_ws, t)
                };
                if conflict {
                    let who = if s.r_tid == MANY {
                        "several threads".to_string()
                    } else {
                        self.who(s.r_tid as usize - 1)
                    };
                    return Err(self.race(
                        gaddr,
                        format!(
                            "write of shared byte {b:#x} read by {who} at PTX line {} with no barrier or warp-collective ordering between them",
                            self.line(s.r_pc)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn shadow_record_write(&mut self, t: usize, off: u64, n: u64) {
        let pc = self.pc[t];
        let fences = self.proxy_fences[t];
        let atomic = self.in_atomic;
        let (e, ws) = (self.epoch[t], self.wstamp[t]);
        for b in off..off + n {
            let s = &mut self.shadow[b as usize];
            s.init = true;
            s.w_tid = t as u16 + 1;
            s.w_epoch = e;
            s.w_ws = ws;
            s.w_pc = pc;
            s.w_atomic = atomic;
            s.w_fences = fences;
            s.r_tid = NONE;
            s.bulk = BULK_NONE;
        }
    }

    /// Mark bytes as the destination of an in-flight cp.async of thread t (the async write may
    /// land any time from now, so it is checked against earlier accesses now).
    pub(crate) fn shadow_pending(&mut self, t: usize, off: u64, n: u64, gaddr: u64) -> FResult<()> {
        self.shadow_check_write(t, off, n, gaddr)?;
        let pc = self.pc[t];
        for b in off..off + n {
            let s = self.shadow[b as usize];
            if s.pend != NONE && s.pend as usize - 1 != t {
                return Err(self.race(
                    gaddr,
                    format!(
                        "cp.async to shared byte {b:#x}, which {} is already writing with a cp.async (PTX line {})",
                        self.who(s.pend as usize - 1),
                        self.line(s.pend_pc)
                    ),
                ));
            }
        }
        for b in off..off + n {
            let s = &mut self.shadow[b as usize];
            s.pend = t as u16 + 1;
            s.pend_pc = pc;
        }
        Ok(())
    }

    /// A wgmma issued by the warpgroup of thread t (its first thread) has retired: its
    /// descriptor reads of byte b are complete and ordered before whatever the warpgroup does
    /// after the wait_group, so they are forgotten (a reader from another warpgroup after
    /// them may then go unreported).
    pub(crate) fn shadow_forget_read(&mut self, t: usize, b: u64) {
        let s = &mut self.shadow[b as usize];
        if s.r_tid == t as u16 + 1 {
            s.r_tid = NONE;
        }
    }

    /// The last thread t of the cluster's CTA of rank r exits: every access another CTA
    /// made to its shared memory must be ordered before (a cluster barrier, or an mbarrier
    /// phase that CTA arrived on): the memory is gone once the CTA has exited.
    pub(crate) fn shadow_exit_scan(&self, r: usize, t: usize) -> FResult<()> {
        let (lo, hi) = (r as u64 * self.win, (r as u64 + 1) * self.win);
        for b in lo..hi {
            let s = self.shadow[b as usize];
            let (who, pc) = if s.w_tid != NONE
                && self.rank_of(s.w_tid as usize - 1) != r
                && !self.ordered(s.w_tid as usize - 1, s.w_epoch, s.w_ws, t)
            {
                (
                    format!("written by {}", self.who(s.w_tid as usize - 1)),
                    s.w_pc,
                )
            } else if s.r_tid == MANY && s.r_rank as usize != r && self.cepoch[t] <= s.r_epoch {
                ("read by threads of another CTA".to_string(), s.r_pc)
            } else if s.r_tid != NONE
                && s.r_tid != MANY
                && self.rank_of(s.r_tid as usize - 1) != r
                && !self.ordered(s.r_tid as usize - 1, s.r_epoch, s.r_ws, t)
            {
                (
                    format!("read by {}", self.who(s.r_tid as usize - 1)),
                    s.r_pc,
                )
            } else {
                continue;
            };
            return Err(self.race(
                crate::memory::SHARED_WIN + (((r as u64 + 1) << 24) | (b - lo)),
                format!(
                    "CTA {:?} exits while its shared byte {:#x}, {who} at PTX line {}, is not ordered before the exit (no cluster barrier between them): another CTA's access to a CTA's shared memory must complete before that CTA exits",
                    self.ctaid_of(r),
                    b - lo,
                    self.line(pc)
                ),
            ));
        }
        Ok(())
    }

    /// A cp.async of thread t retires: its bytes are written now.
    pub(crate) fn shadow_retire(&mut self, t: usize, off: u64, n: u64) {
        for b in off..off + n {
            let s = &mut self.shadow[b as usize];
            if s.pend == t as u16 + 1 {
                s.pend = NONE;
            }
        }
        self.shadow_record_write(t, off, n);
    }
}
