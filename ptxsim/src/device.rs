//! Host API: simulated device memory, modules and launches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::decode::{self, Program};
use crate::error::SimError;
use crate::exec::{self, CtaParams};
use crate::limits::{Limit, Limits};
use crate::memory::GlobalMem;
use crate::parse;
use crate::stats::LaunchStats;

static MODULE_IDS: AtomicU64 = AtomicU64::new(1);

/// A parsed and decoded PTX module.
#[derive(Debug, Clone)]
pub struct Module {
    pub(crate) prog: Program,
    pub(crate) id: u64,
}

impl Module {
    /// Parse PTX text (as emitted by nvcc), under the default [`Limits`].
    pub fn parse(src: &str) -> Result<Module, SimError> {
        Module::parse_with_limits(src, &Limits::default())
    }

    /// Parse PTX text under `limits` (registers, module memory, shared, local and parameter
    /// sizes are checked while parsing, before anything is allocated for them).
    pub fn parse_with_limits(src: &str, limits: &Limits) -> Result<Module, SimError> {
        let raw = parse::parse_module(src, limits)?;
        let prog = decode::build(raw, limits)?;
        Ok(Module {
            prog,
            id: MODULE_IDS.fetch_add(1, Ordering::Relaxed),
        })
    }
    /// Instructions this emulator cannot execute, as (PTX line, reason). An empty list means
    /// every instruction of the module decoded; faults are still reported at run time.
    pub fn unsupported(&self) -> Vec<(u32, String)> {
        self.prog
            .code
            .iter()
            .filter_map(|i| match &i.op {
                crate::ir::Op::Unsupported(s) => Some((i.line, s.clone())),
                _ => None,
            })
            .collect()
    }

    /// Names of the `.entry` functions.
    pub fn kernel_names(&self) -> Vec<String> {
        self.prog
            .funcs
            .iter()
            .filter(|f| f.is_entry && f.entry_pc != u32::MAX)
            .map(|f| f.name.clone())
            .collect()
    }
}

/// Grid and block shape of a launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchConfig {
    /// CTAs along x, y, z.
    pub grid: [u32; 3],
    /// Threads per CTA along x, y, z.
    pub block: [u32; 3],
    /// Dynamic shared memory per CTA, in bytes.
    pub dynamic_shared_bytes: u32,
    /// Run just these CTAs (None: all of the grid); with clusters, the clusters that hold
    /// them.
    pub only_ctas: Option<Vec<[u32; 3]>>,
    /// Thread-block cluster dimensions (CTAs along x, y, z), as a launch with the cluster
    /// dimension attribute gives them: the grid must be a multiple of them, and a cluster
    /// holds at most 8 CTAs (16 with [`Device::allow_non_portable_cluster_size`]). The CTAs
    /// of a cluster run together. None: the implicit clusters of one CTA
    /// (`%is_explicit_cluster` 0).
    pub cluster: Option<[u32; 3]>,
}

impl LaunchConfig {
    /// A 1-D launch.
    pub fn linear(grid: u32, block: u32) -> LaunchConfig {
        LaunchConfig {
            grid: [grid, 1, 1],
            block: [block, 1, 1],
            dynamic_shared_bytes: 0,
            only_ctas: None,
            cluster: None,
        }
    }
}

/// The most CTAs a cluster may hold portably, and with the non-portable size allowed
/// (CUDA: `cudaFuncAttributeNonPortableClusterSizeAllowed`, on sm_90).
pub const MAX_PORTABLE_CLUSTER: u32 = 8;
/// See [`MAX_PORTABLE_CLUSTER`].
pub const MAX_CLUSTER: u32 = 16;

/// A kernel argument, matched positionally to the entry's `.param`s.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A `.u8` / `.b8` parameter.
    U8(u8),
    /// A `.u16` / `.b16` parameter.
    U16(u16),
    /// A `.u32` / `.b32` parameter.
    U32(u32),
    /// A `.u64` / `.b64` parameter (device pointers too).
    U64(u64),
    /// A `.s32` parameter.
    I32(i32),
    /// A `.s64` parameter.
    I64(i64),
    /// A `.f32` parameter.
    F32(f32),
    /// A `.f64` parameter.
    F64(f64),
    /// Raw bytes (struct parameters).
    Bytes(Vec<u8>),
}

