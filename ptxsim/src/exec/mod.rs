//! Execution: CTAs on host threads (see `run_grid`); inside a CTA, warps run their lanes in lockstep while the lanes share a
//! PC, split on divergence and reconverge by always advancing the lowest-PC group.

mod alu;
mod bulk;
mod cluster;
pub(crate) mod float;
mod mbarrier;
mod mem;
mod shadow;
mod tensor;
mod warp;
mod wgmma;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use crate::decode::Program;
use crate::error::{ErrorKind, ExecError, FResult, Fault, SimError};
use crate::ir::*;
use crate::limits::Limit;
use crate::memory::{GlobalMem, PARAM_WIN};
use crate::stats::{self, LaunchStats};

/// Per-launch constants shared by every CTA.
pub(crate) struct CtaParams<'a> {
    pub prog: &'a Program,
    pub kernel: &'a str,
    pub entry: usize,
    pub ntid: [u32; 3],
    pub nctaid: [u32; 3],
    pub params: &'a [u8],
    pub global_addrs: &'a [u64],
    pub shared_addrs: &'a [u32],
    pub shared_bytes: u32,
    pub dynamic_bytes: u32,
    /// CTAs per cluster along x, y, z ([1, 1, 1] without cluster dimensions)
    pub cluster: [u32; 3],
    /// the launch gave cluster dimensions (`%is_explicit_cluster`)
    pub explicit_cluster: bool,
    pub limit: u64,
    pub limits: &'a crate::limits::Limits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LS {
    Run,
    /// Waiting at a warp-collective instruction (at its pc).
    Coll,
    /// Waiting at CTA barrier n.
    Bar(u8),
    /// Sleeping in `mbarrier.try_wait` on the barrier at this shared offset until its
    /// phase completes.
    Mbar(u32),
    /// Waiting in `barrier.cluster.wait`.
    Cluster,
    Exit,
}

#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub call_pc: u32,
    pub base: u32,
    pub top: u32,
    pub func: u32,
    pub saved: Option<Vec<u64>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Barrier {
    arrived: u32,
    expected: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccKind {
    None,
    Global,
    Shared,
}

/// A pending cp.async copy: destination shared offset and the bytes read at issue.
#[derive(Debug, Clone)]
pub(crate) struct CpCopy {
    pub dst: u32,
    pub data: [u8; 16],
    pub len: u8,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CpState {
    pub open: Vec<CpCopy>,
    pub groups: VecDeque<Vec<CpCopy>>,
}

/// One cluster of CTAs, run together on one host thread (a lone CTA unless the launch has
/// cluster dimensions). Its CTAs' threads are numbered rank by rank, `stride` slots each
/// (the block size, rounded up to whole warpgroups in a cluster of several CTAs: the slots
/// past the block are threads that never run), so a warp and a warpgroup never span two
/// CTAs; their shared windows lie one after the other in `shared`, `win` bytes each.
pub(crate) struct Cta<'a> {
    pub p: &'a CtaParams<'a>,
    pub code: &'a [Inst],
    pub mem: &'a GlobalMem,
    /// %ctaid of the cluster's first CTA (rank 0)
    pub ctaid: [u32; 3],
    /// thread slots of all the cluster's CTAs
    pub nthreads: usize,
    pub nwarps: usize,
    /// CTAs in the cluster
    pub ncta: usize,
    /// thread slots per CTA
    pub stride: usize,
    /// threads per CTA (the block size)
    pub cta_threads: usize,
    /// shared bytes per CTA
    pub win: u64,
    /// rank of the CTA whose warp runs now
    pub cur: usize,
    /// threads of each CTA that have exited
    cta_exited: Vec<usize>,
    /// cluster-scope barrier epoch of each thread: the latest ordering point that orders
    /// other CTAs' accesses (a cluster barrier, an mbarrier phase another CTA arrived on)
    /// Register file, slot-major: slot r of thread t at r * nthreads + t (lanes of a warp are
    /// contiguous).
    pub regs: Vec<u64>,
    pub pc: Vec<u32>,
    pub st: Vec<LS>,
    pub frames: Vec<Vec<Frame>>,
    pub fbase: Vec<u32>,
    pub ftop: Vec<u32>,
    /// bytes of registers saved by the active recursive calls of each thread (they count
    /// towards its local-memory limit, as a GPU spills them to its stack)
    pub saved_bytes: Vec<u64>,
    pub local: Vec<Vec<u8>>,
    pub shared: Vec<u8>,
    pub cepoch: Vec<u32>,
    /// the CTA barriers of each CTA
    bars: Vec<[Barrier; 16]>,
    pub cp: Vec<CpState>,
    pub carry: Vec<u8>,
    pub stats: LaunchStats,
    pub acc: Vec<(u32, u64, u32)>,
    pub acc_kind: AccKind,
    pub executed: u64,
    exited: usize,
    pub shadow: Vec<shadow::Shadow>,
    /// barrier epoch of each thread (see shadow.rs)
    pub epoch: Vec<u32>,
    /// warp-collective stamp of each thread
    pub wstamp: Vec<u32>,
    gepoch: u32,
    gstamp: u32,
    pub in_atomic: bool,
    /// initialised mbarriers by shared offset
    mbars: BTreeMap<u32, mbarrier::MBar>,
    /// (thread, mbarrier offset) -> the latest phase the thread saw complete
    mbar_seen: HashMap<(usize, u32), i64>,
    /// bulk-store groups of each thread
    bulk: Vec<bulk::BulkGroups>,
    /// an mbarrier phase completed and woke sleeping threads: the running warp yields
    yield_now: bool,
    /// the cluster barrier
    cluster: cluster::ClusterBarrier,
    /// fence.proxy.async executed by each thread so far
    proxy_fences: Vec<u32>,
    /// the shared reads under way are the async proxy's (a bulk store, a wgmma
    /// descriptor): who reads
    async_reader: Option<&'static str>,
    /// warpgroup state (wgmma groups, register locks, fences)
    wg: wgmma::WgTrack,
    /// end of the current scheduling slice (warp-instructions executed)
    stop_at: u64,
}

/// Warp-instructions a CTA runs before the scheduler may suspend it to start or resume
/// another one (so CTAs that spin-wait on each other all make progress, whatever the number
/// of host threads). Counted in warp- rather than thread-instructions so that a one-lane spin
/// loop yields as soon as a full CTA's slice ends (2^16 = 2M thread-instructions of full warps).
const QUANTUM: u64 = 1 << 16;
/// Host memory the scheduler lets started-but-unfinished CTAs hold at once.
const LIVE_BYTES: u64 = 512 << 20;

struct Sched<'a> {
    /// next CTA (index into the launch's list) not started yet
    next: usize,
    /// started CTAs waiting for a host thread, oldest first
    suspended: VecDeque<(usize, Cta<'a>)>,
    /// started and not finished
    live: usize,
    /// lowest index of a CTA that failed (usize::MAX: none)
    first_err: usize,
}

/// The CTAs a launch runs: the whole grid (x fastest), computed from the index so that a
/// large grid costs no memory, or an explicit list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CtaList<'a> {
    /// the grid and the cluster dimensions: one entry per cluster, its first CTA
    Grid([u32; 3], [u32; 3]),
    /// first CTAs of clusters
    List(&'a [[u32; 3]]),
}

impl CtaList<'_> {
    fn len(&self) -> usize {
        match self {
            CtaList::Grid(g, c) => g.iter().zip(c).map(|(&d, &c)| (d / c) as usize).product(),
            CtaList::List(v) => v.len(),
        }
    }
    fn get(&self, i: usize) -> [u32; 3] {
        match self {
            CtaList::Grid([x, y, _], c) => {
                let (x, y) = ((*x / c[0]) as usize, (*y / c[1]) as usize);
                [
                    (i % x) as u32 * c[0],
                    (i / x % y) as u32 * c[1],
                    (i / x / y) as u32 * c[2],
                ]
            }
            CtaList::List(v) => v[i],
        }
    }
}

