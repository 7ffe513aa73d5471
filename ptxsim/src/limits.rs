//! Resource caps. Every size that comes from PTX text or a host-API argument is checked
//! against one of these before memory is reserved for it, so hostile input gets a typed
//! error instead of an allocation abort, an endless parse, or a host out of memory.

use std::fmt;

use crate::error::SimError;

/// Caps on what a module or a launch may ask of the host. The defaults are far above what
/// nvcc emits for real kernels (and above the GPU's own limits where those are smaller);
/// tighten them with [`Device::with_limits`](crate::Device::with_limits) and
/// [`Module::parse_with_limits`](crate::Module::parse_with_limits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Registers a function may declare (`.reg` names, `%r<N>` counting N). Default 2^16.
    pub registers_per_function: u64,
    /// Registers all functions of a module may declare together (each is a per-thread slot
    /// of every CTA's register file). Default 2^20.
    pub registers_per_module: u64,
    /// Bytes of a CTA's register file (threads x module registers x 8). Default 1 GiB.
    pub register_file_bytes: u64,
    /// Bytes of module-level `.global` and `.const` variables together. Default 256 MiB.
    pub module_bytes: u64,
    /// Bytes of one device allocation. Default 16 GiB.
    pub alloc_bytes: u64,
    /// Bytes of all live device allocations together (module globals included).
    /// Default 32 GiB.
    pub device_bytes: u64,
    /// Shared memory of one CTA, static plus dynamic. Default 227 KiB (sm_90's maximum).
    pub shared_bytes_per_cta: u64,
    /// Local memory of one thread: the kernel's frame plus every active call's frame and
    /// saved registers. Default 512 KiB (CUDA's per-thread local-memory maximum).
    pub local_bytes_per_thread: u64,
    /// Nested calls a thread may have active. Default 1024.
    pub call_depth: u64,
    /// Bytes of an entry's parameters. Default 32764 (CUDA 12.1+ on Volta and later).
    pub param_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            registers_per_function: 1 << 16,
            registers_per_module: 1 << 20,
            register_file_bytes: 1 << 30,
            module_bytes: 256 << 20,
            alloc_bytes: 16 << 30,
            device_bytes: 32 << 30,
            shared_bytes_per_cta: 227 * 1024,
            local_bytes_per_thread: 512 * 1024,
            call_depth: 1024,
            param_bytes: 32764,
        }
    }
}

/// Which cap was hit (see the [`Limits`] field of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// [`Limits::registers_per_function`].
    RegistersPerFunction,
    /// [`Limits::registers_per_module`].
    RegistersPerModule,
    /// [`Limits::register_file_bytes`].
    RegisterFileBytes,
    /// [`Limits::module_bytes`].
    ModuleBytes,
    /// [`Limits::alloc_bytes`].
    AllocBytes,
    /// [`Limits::device_bytes`].
    DeviceBytes,
    /// [`Limits::shared_bytes_per_cta`].
    SharedBytesPerCta,
    /// [`Limits::local_bytes_per_thread`].
    LocalBytesPerThread,
    /// [`Limits::call_depth`].
    CallDepth,
    /// [`Limits::param_bytes`].
    ParamBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::RegistersPerFunction => "registers_per_function",
            Limit::RegistersPerModule => "registers_per_module",
            Limit::RegisterFileBytes => "register_file_bytes",
            Limit::ModuleBytes => "module_bytes",
            Limit::AllocBytes => "alloc_bytes",
            Limit::DeviceBytes => "device_bytes",
            Limit::SharedBytesPerCta => "shared_bytes_per_cta",
            Limit::LocalBytesPerThread => "local_bytes_per_thread",
            Limit::CallDepth => "call_depth",
            Limit::ParamBytes => "param_bytes",
        })
    }
}

impl Limits {
    /// The cap of `which`.
    pub fn cap(&self, which: Limit) -> u64 {
        match which {
            Limit::RegistersPerFunction => self.registers_per_function,
            Limit::RegistersPerModule => self.registers_per_module,
            Limit::RegisterFileBytes => self.register_file_bytes,
            Limit::ModuleBytes => self.module_bytes,
            Limit::AllocBytes => self.alloc_bytes,
            Limit::DeviceBytes => self.device_bytes,
            Limit::SharedBytesPerCta => self.shared_bytes_per_cta,
            Limit::LocalBytesPerThread => self.local_bytes_per_thread,
            Limit::CallDepth => self.call_depth,
            Limit::ParamBytes => self.param_bytes,
        }
    }

    /// `Ok` when `requested` (None: the computation overflowed) fits under the cap of `which`;
    /// `line` is the PTX line that asked, if any.
    pub(crate) fn check(
        &self,
        which: Limit,
        requested: Option<u64>,
        line: Option<u32>,
    ) -> Result<u64, SimError> {
        let cap = self.cap(which);
        match requested {
            Some(r) if r <= cap => Ok(r),
            r => Err(SimError::Limit {
                limit: which,
                requested: r.unwrap_or(u64::MAX),
                cap,
                line,
            }),
        }
    }
}
