//! mbarrier objects in shared memory (PTX ISA "Parallel Synchronization and Communication
//! Instructions: mbarrier"): state, arrive / expect_tx / complete_tx / waits, and the strict
//! checks on their use.
//!
//! State of one barrier: the arrivals expected per phase (`count`), the arrivals still
//! pending in the current phase, the transaction count (bytes announced by `expect_tx` minus
//! bytes delivered by `complete_tx` and bulk copies; it may go negative while arrivals are
//! pending, as the ISA allows), and the phase number. The current phase completes when both
//! the pending arrivals and the transaction count are zero; the next phase then starts with
//! `count` pending arrivals (less those dropped by `arrive_drop`).
//!
//! Ordering (DESIGN.md "ptxsim memory model"): a phase completion counts as a barrier epoch
//! (see shadow.rs); a thread whose wait sees the phase complete joins that epoch, so accesses
//! made before the arrivals are ordered before its later ones, and the bytes a bulk copy
//! delivered in that phase become readable by it.
//!
//! Assumptions, stated where the ISA leaves them to the implementation: the state token of
//! `arrive` is ptxsim's own (barrier offset in the high 32 bits, phase in the low 32 bits);
//! `try_wait` sleeps until the phase completes (the ISA lets it time out and return false;
//! a kernel that relies on that timeout to make progress is reported as deadlocked).

use super::shadow::{Shadow, BULK_IN_FLIGHT, BULK_LANDED};
use super::{Cta, LS};
use crate::error::{ErrorKind, FResult, Fault};
use crate::ir::*;

/// The most arrivals one phase may expect, and the transaction-count range (PTX ISA: 2^20 - 1).
const MAX_COUNT: u64 = (1 << 20) - 1;

#[derive(Debug, Clone, Default)]
pub(crate) struct MBar {
    /// arrivals each phase expects
    count: u32,
    /// arrivals still missing in the current phase
    pending: u32,
    /// transaction bytes still expected in the current phase (negative: delivered ahead)
    tx: i64,
    /// bytes announced / delivered in the current phase (for messages)
    announced: u64,
    delivered: u64,
    /// the current phase (phases completed so far)
    pub phase: u32,
    /// barrier epoch of the latest phase completion
    epoch: u32,
    /// pc of the mbarrier.init
    init_pc: u32,
    /// bulk copies delivered in the current phase: (shared offset, bytes)
    copies: Vec<(u32, u32)>,
    /// a thread of another CTA of the cluster arrived or delivered bytes in the current
    /// phase (its completion is then a cluster-scope ordering point)
    remote: bool,
    /// ... in the latest completed phase
    cross: bool,
}

impl MBar {
    pub(crate) fn describe(&self, off: u32) -> String {
        format!(
            "mbarrier at shared offset {off:#x}: phase {}, {} of {} arrivals pending, {} transaction bytes pending ({} announced by expect_tx, {} delivered)",
            self.phase, self.pending, self.count, self.tx, self.announced, self.delivered
        )
    }
}

fn mbar_err(addr: u64, msg: String) -> Box<Fault> {
    Fault::at(ErrorKind::Mbarrier(msg), addr)
}