/// Run the CTAs of a launch on `workers` host threads (the calling thread when 1) and sum
/// their counters (in no particular order: the sum is the same). The error reported is that of the lowest-numbered failing
/// CTA: every CTA before it runs to completion, the ones after it may be skipped.
///
/// Scheduling: a host thread runs a CTA for `QUANTUM` warp-instructions at a time; when it
/// is not done, the thread starts the next CTA of the grid instead (while the started CTAs
/// fit in `LIVE_BYTES`, and at least `workers` of them) or resumes the oldest suspended one.
/// So CTAs that wait on each other through global memory all get to run, with one host
/// thread as with many, as long as they fit in that budget.
pub(crate) fn run_grid(
    p: &CtaParams,
    mem: &GlobalMem,
    ctas: CtaList,
    workers: usize,
) -> Result<LaunchStats, SimError> {
    let n = ctas.len();
    let workers = workers.clamp(1, n.max(1));
    let nthreads = Cta::layout(p).2 as u64;
    let footprint = nthreads * p.prog.nslots as u64 * 8
        + nthreads * (p.prog.funcs[p.entry].frame_size as u64 + 64)
        + p.shared_bytes as u64
            * Cta::layout(p).0 as u64
            * (1 + std::mem::size_of::<shadow::Shadow>() as u64)
        + 4096;
    let cap = ((LIVE_BYTES / footprint.max(1)) as usize).clamp(workers, 4096);
    let sched = Mutex::new(Sched {
        next: 0,
        suspended: VecDeque::new(),
        live: 0,
        first_err: usize::MAX,
    });
    // the counters so far, and the error of the lowest-numbered failing CTA
    let results: Mutex<(LaunchStats, Option<(usize, SimError)>)> =
        Mutex::new((LaunchStats::default(), None));
    let work = || {
        let mut cur: Option<(usize, Cta)> = None;
        loop {
            let (i, mut cta) = match cur.take() {
                Some(c) => c,
                None => {
                    let mut s = sched_lock(&sched);
                    let mut pick = None;
                    while let Some((i, c)) = s.suspended.pop_front() {
                        if i < s.first_err {
                            pick = Some((i, c));
                            break;
                        }
                        s.live -= 1; // after a failed CTA: not needed
                    }
                    match pick {
                        Some(c) => c,
                        None if s.next < n && s.next < s.first_err => {
                            let i = s.next;
                            s.next += 1;
                            s.live += 1;
                            drop(s);
                            (i, Cta::new(p, mem, ctas.get(i)))
                        }
                        None => return,
                    }
                }
            };
            let stop = cta.stats.warp_instructions.saturating_add(QUANTUM);
            match cta.run_until(stop) {
                Ok(false) => {
                    let mut s = sched_lock(&sched);
                    if i > s.first_err {
                        s.live -= 1;
                        continue;
                    }
                    if s.next < n && s.next < s.first_err && s.live < cap {
                        let j = s.next;
                        s.next += 1;
                        s.live += 1;
                        s.suspended.push_back((i, cta));
                        drop(s);
                        cur = Some((j, Cta::new(p, mem, ctas.get(j))));
                    } else if let Some(o) = s.suspended.pop_front() {
                        s.suspended.push_back((i, cta));
                        cur = Some(o);
                    } else {
                        cur = Some((i, cta));
                    }
                }
                r => {
                    let r = r.map(|_| std::mem::take(&mut cta.stats));
                    drop(cta);
                    let mut s = sched_lock(&sched);
                    s.live -= 1;
                    if r.is_err() {
                        s.first_err = s.first_err.min(i);
                    }
                    drop(s);
                    let mut res = results.lock().unwrap_or_else(|e| e.into_inner());
                    match r {
                        Ok(st) => res.0.merge(&st),
                        Err(e) => {
                            if res.1.as_ref().is_none_or(|(j, _)| i < *j) {
                                res.1 = Some((i, e));
                            }
                        }
                    }
                }
            }
        }
    };
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|sc| {
            for _ in 0..workers {
                sc.spawn(work);
            }
        });
    }
    match results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        (_, Some((_, e))) => Err(e),
        (stats, None) => Ok(stats),
    }
}