impl Param {
    /// The variant's name, for messages that must not print a whole `Bytes` argument.
    fn kind(&self) -> &'static str {
        match self {
            Param::U8(_) => "U8",
            Param::U16(_) => "U16",
            Param::U32(_) => "U32",
            Param::U64(_) => "U64",
            Param::I32(_) => "I32",
            Param::I64(_) => "I64",
            Param::F32(_) => "F32",
            Param::F64(_) => "F64",
            Param::Bytes(_) => "Bytes",
        }
    }
    fn bytes(&self) -> Vec<u8> {
        match self {
            Param::U8(v) => vec![*v],
            Param::U16(v) => v.to_le_bytes().to_vec(),
            Param::U32(v) => v.to_le_bytes().to_vec(),
            Param::U64(v) => v.to_le_bytes().to_vec(),
            Param::I32(v) => v.to_le_bytes().to_vec(),
            Param::I64(v) => v.to_le_bytes().to_vec(),
            Param::F32(v) => v.to_le_bytes().to_vec(),
            Param::F64(v) => v.to_le_bytes().to_vec(),
            Param::Bytes(b) => b.clone(),
        }
    }
}

#[derive(Debug, Default)]
/// An emulated GPU: global memory, loaded modules' globals, and the limits and budgets its launches run under.
pub struct Device {
    pub(crate) mem: GlobalMem,
    module_globals: HashMap<(u64, u32), u64>,
    instruction_limit: Option<u64>,
    threads: Option<usize>,
    limits: Limits,
    non_portable_cluster: bool,
}

impl Device {
    /// A device with empty memory and the default [`Limits`](crate::Limits).
    pub fn new() -> Device {
        Device::default()
    }

    /// A device whose allocations and launches are held to `limits`.
    pub fn with_limits(limits: Limits) -> Device {
        Device {
            limits,
            ..Device::default()
        }
    }

    /// Change the limits (allocations already made stay).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits allocations and launches are held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Allow clusters of up to [`MAX_CLUSTER`] CTAs (default: [`MAX_PORTABLE_CLUSTER`]), as
    /// the non-portable-cluster-size function attribute does on a GPU.
    pub fn allow_non_portable_cluster_size(&mut self, allow: bool) {
        self.non_portable_cluster = allow;
    }

    /// Limit the thread-instructions a single CTA (a cluster, with cluster dimensions) may
    /// execute (catches infinite loops).
    /// Default: 10^10.
    pub fn set_instruction_limit(&mut self, limit: Option<u64>) {
        self.instruction_limit = limit;
    }

    /// Host threads that run a launch's CTAs: `Some(n)` (1 = sequentially on the calling
    /// thread), or `None` (the default) for `PTXSIM_THREADS` from the environment when set,
    /// else `std::thread::available_parallelism()`.
    pub fn set_threads(&mut self, threads: Option<usize>) {
        self.threads = threads.map(|n| n.max(1));
    }

    /// The number of host threads a launch uses (see [`Device::set_threads`]).
    pub fn workers(&self) -> usize {
        self.threads
            .or_else(|| {
                std::env::var("PTXSIM_THREADS")
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
            })
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
            .max(1)
    }

    /// Allocate `bytes` of zeroed global memory; the address is 256-byte aligned, never 0.
    /// Fails with [`SimError::Limit`] beyond [`Limits::alloc_bytes`] or
    /// [`Limits::device_bytes`].
    pub fn alloc(&mut self, bytes: usize) -> Result<u64, SimError> {
        self.mem.alloc(bytes as u64, &self.limits)
    }

    /// Free an allocation (by its base address).
    pub fn free(&mut self, ptr: u64) -> Result<(), SimError> {
        match self.mem.free(ptr) {
            true => Ok(()),
            false => Err(SimError::Api(format!(
                "free of {ptr:#x}, which is not the start of an allocation"
            ))),
        }
    }

    /// Copy host bytes to device memory; `ptr` may point inside an allocation.
    pub fn write(&mut self, ptr: u64, data: &[u8]) -> Result<(), SimError> {
        match self.mem.slice_mut(ptr, data.len() as u64) {
            Some(s) => {
                s.copy_from_slice(data);
                Ok(())
            }
            None => Err(SimError::Api(format!(
                "write of {} bytes at {ptr:#x} is out of bounds{}",
                data.len(),
                self.mem.describe(ptr, data.len() as u64)
            ))),
        }
    }

    /// Copy device memory to the host.
    pub fn read(&self, ptr: u64, len: usize) -> Result<Vec<u8>, SimError> {
        // bounds first: the length is only allocated once an allocation holds it
        match self.mem.find(ptr, len as u64) {
            Some(s) => Ok(s.iter().map(|b| b.load(Ordering::Relaxed)).collect()),
            None => Err(SimError::Api(format!(
                "read of {len} bytes at {ptr:#x} is out of bounds{}",
                self.mem.describe(ptr, len as u64)
            ))),
        }
    }