impl Cta<'_> {
    /// The shared offset of the mbarrier operand `addr` (8-byte aligned, inside the window).
    pub(crate) fn mbar_offset(&self, t: usize, space: Space, addr: &Addr) -> FResult<(u64, u32)> {
        let a = self.addr_value(t, addr);
        self.check_align(Space::Shared, a, 8, 8)?;
        match self.resolve(space, a) {
            super::mem::Loc::Shared(off) if self.shared_fits(off, 8) => {
                self.remote_check(off, a)?;
                Ok((a, off as u32))
            }
            super::mem::Loc::Shared(off) => Err(Fault::at(
                ErrorKind::OutOfBounds {
                    space: "shared",
                    size: 8,
                    detail: self.shared_oob_detail(off, "mbarrier at "),
                },
                a,
            )),
            _ => Err(mbar_err(
                a,
                "the mbarrier operand is not a shared-memory address".into(),
            )),
        }
    }

    /// Operations the ISA allows on the CTA's own barriers only (init, inval, waits).
    fn mbar_own(&self, t: usize, off: u32, a: u64, what: &str) -> FResult<()> {
        if self.ncta > 1 && off as u64 / self.win != self.rank_of(t) as u64 {
            return Err(mbar_err(
                a,
                format!(
                    "`{what}` on an mbarrier of another CTA of the cluster (CTA {:?}): only arrive and complete_tx may reach another CTA's barrier",
                    self.ctaid_of((off as u64 / self.win) as usize)
                ),
            ));
        }
        Ok(())
    }

    /// A thread t of another CTA arrives on, or delivers bytes to, the barrier at `off`.
    pub(crate) fn mbar_note_remote(&mut self, t: usize, off: u32) {
        if self.ncta > 1 && off as u64 / self.win != self.rank_of(t) as u64 {
            if let Some(b) = self.mbars.get_mut(&off) {
                b.remote = true;
            }
        }
    }

    pub(crate) fn mbar(&mut self, off: u32, a: u64, what: &str) -> FResult<&mut MBar> {
        match self.mbars.get_mut(&off) {
            Some(b) => Ok(b),
            None => Err(mbar_err(
                a,
                format!("`{what}` on shared offset {off:#x}, which holds no initialised mbarrier (used before mbarrier.init, or after mbarrier.inval)"),
            )),
        }
    }

    pub(crate) fn line_of(&self, pc: u32) -> u32 {
        self.code.get(pc as usize).map(|i| i.line).unwrap_or(0)
    }

    /// Complete the current phase of the barrier at `off` if nothing is pending, and check
    /// that no more bytes were delivered than announced.
    fn mbar_settle(&mut self, off: u32, a: u64) -> FResult<()> {
        let Some(b) = self.mbars.get(&off) else {
            return Ok(());
        };
        if b.pending > 0 {
            return Ok(());
        }
        if b.tx < 0 {
            return Err(mbar_err(
                a,
                format!(
                    "transaction count mismatch: all arrivals of the phase are in but {} more bytes were delivered than expect_tx announced ({})",
                    -b.tx,
                    b.describe(off)
                ),
            ));
        }
        if b.tx > 0 {
            return Ok(());
        }
        self.gepoch += 1;
        let e = self.gepoch;
        let b = self.mbars.get_mut(&off).expect("checked above");
        b.phase = b.phase.wrapping_add(1);
        b.pending = b.count;
        b.tx = 0;
        b.announced = 0;
        b.delivered = 0;
        b.epoch = e;
        b.cross = std::mem::take(&mut b.remote);
        let copies = std::mem::take(&mut b.copies);
        for (o, n) in copies {
            for x in o..o + n {
                let s: &mut Shadow = &mut self.shadow[x as usize];
                if s.bulk == BULK_IN_FLIGHT && s.bulk_bar == off {
                    s.bulk = BULK_LANDED;
                    s.bulk_epoch = e;
                }
            }
        }
        for t in 0..self.nthreads {
            if self.st[t] == LS::Mbar(off) {
                self.st[t] = LS::Run;
                // the completing warp yields, so the woken waiters run before it goes on
                // (a stage released too early is then refilled before its late reads)
                self.yield_now = true;
            }
        }
        Ok(())
    }

    /// A bulk copy of `n` bytes, landed at the shared `pieces` (offset, bytes), delivered
    /// to the barrier at `off` (its complete_tx).
    pub(crate) fn mbar_deliver(
        &mut self,
        off: u32,
        a: u64,
        pieces: Vec<(u32, u32)>,
        n: u64,
    ) -> FResult<()> {
        let b = self.mbar(off, a, "cp.async.bulk completion")?;
        b.copies.extend(pieces);
        b.tx -= n as i64;
        b.delivered += n;
        self.mbar_settle(off, a)
    }

    /// mbarrier.init / inval / arrive / expect_tx / complete_tx of thread t.
    pub(crate) fn exec_mbar(&mut self, inst: &Inst, t: usize) -> FResult<()> {
        let pc = self.pc[t];
        match &inst.op {
            Op::MbarInit { space, addr, count } => {
                let (a, off) = self.mbar_offset(t, *space, addr)?;
                self.mbar_own(t, off, a, "mbarrier.init")?;
                let n = self.rd(t, *count) & 0xffff_ffff;
                if n == 0 || n > MAX_COUNT {
                    return Err(mbar_err(
                        a,
                        format!("mbarrier.init with count {n} (must be 1..={MAX_COUNT})"),
                    ));
                }
                if let Some(b) = self.mbars.get(&off) {
                    return Err(mbar_err(
                        a,
                        format!(
                            "mbarrier.init of a barrier already initialised at PTX line {} and not invalidated ({})",
                            self.line_of(b.init_pc),
                            b.describe(off)
                        ),
                    ));
                }
                // the object's bytes: ordered like a store of this thread, then off limits
                // to plain loads and stores
                self.shadow_check_write(t, off as u64, 8, a)?;
                self.shadow_record_write(t, off as u64, 8);
                for x in off..off + 8 {
                    self.shadow[x as usize].mbar = true;
                }
                self.shared[off as usize..off as usize + 8].fill(0);
                self.mbars.insert(
                    off,
                    MBar {
                        count: n as u32,
                        pending: n as u32,
                        init_pc: pc,
                        ..MBar::default()
                    },
                );
            }
            Op::MbarInval { space, addr } => {
                let (a, off) = self.mbar_offset(t, *space, addr)?;
                self.mbar_own(t, off, a, "mbarrier.inval")?;
                self.mbar(off, a, "mbarrier.inval")?;
                self.mbars.remove(&off);
                for x in off..off + 8 {
                    self.shadow[x as usize].mbar = false;
                }
                self.mbar_seen.retain(|&(_, o), _| o != off);
            }
            Op::MbarArrive {
                space,
                d,
                addr,
                count,
                tx,
                drop,
            } => {
                let (a, off) = self.mbar_offset(t, *space, addr)?;
                let n = match count {
                    Some(c) => self.rd(t, *c) & 0xffff_ffff,
                    None => 1,
                };
                let txv = tx.map(|x| self.rd(t, x) & 0xffff_ffff);
                let what = if *drop { "arrive_drop" } else { "arrive" };
                let b = self.mbar(off, a, &format!("mbarrier.{what}"))?;
                if n == 0 || n > MAX_COUNT {
                    return Err(mbar_err(
                        a,
                        format!("mbarrier.{what} with count {n} (must be 1..={MAX_COUNT})"),
                    ));
                }
                if n > b.pending as u64 {
                    let msg = format!(
                        "over-arrival: mbarrier.{what} of {n} when {} of {} arrivals are pending in phase {} ({})",
                        b.pending,
                        b.count,
                        b.phase,
                        b.describe(off)
                    );
                    return Err(mbar_err(a, msg));
                }
                if let Some(x) = txv {
                    b.tx += x as i64;
                    b.announced += x;
                }
                b.pending -= n as u32;
                if *drop {
                    b.count -= n as u32;
                }
                let token = ((off as u64) << 32) | b.phase as u64;
                self.wr(t, *d, token);
                self.mbar_note_remote(t, off);
                self.mbar_settle(off, a)?;
            }
            Op::MbarTx {
                space,
                addr,
                tx,
                complete,
            } => {
                let (a, off) = self.mbar_offset(t, *space, addr)?;
                let x = self.rd(t, *tx) & 0xffff_ffff;
                if x > MAX_COUNT {
                    return Err(mbar_err(
                        a,
                        format!("transaction count {x} (must be at most {MAX_COUNT})"),
                    ));
                }
                let what = if *complete {
                    "complete_tx"
                } else {
                    "expect_tx"
                };
                let b = self.mbar(off, a, &format!("mbarrier.{what}"))?;
                if *complete {
                    b.tx -= x as i64;
                    b.delivered += x;
                } else {
                    b.tx += x as i64;
                    b.announced += x;
                }
                self.mbar_note_remote(t, off);
                self.mbar_settle(off, a)?;
            }
            _ => return super::unsupported(&inst.text),
        }
        Ok(())
    }

    /// mbarrier.test_wait / try_wait of thread t: whether its phase has completed. On
    /// success the thread joins the completion's epoch.
    pub(crate) fn mbar_wait(&mut self, inst: &Inst, t: usize) -> FResult<(bool, u32)> {
        let Op::MbarWait {
            space,
            addr,
            a: arg,
            parity,
            try_wait,
            ..
        } = &inst.op
        else {
            return super::unsupported(&inst.text);
        };
        let (a, off) = self.mbar_offset(t, *space, addr)?;
        self.mbar_own(
            t,
            off,
            a,
            &format!(
                "mbarrier.{}",
                if *try_wait { "try_wait" } else { "test_wait" }
            ),
        )?;
        let v = self.rd(t, *arg);
        let what = if *try_wait { "try_wait" } else { "test_wait" };
        let seen = self.mbar_seen.get(&(t, off)).copied();
        let b = self.mbar(off, a, &format!("mbarrier.{what}"))?;
        let cur = b.phase as i64;
        let done = if *parity {
            let p = (v & 1) as i64;
            // the phase this wait is for: the next one of that parity after the last phase
            // this thread saw complete. A thread that has seen none may join late (an
            // epilogue warp waiting once): not checked.
            let want = match seen {
                Some(l) if p == (l + 1) & 1 => l + 1,
                Some(l) => l + 2,
                None => cur,
            };
            if cur - want >= 2 {
                let msg = format!(
                    "parity wait two phases old: this thread last saw phase {} complete, so parity {p} asks for phase {want}, but phases {want} and {} have completed and the barrier is in phase {cur}: the wait would wait for phase {cur} instead ({})",
                    seen.unwrap_or(-1),
                    want + 1,
                    b.describe(off)
                );
                return Err(mbar_err(a, msg));
            }
            (cur & 1) != p
        } else {
            if (v >> 32) as u32 != off {
                return Err(mbar_err(
                    a,
                    format!(
                        "mbarrier.{what} with a state token of another mbarrier (offset {:#x})",
                        v >> 32
                    ),
                ));
            }
            cur > (v & 0xffff_ffff) as i64
        };
        if done {
            let (e, cross) = (b.epoch, b.cross);
            self.epoch[t] = self.epoch[t].max(e);
            if cross {
                self.cepoch[t] = self.cepoch[t].max(e);
            }
            self.mbar_seen.insert((t, off), cur - 1);
        } else {
            self.stats.mbarrier_waits += 1;
        }
        Ok((done, off))
    }

    /// Deadlock report of threads sleeping in try_wait: every barrier's state.
    pub(crate) fn mbar_deadlock_report(&self) -> String {
        self.mbars
            .iter()
            .map(|(off, b)| {
                format!(
                    "{} (initialised at PTX line {})",
                    b.describe(*off),
                    self.line_of(b.init_pc)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The strict checks of a plain access (`write`: a store) of shared byte `b` that
    /// belongs to an mbarrier, was written by a bulk copy, or (stores) is the source of an
    /// unretired bulk store.
    pub(crate) fn async_check(
        &self,
        t: usize,
        b: u64,
        s: &Shadow,
        gaddr: u64,
        write: bool,
    ) -> FResult<()> {
        let (access, kind) = if write {
            ("write", "store to")
        } else {
            ("read", "load of")
        };
        if s.mbar {
            return Err(mbar_err(
                gaddr,
                format!("plain {kind} shared byte {b:#x}, part of an initialised mbarrier object (use mbarrier instructions)"),
            ));
        }
        let line = self.line_of(s.bulk_pc);
        let msg = if write && s.bsrc != 0 {
            format!(
                "write of shared byte {b:#x}, the source of the cp.async.bulk store at PTX line {line} of {}, before cp.async.bulk.wait_group.read retired it",
                self.who(s.bsrc as usize - 1)
            )
        } else if s.bulk == BULK_IN_FLIGHT {
            let state = self
                .mbars
                .get(&s.bulk_bar)
                .map(|m| m.describe(s.bulk_bar))
                .unwrap_or_else(|| format!("mbarrier at {:#x} invalidated", s.bulk_bar));
            format!(
                "{access} of shared byte {b:#x} before the mbarrier phase of the cp.async.bulk (PTX line {line}) writing it has completed ({state})"
            )
        } else if s.bulk == BULK_LANDED && self.epoch[t] < s.bulk_epoch {
            format!(
                "{access} of shared byte {b:#x}, written by the cp.async.bulk at PTX line {line}, by a thread that has not seen its mbarrier phase complete (no test_wait/try_wait on the mbarrier at {:#x} returned true for it, nor a CTA barrier after one that did)",
                s.bulk_bar
            )
        } else {
            return Ok(());
        };
        Err(Fault::at(ErrorKind::BulkAsync(msg), gaddr))
    }
}