fn sched_lock<'m, 'a>(m: &'m Mutex<Sched<'a>>) -> std::sync::MutexGuard<'m, Sched<'a>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'a> Cta<'a> {
    /// CTAs per cluster, thread slots per CTA and in all.
    fn layout(p: &CtaParams) -> (usize, usize, usize) {
        let ncta = p.cluster.iter().map(|&c| c as usize).product::<usize>();
        let block = (p.ntid[0] * p.ntid[1] * p.ntid[2]) as usize;
        let stride = if ncta > 1 {
            block.next_multiple_of(128)
        } else {
            block
        };
        (ncta, stride, ncta * stride)
    }

    fn new(p: &'a CtaParams<'a>, mem: &'a GlobalMem, ctaid: [u32; 3]) -> Cta<'a> {
        let prog = p.prog;
        let (ncta, stride, nthreads) = Cta::layout(p);
        let cta_threads = (p.ntid[0] * p.ntid[1] * p.ntid[2]) as usize;
        let ns = prog.nslots as usize; // register slots per thread
        let entry = &prog.funcs[p.entry];
        let fsize = entry.frame_size;
        let mut c = Cta {
            p,
            code: &prog.code,
            mem,
            ctaid,
            nthreads,
            nwarps: nthreads.div_ceil(32),
            ncta,
            stride,
            cta_threads,
            win: p.shared_bytes as u64,
            cur: 0,
            cta_exited: vec![0; ncta],
            cepoch: vec![0; nthreads],
            regs: vec![0u64; nthreads * ns],
            pc: vec![entry.entry_pc; nthreads],
            st: vec![LS::Run; nthreads],
            frames: vec![Vec::new(); nthreads],
            fbase: vec![0; nthreads],
            ftop: vec![fsize; nthreads],
            saved_bytes: vec![0; nthreads],
            local: vec![vec![0u8; fsize as usize]; nthreads],
            shared: vec![0u8; p.shared_bytes as usize * ncta],
            bars: vec![[Barrier::default(); 16]; ncta],
            cp: vec![CpState::default(); nthreads],
            carry: vec![0; nthreads],
            stats: LaunchStats::default(),
            acc: Vec::with_capacity(32),
            acc_kind: AccKind::None,
            executed: 0,
            exited: 0,
            shadow: vec![shadow::Shadow::default(); p.shared_bytes as usize * ncta],
            epoch: vec![0; nthreads],
            wstamp: vec![0; nthreads],
            gepoch: 0,
            gstamp: 0,
            in_atomic: false,
            mbars: BTreeMap::new(),
            mbar_seen: HashMap::new(),
            bulk: vec![bulk::BulkGroups::default(); nthreads],
            yield_now: false,
            proxy_fences: vec![0; nthreads],
            cluster: cluster::ClusterBarrier::new(nthreads),
            async_reader: None,
            wg: wgmma::WgTrack::default(),
            stop_at: u64::MAX,
        };
        // the slots past each CTA's block never run
        for t in 0..nthreads {
            if t % stride >= cta_threads {
                c.st[t] = LS::Exit;
                c.exited += 1;
            }
        }
        c.stats.ctas = ncta as u64;
        c
    }
}

impl<'a> Cta<'a> {
    pub fn tid_of(&self, t: usize) -> [u32; 3] {
        let [x, y, _] = self.p.ntid;
        let t = (t % self.stride) as u32;
        [t % x, (t / x) % y, t / (x * y)]
    }

    /// The cluster rank of the CTA of thread t.
    #[inline]
    pub fn rank_of(&self, t: usize) -> usize {
        t / self.stride
    }

    /// %ctaid of the cluster's CTA of rank r (x fastest).
    pub fn ctaid_of(&self, r: usize) -> [u32; 3] {
        let [cx, cy, _] = self.p.cluster;
        let r = r as u32;
        let o = self.ctaid;
        [o[0] + r % cx, o[1] + r / cx % cy, o[2] + r / (cx * cy)]
    }

    /// "thread (x,y,z)", with its CTA when the cluster has several.
    pub fn who(&self, t: usize) -> String {
        if self.ncta > 1 {
            format!(
                "thread {:?} of CTA {:?}",
                self.tid_of(t),
                self.ctaid_of(self.rank_of(t))
            )
        } else {
            format!("thread {:?}", self.tid_of(t))
        }
    }

    #[allow(clippy::boxed_local)]
    pub fn error_at(&self, t: usize, pc: u32, f: Box<Fault>) -> SimError {
        let line = self.code.get(pc as usize).map(|i| i.line).unwrap_or(0);
        SimError::Exec(Box::new(ExecError {
            kernel: self.p.kernel.to_string(),
            line,
            cta: self.ctaid_of(self.rank_of(t)),
            tid: self.tid_of(t),
            addr: f.addr,
            kind: f.kind,
        }))
    }

    /// Run rounds over the warps until the CTA finishes (true) or has executed `stop`
    /// warp-instructions in all (false: it can be resumed).
    fn run_until(&mut self, stop: u64) -> Result<bool, SimError> {
        self.stop_at = stop;
        loop {
            let mut progress = false;
            for w in 0..self.nwarps {
                progress |= self.run_warp(w)?;
            }
            if self.exited == self.nthreads {
                return Ok(true);
            }
            if !progress {
                return Err(self.deadlock());
            }
            if self.executed >= stop {
                return Ok(false);
            }
        }
    }

    /// The first thread slot of warp w and its number of threads.
    pub(crate) fn warp_lanes(&self, w: usize) -> (usize, u32) {
        let base = w * 32;
        let n = self.cta_threads.saturating_sub(base % self.stride).min(32) as u32;
        (base, n)
    }

    fn run_warp(&mut self, w: usize) -> Result<bool, SimError> {
        let (base, n) = self.warp_lanes(w);
        self.cur = base / self.stride;
        let mut progressed = false;
        loop {
            let mut pc = u32::MAX;
            let mut mask = 0u32;
            let mut running = 0u32;
            for l in 0..n {
                let t = base + l as usize;
                if self.st[t] == LS::Run {
                    running += 1;
                    let p = self.pc[t];
                    if p < pc {
                        pc = p;
                        mask = 1 << l;
                    } else if p == pc {
                        mask |= 1 << l;
                    }
                }
            }
            if mask == 0 {
                if self.try_collectives(w)? {
                    progressed = true;
                    continue;
                }
                return Ok(progressed);
            }
            progressed = true;
            let converged = running == mask.count_ones();
            loop {
                let next = self.step(w, pc, mask)?;
                if self.yield_now {
                    self.yield_now = false;
                    return Ok(true);
                }
                match next {
                    // a warp that never blocks (a spin loop) yields at the end of its slice
                    Some(_) if self.stats.warp_instructions >= self.stop_at => return Ok(true),
                    Some(next) if converged => pc = next,
                    _ => break,
                }
            }
            if self.stats.warp_instructions >= self.stop_at {
                return Ok(true);
            }
        }
    }

    #[inline]
    pub fn rd(&self, t: usize, s: Src) -> u64 {
        match s {
            Src::R(r) => self.regs[r as usize * self.nthreads + t],
            Src::I(v) => v,
            Src::Sp(sp) => self.special(t, sp),
            Src::Sym(sym, off) => self.sym_value(t, sym).wrapping_add(off as u64),
        }
    }
    #[inline]
    pub fn wr(&mut self, t: usize, r: u32, v: u64) {
        self.regs[r as usize * self.nthreads + t] = v;
    }

    pub fn sym_value(&self, t: usize, s: SymRef) -> u64 {
        match s {
            SymRef::Shared(i) => self.p.shared_addrs[i as usize] as u64,
            SymRef::Global(i) => self.p.global_addrs[i as usize],
            SymRef::Const(o) => o as u64,
            SymRef::Frame(o) => (self.fbase[t] + o) as u64,
            SymRef::KParam(o) => PARAM_WIN + o as u64,
        }
    }

    fn special(&self, t: usize, s: Special) -> u64 {
        let lane = (t % 32) as u32;
        let tid = self.tid_of(t);
        (match s {
            Special::Tid(d) => tid[d as usize],
            Special::Ntid(d) => self.p.ntid[d as usize],
            Special::Ctaid(d) => self.ctaid_of(self.rank_of(t))[d as usize],
            Special::Nctaid(d) => self.p.nctaid[d as usize],
            Special::LaneId => lane,
            Special::WarpId => (t % self.stride / 32) as u32,
            Special::NWarpId => self.cta_threads.div_ceil(32) as u32,
            Special::SmId | Special::GridId => 0,
            Special::NSmId => 1,
            Special::Clock => self.executed as u32,
            Special::Clock64 | Special::GlobalTimer => return self.executed,
            Special::LaneMaskEq => 1u32 << lane,
            Special::LaneMaskLt => (1u32 << lane) - 1,
            Special::LaneMaskLe => ((1u64 << (lane + 1)) - 1) as u32,
            Special::LaneMaskGt => !(((1u64 << (lane + 1)) - 1) as u32),
            Special::LaneMaskGe => !((1u32 << lane) - 1),
            Special::DynSmem => self.p.dynamic_bytes,
            Special::TotalSmem => self.p.shared_bytes,
            Special::ClusterId(d) => self.ctaid[d as usize] / self.p.cluster[d as usize],
            Special::NClusterId(d) => self.p.nctaid[d as usize] / self.p.cluster[d as usize],
            Special::ClusterCtaId(d) => {
                self.ctaid_of(self.rank_of(t))[d as usize] - self.ctaid[d as usize]
            }
            Special::ClusterNCtaId(d) => self.p.cluster[d as usize],
            Special::ClusterCtaRank => self.rank_of(t) as u32,
            Special::ClusterNCtaRank => self.ncta as u32,
            Special::IsExplicitCluster => self.p.explicit_cluster as u32,
        }) as u64
    }

    /// Execute the instruction at `pc` for the lanes in `mask` (all at that pc).
    /// Returns Some(next pc) when every lane continues together at the same pc.
    fn step(&mut self, w: usize, pc: u32, mask: u32) -> Result<Option<u32>, SimError> {
        let code = self.code;
        let inst = &code[pc as usize];
        let base = w * 32;
        let nl = mask.count_ones() as u64;
        self.stats.thread_instructions += nl;
        self.stats.warp_instructions += 1;
        self.stats.by_class[inst.class as usize] += nl;
        if inst.hint {
            self.stats.cache_hints += nl;
        }
        self.executed += nl;
        if self.executed > self.p.limit {
            let t = base + mask.trailing_zeros() as usize;
            return Err(self.error_at(
                t,
                pc,
                Fault::new(ErrorKind::InstructionLimit(self.p.limit)),
            ));
        }
        let mut act = mask;
        if let Some((g, neg)) = inst.guard {
            let mut m = mask;
            while m != 0 {
                let l = m.trailing_zeros();
                m &= m - 1;
                let v = self.regs[g as usize * self.nthreads + base + l as usize] & 1 != 0;
                if v == neg {
                    act &= !(1 << l);
                }
            }
        }
        // lanes whose guard is false just move on
        let skip = mask & !act;
        let mut m = skip;
        while m != 0 {
            let l = m.trailing_zeros();
            m &= m - 1;
            self.pc[base + l as usize] = pc + 1;
        }
        let uniform_skip = if act == 0 { Some(pc + 1) } else { None };
        if self.wg.on {
            self.wg_step_check(base, pc, inst, act)?;
        }
        match &inst.op {
            Op::Bra { target } => {
                let mut m = act;
                while m != 0 {
                    let l = m.trailing_zeros();
                    m &= m - 1;
                    self.pc[base + l as usize] = *target;
                }
                Ok(if act == mask {
                    Some(*target)
                } else if act == 0 {
                    Some(pc + 1)
                } else {
                    None
                })
            }
            Op::Exit => {
                let mut m = act;
                while m != 0 {
                    let l = m.trailing_zeros();
                    m &= m - 1;
                    let t = base + l as usize;
                    self.wg_exit_check(t, pc)?;
                    self.exit_thread(t).map_err(|f| self.error_at(t, pc, f))?;
                }
                Ok(uniform_skip)
            }
            Op::Trap => {
                if act != 0 {
                    let t = base + act.trailing_zeros() as usize;
                    return Err(self.error_at(t, pc, Fault::new(ErrorKind::Trap)));
                }
                Ok(uniform_skip)
            }
            Op::Ret => {
                let mut m = act;
                while m != 0 {
                    let l = m.trailing_zeros();
                    m &= m - 1;
                    if self.frames[base + l as usize].is_empty() {
                        self.wg_exit_check(base + l as usize, pc)?;
                    }
                    self.do_ret(base + l as usize)
                        .map_err(|f| self.error_at(base + l as usize, pc, f))?;
                }
                Ok(uniform_skip)
            }
            Op::Call { func, args, rets } => {
                let f = &self.p.prog.funcs[*func as usize];
                if f.entry_pc == u32::MAX {
                    let t = base + act.trailing_zeros() as usize;
                    return Err(self.error_at(
                        t,
                        pc,
                        Fault::unsupported(format!("call to external function `{}`", f.name)),
                    ));
                }
                let mut m = act;
                while m != 0 {
                    let l = m.trailing_zeros();
                    m &= m - 1;
                    let t = base + l as usize;
                    if let Err(f) = self.do_call(t, pc, *func, args, rets) {
                        return Err(self.error_at(t, pc, f));
                    }
                }
                let _ = rets;
                Ok(if act == mask {
                    Some(f.entry_pc)
                } else if act == 0 {
                    Some(pc + 1)
                } else {
                    None
                })
            }
            Op::Bar { arrive, id, count } => {
                if act == 0 {
                    return Ok(Some(pc + 1));
                }
                let t0 = base + act.trailing_zeros() as usize;
                let idv = self.rd(t0, *id);
                if idv >= 16 {
                    return Err(self.error_at(
                        t0,
                        pc,
                        Fault::new(ErrorKind::InvalidOperand(format!(
                            "barrier id {idv} (must be < 16)"
                        ))),
                    ));
                }
                let expected = match count {
                    Some(c) => self.rd(t0, *c) as u32,
                    None => self.cta_threads as u32,
                };
                let r = self.rank_of(t0);
                let b = &mut self.bars[r][idv as usize];
                if b.arrived == 0 {
                    b.expected = expected;
                }
                let mut m = act;
                while m != 0 {
                    let l = m.trailing_zeros();
                    m &= m - 1;
                    let t = base + l as usize;
                    self.bars[r][idv as usize].arrived += 1;
                    if *arrive {
                        self.pc[t] = pc + 1;
                    } else {
                        self.st[t] = LS::Bar(idv as u8);
                    }
                }
                let b = self.bars[r][idv as usize];
                if b.arrived >= b.expected {
                    self.bars[r][idv as usize].arrived = 0;
                    self.gepoch += 1;
                    for t in r * self.stride..(r + 1) * self.stride {
                        if self.st[t] == LS::Bar(idv as u8) {
                            self.st[t] = LS::Run;
                            self.pc[t] += 1;
                            self.epoch[t] = self.gepoch;
                        }
                    }
                }
                Ok(None)
            }
            Op::ClusterBarrier { wait } => self.step_blocking(base, act, pc, |c, t| {
                Ok((!c.cluster_barrier(t, *wait)?).then_some(LS::Cluster))
            }),
            Op::MbarWait { d, try_wait, .. } => self.step_blocking(base, act, pc, |c, t| {
                let (done, off) = c.mbar_wait(inst, t)?;
                if !done && *try_wait {
                    return Ok(Some(LS::Mbar(off)));
                }
                c.wr(t, *d, done as u64);
                Ok(None)
            }),
            Op::Shfl { .. }
            | Op::Vote { .. }
            | Op::Redux { .. }
            | Op::MatchAny { .. }
            | Op::MatchAll { .. }
            | Op::WarpSync { .. }
            | Op::Ldmatrix { .. }
            | Op::Stmatrix { .. }
            | Op::Mma { .. }
            | Op::MmaSp { .. }
            | Op::WgFence
            | Op::WgCommit
            | Op::WgWait { .. }
            | Op::Wgmma(_)
            | Op::SetMaxNReg { .. }
            | Op::Elect { .. } => {
                let mut m = act;
                while m != 0 {
                    let l = m.trailing_zeros();
                    m &= m - 1;
                    self.st[base + l as usize] = LS::Coll;
                }
                Ok(uniform_skip)
            }
            Op::Activemask { d } => {
                let mut m = act;
                while m != 0 {
                    let l = m.trailing_zeros();
                    m &= m - 1;
                    let t = base + l as usize;
                    self.wr(t, *d, mask as u64);
                    self.pc[t] = pc + 1;
                }
                Ok(Some(pc + 1))
            }
            _ => {
                self.acc.clear();
                self.acc_kind = AccKind::None;
                if !self.exec_group_fast(inst, base, act) {
                    let mut m = act;
                    while m != 0 {
                        let l = m.trailing_zeros();
                        m &= m - 1;
                        let t = base + l as usize;
                        if let Err(f) = self.exec_lane(inst, t, l) {
                            return Err(self.error_at(t, pc, f));
                        }
                    }
                }
                let mut m = act;
                while m != 0 {
                    let l = m.trailing_zeros();
                    m &= m - 1;
                    self.pc[base + l as usize] = pc + 1;
                }
                if !self.acc.is_empty() {
                    self.account_access();
                }
                Ok(Some(pc + 1))
            }
        }
    }

    /// A possibly blocking instruction for the active lanes: `f` answers None (the lane
    /// goes on to the next instruction) or the state it sleeps in at this one.
    fn step_blocking(
        &mut self,
        base: usize,
        act: u32,
        pc: u32,
        mut f: impl FnMut(&mut Self, usize) -> FResult<Option<LS>>,
    ) -> Result<Option<u32>, SimError> {
        let mut blocked = false;
        let mut m = act;
        while m != 0 {
            let l = m.trailing_zeros();
            m &= m - 1;
            let t = base + l as usize;
            match f(self, t) {
                Ok(None) => self.pc[t] = pc + 1,
                Ok(Some(s)) => {
                    self.st[t] = s;
                    blocked = true;
                }
                Err(e) => return Err(self.error_at(t, pc, e)),
            }
        }
        Ok(if blocked { None } else { Some(pc + 1) })
    }

    /// One lane of a non-collective instruction: memory instructions go to exec/mem.rs,
    /// the rest to exec/alu.rs.
    fn exec_lane(&mut self, inst: &Inst, t: usize, lane: u32) -> FResult<()> {
        match &inst.op {
            Op::Ld { .. }
            | Op::St { .. }
            | Op::Atom { .. }
            | Op::Cvta { .. }
            | Op::CpAsync { .. }
            | Op::CpCommit
            | Op::CpWait { .. } => self.exec_mem(inst, t, lane),
            Op::MbarInit { .. }
            | Op::MbarInval { .. }
            | Op::MbarArrive { .. }
            | Op::MbarTx { .. } => self.exec_mbar(inst, t),
            Op::BulkCopy { .. } | Op::BulkTensor { .. } | Op::BulkCommit | Op::BulkWait { .. } => {
                self.exec_bulk(inst, t)
            }
            Op::ProxyFence => {
                self.proxy_fences[t] = self.proxy_fences[t].wrapping_add(1);
                Ok(())
            }
            Op::Mapa { .. } | Op::GetCtaRank { .. } => self.exec_cluster(inst, t),
            _ => self.exec_alu(inst, t),
        }
    }

    pub fn account_access(&mut self) {
        match self.acc_kind {
            AccKind::Shared => {
                let (wf, min) = stats::shared_wavefronts(&self.acc);
                self.stats.shared_requests += 1;
                self.stats.shared_bank_conflicts += wf - min;
            }
            AccKind::Global => {
                self.stats.global_requests += 1;
                self.stats.global_sectors += stats::global_sectors(&self.acc);
            }
            AccKind::None => {}
        }
        self.acc.clear();
        self.acc_kind = AccKind::None;
    }

    fn exit_thread(&mut self, t: usize) -> FResult<()> {
        self.flush_cp(t, usize::MAX);
        self.retire_bulk(t, usize::MAX);
        self.st[t] = LS::Exit;
        self.exited += 1;
        let r = self.rank_of(t);
        self.cta_exited[r] += 1;
        if self.ncta > 1 && self.cta_exited[r] == self.cta_threads {
            self.shadow_exit_scan(r, t)?;
        }
        Ok(())
    }

    /// Push a frame for `func`; the depth, and the thread's local memory with the new frame
    /// and the registers a recursive call saves, are checked first.
    fn do_call(
        &mut self,
        t: usize,
        pc: u32,
        func: u32,
        args: &[(u32, u32)],
        _rets: &[(u32, u32)],
    ) -> FResult<()> {
        let prog = self.p.prog;
        let lim = self.p.limits;
        let f = &prog.funcs[func as usize];
        let over = |limit: Limit, requested: Option<u64>| {
            Fault::new(ErrorKind::LimitExceeded {
                limit,
                requested: requested.unwrap_or(u64::MAX),
                cap: lim.cap(limit),
            })
        };
        let depth = self.frames[t].len() as u64 + 1;
        if depth > lim.call_depth {
            return Err(over(Limit::CallDepth, Some(depth)));
        }
        let base = self.ftop[t].div_ceil(16) as u64 * 16;
        let top = base + f.frame_size as u64;
        // recursion: save the callee's registers if it is already active
        let active =
            self.frames[t].iter().any(|fr| fr.func == func) || func as usize == self.p.entry;
        let (ra, rb) = f.reg_range;
        let save = if active { (rb - ra) as u64 * 8 } else { 0 };
        let used = top
            .checked_add(self.saved_bytes[t])
            .and_then(|u| u.checked_add(save));
        if used.is_none_or(|u| u > lim.local_bytes_per_thread) {
            return Err(over(Limit::LocalBytesPerThread, used));
        }
        let top = u32::try_from(top).map_err(|_| over(Limit::LocalBytesPerThread, Some(top)))?;
        let base = base as u32;
        if self.local[t].len() < top as usize {
            let grow = top as usize - self.local[t].len();
            if self.local[t].try_reserve(grow).is_err() {
                return Err(over(Limit::LocalBytesPerThread, Some(top as u64)));
            }
            self.local[t].resize(top as usize, 0);
        }
        // copy arguments into the callee's parameter slots
        for (i, &(aoff, asize)) in args.iter().enumerate() {
            if let Some(&(poff, psize)) = f.params.get(i) {
                let n = asize.min(psize) as usize;
                let src = (self.fbase[t] + aoff) as usize;
                let dst = (base + poff) as usize;
                self.local[t].copy_within(src..src + n, dst);
            }
        }
        let saved = if active {
            self.saved_bytes[t] += save;
            Some(
                (ra..rb)
                    .map(|r| self.regs[r as usize * self.nthreads + t])
                    .collect(),
            )
        } else {
            None
        };
        self.frames[t].push(Frame {
            call_pc: pc,
            base: self.fbase[t],
            top: self.ftop[t],
            func,
            saved,
        });
        self.fbase[t] = base;
        self.ftop[t] = top;
        self.pc[t] = f.entry_pc;
        Ok(())
    }

    fn do_ret(&mut self, t: usize) -> FResult<()> {
        let Some(fr) = self.frames[t].pop() else {
            return self.exit_thread(t);
        };
        let prog = self.p.prog;
        let f = &prog.funcs[fr.func as usize];
        if let Op::Call { rets, .. } = &self.code[fr.call_pc as usize].op {
            for (i, &(roff, rsize)) in rets.iter().enumerate() {
                if let Some(&(foff, fsize)) = f.rets.get(i) {
                    let n = rsize.min(fsize) as usize;
                    let src = (self.fbase[t] + foff) as usize;
                    let dst = (fr.base + roff) as usize;
                    self.local[t].copy_within(src..src + n, dst);
                }
            }
        }
        if let Some(saved) = fr.saved {
            self.saved_bytes[t] -= saved.len() as u64 * 8;
            let (a, _) = f.reg_range;
            for (i, v) in saved.into_iter().enumerate() {
                self.regs[(a as usize + i) * self.nthreads + t] = v;
            }
        }
        self.fbase[t] = fr.base;
        self.ftop[t] = fr.top;
        self.pc[t] = fr.call_pc + 1;
        Ok(())
    }

    /// The member mask a collective at `pc` needs, as seen by lane `t`.
    fn collective_mask(&self, t: usize, inst: &Inst, exist: u32) -> u32 {
        match &inst.op {
            Op::Shfl { mask, .. }
            | Op::Vote { mask, .. }
            | Op::Redux { mask, .. }
            | Op::MatchAny { mask, .. }
            | Op::MatchAll { mask, .. }
            | Op::Elect { mask, .. }
            | Op::WarpSync { mask } => self.rd(t, *mask) as u32 & exist,
            _ => exist,
        }
    }

    /// Complete any collective whose member lanes have all arrived.
    fn try_collectives(&mut self, w: usize) -> Result<bool, SimError> {
        let (base, n) = self.warp_lanes(w);
        self.cur = base / self.stride;
        let exist = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
        let mut did = false;
        for l in 0..n {
            let t = base + l as usize;
            if self.st[t] != LS::Coll {
                continue;
            }
            let pc = self.pc[t];
            let inst = &self.code[pc as usize];
            let need = self.collective_mask(t, inst, exist);
            // mma, ldmatrix and stmatrix exchange data across all 32 lanes by position;
            // a warp with fewer threads (a block of 16, say) cannot execute them.
            let whole_warp = matches!(
                inst.op,
                Op::Mma { .. } | Op::MmaSp { .. } | Op::Ldmatrix { .. } | Op::Stmatrix { .. }
            ) || wgmma::is_wg(&inst.op);
            if whole_warp && n < 32 {
                return Err(self.error_at(
                    t,
                    pc,
                    Fault::new(ErrorKind::PartialCollective(format!(
                        "`{}` needs all 32 lanes of the warp, but this warp has {n} threads \
                         (the block's size is not a multiple of 32)",
                        inst.text
                    ))),
                ));
            }
            if need & (1 << l) == 0 {
                return Err(self.error_at(
                    t,
                    pc,
                    Fault::new(ErrorKind::PartialCollective(format!(
                        "lane {l} executes `{}` but is not in its member mask {need:#010x}",
                        inst.text
                    ))),
                ));
            }
            let mut ready = true;
            for k in 0..n {
                if need & (1 << k) == 0 {
                    continue;
                }
                let tk = base + k as usize;
                match self.st[tk] {
                    LS::Coll if self.pc[tk] == pc => {
                        if self.collective_mask(tk, inst, exist) != need {
                            return Err(self.error_at(
                                tk,
                                pc,
                                Fault::new(ErrorKind::PartialCollective(format!(
                                    "lanes {l} and {k} give different member masks to `{}`",
                                    inst.text
                                ))),
                            ));
                        }
                    }
                    LS::Exit => {
                        return Err(self.error_at(
                            t,
                            pc,
                            Fault::new(ErrorKind::PartialCollective(format!(
                                "`{}` with member mask {need:#010x}: lane {k} has exited",
                                inst.text
                            ))),
                        ))
                    }
                    _ => {
                        ready = false;
                        break;
                    }
                }
            }
            if !ready {
                continue;
            }
            if wgmma::is_wg(&inst.op) {
                // a collective of the warpgroup's four warps (exec/wgmma.rs)
                did |= self.try_warpgroup(w, pc)?;
                break;
            }
            self.exec_collective(w, pc, need)?;
            self.gstamp += 1;
            let mut m = need;
            while m != 0 {
                let k = m.trailing_zeros();
                m &= m - 1;
                let tk = base + k as usize;
                self.st[tk] = LS::Run;
                self.pc[tk] = pc + 1;
                self.wstamp[tk] = self.gstamp;
            }
            did = true;
        }
        Ok(did)
    }

    fn describe_lane(&self, t: usize) -> String {
        let line = |pc: u32| self.code.get(pc as usize).map(|i| i.line).unwrap_or(0);
        match self.st[t] {
            LS::Exit => "exited".into(),
            LS::Bar(b) => format!("waiting at barrier {b} (line {})", line(self.pc[t])),
            LS::Coll => format!(
                "waiting at `{}` (line {})",
                self.code[self.pc[t] as usize].text,
                line(self.pc[t])
            ),
            LS::Mbar(off) => format!(
                "sleeping in `{}` on the mbarrier at shared offset {off:#x} (line {})",
                self.code[self.pc[t] as usize].text,
                line(self.pc[t])
            ),
            LS::Cluster => format!(
                "waiting in barrier.cluster.wait (line {})",
                line(self.pc[t])
            ),
            LS::Run => format!("running at line {}", line(self.pc[t])),
        }
    }

    /// "; others: " and where up to four live threads that `pick` (thread, state) selects
    /// wait, for a deadlock report ("" when there are none).
    fn others(&self, pick: impl Fn(usize, LS) -> bool) -> String {
        let v: Vec<String> = (0..self.nthreads)
            .filter(|&k| self.st[k] != LS::Exit && pick(k, self.st[k]))
            .take(4)
            .map(|k| format!("{} {}", self.who(k), self.describe_lane(k)))
            .collect();
        if v.is_empty() {
            String::new()
        } else {
            format!("; others: {}", v.join("; "))
        }
    }

    fn deadlock(&self) -> SimError {
        // a partial collective first
        for w in 0..self.nwarps {
            let (base, n) = self.warp_lanes(w);
            let exist = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
            for l in 0..n {
                let t = base + l as usize;
                if self.st[t] != LS::Coll {
                    continue;
                }
                let pc = self.pc[t];
                let inst = &self.code[pc as usize];
                if wgmma::is_wg(&inst.op)
                    && (base % self.stride) / 128 * 128 + 128 <= self.cta_threads
                {
                    let w0 = w / 4 * 4;
                    let missing: Vec<String> = (w0 * 32..w0 * 32 + 128)
                        .filter(|&k| {
                            !(self.st[k] == LS::Coll
                                && wgmma::is_wg(&self.code[self.pc[k] as usize].op))
                        })
                        .take(4)
                        .map(|k| format!("{} {}", self.who(k), self.describe_lane(k)))
                        .collect();
                    if !missing.is_empty() {
                        return self.error_at(
                            t,
                            pc,
                            Fault::new(ErrorKind::PartialCollective(format!(
                                "warpgroup instruction `{}` (warpgroup {}) never completes: {}",
                                inst.text,
                                w / 4,
                                missing.join("; ")
                            ))),
                        );
                    }
                }
                let need = self.collective_mask(t, inst, exist);
                let mut missing = Vec::new();
                for k in 0..n {
                    let tk = base + k as usize;
                    if need & (1 << k) != 0 && !(self.st[tk] == LS::Coll && self.pc[tk] == pc) {
                        missing.push(format!("lane {k} {}", self.describe_lane(tk)));
                    }
                }
                return self.error_at(
                    t,
                    pc,
                    Fault::new(ErrorKind::PartialCollective(format!(
                        "`{}` with member mask {need:#010x} (warp {w}) never completes: {}",
                        inst.text,
                        missing.join("; ")
                    ))),
                );
            }
        }
        for t in 0..self.nthreads {
            if let LS::Mbar(off) = self.st[t] {
                return self.error_at(
                    t,
                    self.pc[t],
                    Fault::at(
                        ErrorKind::BarrierDeadlock(format!(
                            "mbarrier at shared offset {off:#x}: its phase never completes; barriers: {}{}",
                            self.mbar_deadlock_report(),
                            self.others(|k, _| k != t)
                        )),
                        off as u64,
                    ),
                );
            }
        }
        if let Some(t) = (0..self.nthreads).find(|&t| self.st[t] == LS::Cluster) {
            return self.error_at(
                t,
                self.pc[t],
                Fault::new(ErrorKind::BarrierDeadlock(format!(
                    "{}{}",
                    self.cluster.describe(self.ncta * self.cta_threads),
                    self.others(|_, s| s != LS::Cluster)
                ))),
            );
        }
        for t in 0..self.nthreads {
            if let LS::Bar(b) = self.st[t] {
                let r = self.rank_of(t);
                let bar = self.bars[r][b as usize];
                let exited = self.cta_exited[r];
                return self.error_at(
                    t,
                    self.pc[t],
                    Fault::new(ErrorKind::BarrierDeadlock(format!(
                        "barrier {b}: {} of {} expected threads arrived; {exited} threads exited{}",
                        bar.arrived,
                        bar.expected,
                        self.others(|_, s| s != LS::Bar(b))
                    ))),
                );
            }
        }
        SimError::Api(format!(
            "kernel `{}`: CTA {:?} made no progress",
            self.p.kernel, self.ctaid
        ))
    }

    /// Apply the oldest cp.async groups until at most `keep` committed groups remain
    /// (`usize::MAX`: everything, including uncommitted copies, as at thread exit).
    pub fn flush_cp(&mut self, t: usize, keep: usize) {
        if keep == usize::MAX {
            let open = std::mem::take(&mut self.cp[t].open);
            self.cp[t].groups.push_back(open);
            while let Some(g) = self.cp[t].groups.pop_front() {
                self.apply_cp(t, &g);
            }
            return;
        }
        while self.cp[t].groups.len() > keep {
            if let Some(g) = self.cp[t].groups.pop_front() {
                self.apply_cp(t, &g);
            }
        }
    }

    fn apply_cp(&mut self, t: usize, g: &[CpCopy]) {
        for c in g {
            let d = c.dst as usize;
            let n = c.len as usize;
            if self.shared_fits(d as u64, n as u64) {
                self.shared[d..d + n].copy_from_slice(&c.data[..n]);
                self.shadow_retire(t, d as u64, n as u64);
            }
        }
    }
}

pub(crate) fn unsupported<T>(s: &str) -> FResult<T> {
    Err(Fault::unsupported(s))
}