    /// Run a kernel. CTAs run on [`Device::workers`] host threads; the counters are summed
    /// over the CTAs and a failure reports the lowest-numbered failing CTA (x fastest).
    pub fn launch(
        &mut self,
        module: &Module,
        kernel: &str,
        cfg: &LaunchConfig,
        params: &[Param],
    ) -> Result<LaunchStats, SimError> {
        let prog = &module.prog;
        let fidx = prog
            .funcs
            .iter()
            .position(|f| f.is_entry && f.name == kernel && f.entry_pc != u32::MAX)
            .ok_or_else(|| SimError::Api(format!("no kernel named `{kernel}` in the module")))?;
        let func = &prog.funcs[fidx];
        if params.len() != func.params.len() {
            return Err(SimError::Api(format!(
                "kernel `{kernel}` takes {} parameters, {} given",
                func.params.len(),
                params.len()
            )));
        }
        // the module may have been parsed under other limits than this device's
        let lim = &self.limits;
        lim.check(Limit::RegistersPerFunction, Some(prog.max_func_regs), None)?;
        lim.check(Limit::RegistersPerModule, Some(prog.nslots as u64), None)?;
        lim.check(Limit::ModuleBytes, Some(prog.module_bytes), None)?;
        lim.check(
            Limit::LocalBytesPerThread,
            Some(func.frame_size as u64),
            None,
        )?;
        let param_end = func.params.iter().map(|&(o, s)| o as u64 + s as u64).max();
        lim.check(Limit::ParamBytes, Some(param_end.unwrap_or(0)), None)?;
        let mut pbuf = Vec::new();
        for (i, (p, &(off, size))) in params.iter().zip(&func.params).enumerate() {
            let b = p.bytes();
            if b.len() != size as usize {
                // sizes only: a `Bytes` argument may be megabytes
                return Err(SimError::Api(format!(
                    "kernel `{kernel}` parameter {i} is {size} bytes, the {} argument is {} bytes",
                    p.kind(),
                    b.len()
                )));
            }
            let end = off as usize + b.len();
            if pbuf.len() < end {
                pbuf.resize(end, 0);
            }
            pbuf[off as usize..end].copy_from_slice(&b);
        }
        let nthreads = cfg.block[0] as u64 * cfg.block[1] as u64 * cfg.block[2] as u64;
        if nthreads == 0 || nthreads > 1024 {
            return Err(SimError::Api(format!(
                "block {:?} has {nthreads} threads (must be 1..=1024)",
                cfg.block
            )));
        }
        if cfg.grid.contains(&0) {
            return Err(SimError::Api(format!("grid {:?} is empty", cfg.grid)));
        }
        // CUDA's grid limits; they also keep the CTA count within a u64
        if cfg.grid[0] > i32::MAX as u32 || cfg.grid[1] > 65535 || cfg.grid[2] > 65535 {
            return Err(SimError::Api(format!(
                "grid {:?} exceeds (2^31-1, 65535, 65535)",
                cfg.grid
            )));
        }
        let cluster = self.check_cluster(cfg)?;
        let ncta = cluster.iter().map(|&c| c as u64).product::<u64>();
        let reg_bytes = nthreads
            .next_multiple_of(if ncta > 1 { 128 } else { 1 })
            .checked_mul(ncta)
            .and_then(|r| r.checked_mul(prog.nslots as u64))
            .and_then(|r| r.checked_mul(8));
        self.limits
            .check(Limit::RegisterFileBytes, reg_bytes, None)?;
        // module globals: allocated and initialised on first use on this device
        let mut gaddr = Vec::with_capacity(prog.global_vars.len());
        for (i, g) in prog.global_vars.iter().enumerate() {
            let key = (module.id, i as u32);
            let a = match self.module_globals.get(&key) {
                Some(&a) => a,
                None => {
                    let a = self.mem.alloc(g.size, &self.limits)?;
                    if let Some(s) = self.mem.slice_mut(a, g.init.len() as u64) {
                        s.copy_from_slice(&g.init);
                    }
                    self.module_globals.insert(key, a);
                    a
                }
            };
            gaddr.push(a);
        }
        // shared layout of this kernel: variables referenced by reachable functions
        let mut reach = vec![false; prog.funcs.len()];
        let mut stack = vec![fidx];
        while let Some(f) = stack.pop() {
            if reach[f] {
                continue;
            }
            reach[f] = true;
            for &c in &prog.func_calls[f] {
                stack.push(c as usize);
            }
        }
        let mut saddr = vec![0u32; prog.shared_vars.len()];
        let mut off = 0u64;
        let mut ext_align = 16u64;
        let mut externs = Vec::new();
        for (f, r) in reach.iter().enumerate() {
            if !r {
                continue;
            }
            for &v in &prog.func_shared[f] {
                let sv = &prog.shared_vars[v as usize];
                if sv.is_extern {
                    ext_align = ext_align.max(sv.align as u64);
                    externs.push(v);
                    continue;
                }
                let start = crate::decode::align_up(off, sv.align as u64);
                off = self.limits.check(
                    Limit::SharedBytesPerCta,
                    start.and_then(|s| s.checked_add(sv.size)),
                    None,
                )?;
                saddr[v as usize] = u32::try_from(start.unwrap_or(0)).map_err(|_| {
                    SimError::Api(format!("kernel `{kernel}`: shared memory beyond 4 GiB"))
                })?;
            }
        }
        let static_bytes = self.limits.check(
            Limit::SharedBytesPerCta,
            crate::decode::align_up(off, ext_align),
            None,
        )?;
        let shared_bytes = self.limits.check(
            Limit::SharedBytesPerCta,
            static_bytes.checked_add(cfg.dynamic_shared_bytes as u64),
            None,
        )?;
        let (static32, shared32) = match (u32::try_from(static_bytes), u32::try_from(shared_bytes))
        {
            (Ok(a), Ok(b)) => (a, b),
            _ => {
                return Err(SimError::Api(format!(
                    "kernel `{kernel}`: shared memory beyond 4 GiB"
                )))
            }
        };
        for v in externs {
            saddr[v as usize] = static32;
        }
        // ptxsim's shared::cluster addresses hold a 24-bit offset (exec/cluster.rs)
        if ncta > 1 && shared_bytes > 1 << 24 {
            return Err(SimError::Api(format!(
                "kernel `{kernel}`: clusters of CTAs with {shared_bytes} bytes of shared memory each (ptxsim's cluster windows hold 16 MiB)"
            )));
        }
        let mut origins = Vec::new();
        let ctas = match &cfg.only_ctas {
            Some(v) => {
                for c in v {
                    if c[0] >= cfg.grid[0] || c[1] >= cfg.grid[1] || c[2] >= cfg.grid[2] {
                        return Err(SimError::Api(format!(
                            "only_ctas entry {c:?} is outside the grid {:?}",
                            cfg.grid
                        )));
                    }
                    let o = [0, 1, 2].map(|d| c[d] / cluster[d] * cluster[d]);
                    if !origins.contains(&o) {
                        origins.push(o);
                    }
                }
                exec::CtaList::List(&origins)
            }
            // never materialised: a 2^31 x 65535 x 65535 grid must not cost memory
            None => exec::CtaList::Grid(cfg.grid, cluster),
        };
        let cp = CtaParams {
            prog,
            kernel,
            entry: fidx,
            ntid: cfg.block,
            nctaid: cfg.grid,
            params: &pbuf,
            global_addrs: &gaddr,
            shared_addrs: &saddr,
            shared_bytes: shared32,
            dynamic_bytes: cfg.dynamic_shared_bytes,
            cluster,
            explicit_cluster: cfg.cluster.is_some(),
            limit: self.instruction_limit.unwrap_or(10_000_000_000),
            limits: &self.limits,
        };
        exec::run_grid(&cp, &self.mem, ctas, self.workers())
    }

