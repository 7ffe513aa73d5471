//! Thread-block clusters (PTX ISA "Cluster of Cooperative Thread Arrays", `mapa`,
//! `barrier.cluster`, distributed shared memory). A cluster's CTAs run together as one
//! `Cta` (exec/mod.rs): their threads are numbered rank by rank and their shared windows lie
//! one after the other, so a remote access is an access to another range of the same
//! shared buffer and shadow, checked as any shared access is. A launch without cluster
//! dimensions runs as the implicit clusters of one CTA (as on a GPU).
//!
//! Addresses (ptxsim's choice; the ISA leaves the encoding to the implementation): a
//! `shared::cta` address is the offset in the CTA's own window; a `shared::cluster` address
//! below 2^24 is one of the CTA's own, and `mapa` returns `(rank + 1) << 24 | offset` for the
//! CTA of that rank (so each CTA's window must stay below 16 MiB). Generic addresses of
//! shared memory are the shared::cluster ones in the shared window.
//!
//! Ordering: a CTA barrier orders the accesses of its own CTA's threads only; another CTA's
//! accesses are ordered by cluster-scope points (`Cta::cepoch`): the completion of a
//! `barrier.cluster` (arrive then wait), and the wait on an mbarrier phase that a thread of
//! another CTA arrived on or delivered bytes to (a remote `mbarrier.arrive`, a multicast
//! copy). A remote access with neither in between is a `SharedRace`, and one to a CTA whose
//! threads have all exited is an error (its shared memory is gone).

use super::{Cta, LS};
use crate::error::{ErrorKind, FResult, Fault};
use crate::ir::*;

/// Where the rank of a `shared::cluster` address starts (rank + 1, so that the CTA's own
/// offsets are valid cluster addresses too).
const RANK_SHIFT: u32 = 24;
/// Marks a resolved shared offset that lies outside every CTA's window (the address is kept
/// in the low bits for the message).
pub(crate) const OUT_OF_WINDOW: u64 = 1 << 63;

/// The split cluster barrier: arrivals in the current phase and each thread's pending
/// arrival (the phase it arrived in, until its wait).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterBarrier {
    arrived: u32,
    phase: u32,
    epoch: u32,
    pending: Vec<Option<u32>>,
}

impl ClusterBarrier {
    pub(crate) fn new(nthreads: usize) -> ClusterBarrier {
        ClusterBarrier {
            pending: vec![None; nthreads],
            ..ClusterBarrier::default()
        }
    }
    pub(crate) fn describe(&self, nthreads: usize) -> String {
        format!(
            "barrier.cluster: {} of {nthreads} threads arrived in phase {}",
            self.arrived, self.phase
        )
    }
}

fn bad(msg: String) -> Box<Fault> {
    Fault::new(ErrorKind::InvalidOperand(msg))
}

