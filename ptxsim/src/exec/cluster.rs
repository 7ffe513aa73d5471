//! Thread-block clusters, as ptxsim runs them: every launch is the implicit cluster of one
//! CTA (PTX ISA: a grid launched without cluster dimensions has clusters of 1x1x1 CTA), so
//! `barrier.cluster` synchronises the CTA's threads, `mapa` to rank 0 is the identity, and
//! `shared::cluster` addresses are the CTA's own shared memory. Clusters of several CTAs
//! (distributed shared memory) are not modelled yet.

use super::{Cta, LS};
use crate::error::{ErrorKind, FResult, Fault};
use crate::ir::*;

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
        if cb.arrived as usize == self.nthreads {
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
                    cb.pending[k] = None;
                    self.yield_now = true;
                }
            }
        }
        Ok(true)
    }

    /// A `shared::cluster` address must lie in the (one) CTA's shared window.
    fn cluster_shared(&self, v: u64) -> FResult<()> {
        if v >= self.shared.len() as u64 {
            return Err(Fault::at(
                ErrorKind::InvalidOperand(format!(
                    "{v:#x} is not a shared::cluster address of the cluster (its CTA's shared window is {} bytes)",
                    self.shared.len()
                )),
                v,
            ));
        }
        Ok(())
    }

    /// mapa / getctarank of thread t.
    pub(crate) fn exec_cluster(&mut self, inst: &Inst, t: usize) -> FResult<()> {
        match &inst.op {
            Op::Mapa { d, a, rank } => {
                let (v, r) = (self.rd(t, *a), self.rd(t, *rank) as u32);
                self.cluster_shared(v)?;
                if r != 0 {
                    return Err(Fault::at(
                        ErrorKind::InvalidOperand(format!(
                            "mapa to CTA rank {r}: the cluster has one CTA (ptxsim runs every launch as clusters of 1)"
                        )),
                        v,
                    ));
                }
                self.wr(t, *d, v);
            }
            Op::GetCtaRank { d, a } => {
                self.cluster_shared(self.rd(t, *a))?;
                self.wr(t, *d, 0);
            }
            _ => return super::unsupported(&inst.text),
        }
        Ok(())
    }
}