    /// The launch's cluster dimensions, checked against its grid and the size limit.
    fn check_cluster(&self, cfg: &LaunchConfig) -> Result<[u32; 3], SimError> {
        let Some(c) = cfg.cluster else {
            return Ok([1, 1, 1]);
        };
        let cap = if self.non_portable_cluster {
            MAX_CLUSTER
        } else {
            MAX_PORTABLE_CLUSTER
        };
        let size = c.iter().map(|&d| d as u64).product::<u64>();
        if c.contains(&0) || size > cap as u64 {
            return Err(SimError::Cluster {
                grid: cfg.grid,
                cluster: c,
                reason: if c.contains(&0) {
                    "a cluster dimension is 0".into()
                } else if size <= MAX_CLUSTER as u64 {
                    format!("{size} CTAs per cluster exceed the portable {MAX_PORTABLE_CLUSTER} (Device::allow_non_portable_cluster_size allows {MAX_CLUSTER})")
                } else {
                    format!("{size} CTAs per cluster exceed {MAX_CLUSTER}")
                },
            });
        }
        if (0..3).any(|d| !cfg.grid[d].is_multiple_of(c[d])) {
            return Err(SimError::Cluster {
                grid: cfg.grid,
                cluster: c,
                reason: "the grid is not a multiple of the cluster dimensions".into(),
            });
        }
        Ok(c)
    }
}