impl Cta<'_> {
    /// barrier.cluster.arrive / wait of thread t; false: the wait blocks.
    pub(crate) fn cluster_barrier(&mut self, t: usize, wait: bool) -> FResult<bool> {
        let cb = &mut self.cluster;
        if wait {
            return match cb.pending[t] {
                None => Err(bad(
                    "barrier.cluster.wait with no barrier.cluster.arrive of this thread before it"
                        .into(),
                )),
                Some(p) if p < cb.phase => {
                    cb.pending[t] = None;
                    self.epoch[t] = self.epoch[t].max(cb.epoch);
                    self.cepoch[t] = self.cepoch[t].max(cb.epoch);
                    Ok(true)
                }
                Some(_) => Ok(false),
            };
        }
        if cb.pending[t].is_some() {
            return Err(bad(
                "barrier.cluster.arrive twice with no barrier.cluster.wait between".into(),
            ));
        }
        cb.pending[t] = Some(cb.phase);
        cb.arrived += 1;
        if cb.arrived as usize == self.ncta * self.cta_threads {
            self.gepoch += 1;
            let cb = &mut self.cluster;
            cb.arrived = 0;
            cb.phase += 1;
            cb.epoch = self.gepoch;
            for k in 0..self.nthreads {
                if self.st[k] == LS::Cluster {
                    self.st[k] = LS::Run;
                    self.pc[k] += 1;
                    self.epoch[k] = self.epoch[k].max(cb.epoch);
                    self.cepoch[k] = self.cepoch[k].max(cb.epoch);
                    cb.pending[k] = None;
                    self.yield_now = true;
                }
            }
        }
        Ok(true)
    }

    /// The offset in `shared` of the `shared::cta` address `a` of the running CTA.
    pub(crate) fn cta_shared(&self, a: u64) -> u64 {
        if a < self.win {
            self.cur as u64 * self.win + a
        } else {
            OUT_OF_WINDOW | a
        }
    }

    /// The offset in `shared` of the `shared::cluster` address `a`.
    pub(crate) fn cluster_shared(&self, a: u64) -> u64 {
        if a < 1 << RANK_SHIFT {
            return self.cta_shared(a);
        }
        let (r, off) = ((a >> RANK_SHIFT) - 1, a & ((1 << RANK_SHIFT) - 1));
        if r < self.ncta as u64 && off < self.win {
            r * self.win + off
        } else {
            OUT_OF_WINDOW | a
        }
    }

    /// Whether the `n` bytes at offset `off` of `shared` lie in one CTA's window.
    pub(crate) fn shared_fits(&self, off: u64, n: u64) -> bool {
        off.saturating_add(n) <= self.shared.len() as u64
            && (self.ncta == 1 || n == 0 || off / self.win == (off + n - 1) / self.win)
    }

    /// The detail of an out-of-bounds message for the shared offset `off`.
    pub(crate) fn shared_oob_detail(&self, off: u64, what: &str) -> String {
        let a = off & !OUT_OF_WINDOW;
        if off & OUT_OF_WINDOW != 0 && a >= 1 << RANK_SHIFT {
            return format!(
                " ({what}shared::cluster address {a:#x}: offset {:#x} in the CTA of rank {} of a cluster of {}; each CTA's shared window is {} bytes)",
                a & ((1 << RANK_SHIFT) - 1),
                (a >> RANK_SHIFT) - 1,
                self.ncta,
                self.win
            );
        }
        let local = if off & OUT_OF_WINDOW != 0 || self.win == 0 {
            a
        } else {
            a % self.win
        };
        format!(
            " ({what}offset {local:#x}; the CTA's shared window is {} bytes)",
            self.win
        )
    }

    /// An access to the shared offset `off` of another CTA: that CTA must still run.
    pub(crate) fn remote_check(&self, off: u64, gaddr: u64) -> FResult<()> {
        if self.ncta == 1 {
            return Ok(());
        }
        let r = (off / self.win) as usize;
        if r != self.cur && self.cta_exited[r] == self.cta_threads {
            return Err(Fault::at(
                ErrorKind::SharedRace(format!(
                    "access to the shared memory of CTA {:?} (cluster rank {r}), whose threads have all exited, with nothing ordering the access before that exit (a CTA must not exit while others of its cluster may access its shared memory: end with a cluster barrier)",
                    self.ctaid_of(r)
                )),
                gaddr,
            ));
        }
        Ok(())
    }

    /// The `shared::cluster` address of the shared offset `off`.
    fn cluster_address(&self, off: u64) -> FResult<u64> {
        let (r, o) = (off / self.win.max(1), off % self.win.max(1));
        if o >= 1 << RANK_SHIFT {
            return Err(Fault::unsupported(
                "mapa on a shared window of 16 MiB or more (ptxsim's shared::cluster addresses hold 24 bits of offset)",
            ));
        }
        Ok(((r + 1) << RANK_SHIFT) | o)
    }

    /// mapa / getctarank of thread t: `a` is a shared::cluster address, or a generic one in
    /// the shared window (then so is mapa's result).
    pub(crate) fn exec_cluster(&mut self, inst: &Inst, t: usize) -> FResult<()> {
        let (a, generic) = match &inst.op {
            Op::Mapa { a, .. } | Op::GetCtaRank { a, .. } => {
                let v = self.rd(t, *a);
                match v.checked_sub(crate::memory::SHARED_WIN) {
                    Some(x) if x < crate::memory::WIN_SIZE => (x, true),
                    _ => (v, false),
                }
            }
            _ => return super::unsupported(&inst.text),
        };
        let off = self.cluster_shared(a);
        if off & OUT_OF_WINDOW != 0 {
            return Err(Fault::at(
                ErrorKind::InvalidOperand(format!(
                    "{a:#x} is not a shared::cluster address of the cluster{}",
                    self.shared_oob_detail(off, "")
                )),
                a,
            ));
        }
        match &inst.op {
            Op::Mapa { d, rank, .. } => {
                let r = self.rd(t, *rank) & 0xffff_ffff;
                if r >= self.ncta as u64 {
                    return Err(Fault::at(
                        ErrorKind::InvalidOperand(format!(
                            "mapa to CTA rank {r}: the cluster has {} CTA(s) (%cluster_nctarank)",
                            self.ncta
                        )),
                        a,
                    ));
                }
                let local = off % self.win.max(1);
                let v = self.cluster_address(r * self.win + local)?;
                let v = if generic {
                    v + crate::memory::SHARED_WIN
                } else {
                    v
                };
                self.wr(t, *d, v);
            }
            Op::GetCtaRank { d, .. } => {
                let r = off / self.win.max(1);
                self.wr(t, *d, r);
            }
            _ => return super::unsupported(&inst.text),
        }
        Ok(())
    }
}
