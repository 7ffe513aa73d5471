//! Kernel launches as data. Host code computes a [`Launch`] in plain Rust (which
//! kernel, grid, block, dynamic shared memory, arguments); an [`Executor`] runs it:
//! cudarc on a real GPU ([`crate::cuda`]) or the PTX emulator ([`crate::sim`]). So the
//! same host code, shapes and checks run on either. A third executor,
//! [`record::RecordingExecutor`], runs nothing and records the launches, to inspect
//! and time host code without a GPU. No cudarc type appears here.

use crate::abi::{Gemm90Params, GemmParams, TensorMapBytes};
use crate::error::{Error, Result};
use crate::tensor_map::TensorMapDesc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub mod record;
pub use record::RecordingExecutor;

/// One kernel argument, passed by value as the kernel's `.param` expects it.
///
/// Its struct variant makes it a few hundred bytes (the Hopper GEMM's parameters and
/// its tensor-map description): kept inline, not boxed, because a forward builds its
/// launch without a heap allocation (tests/forward_alloc.rs) and a launch holds one
/// or two arguments.
#[allow(clippy::large_enum_variant)]
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Arg {
    /// A device address (any pointer parameter).
    Ptr(u64),
    /// A 32-bit unsigned integer.
    U32(u32),
    /// A 32-bit signed integer.
    I32(i32),
    /// A 64-bit unsigned integer (not an address).
    U64(u64),
    /// A 32-bit float.
    F32(f32),
    /// A struct passed by value (`.param .align A .b8 name[N]` in the PTX).
    Struct(StructArg),
}

/// The structs kernels take by value, each declared once in src/abi.rs (Rust struct
/// and generated C declaration). Typed rather than raw bytes: the CUDA executor passes
/// the struct itself, with its Rust size and alignment, which the C side asserts equal
/// to its own; the emulator gets its bytes. One variant per struct keeps `Arg` `Copy`.
/// A struct holding a tensor map carries its description ([`TensorMapDesc`], plain
/// values): the executor encodes it at launch, the driver's way or the emulator's.
// Large by design (two tensor-map descriptions): a launch stays `Copy` and a call's
// arguments are built without a heap allocation (GemmLaunch::bind), which boxing the
// Hopper variant would give up.
#[allow(clippy::large_enum_variant)]
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum StructArg {
    /// kernels/sparse_gemm.cu's `sgemm_*` kernels.
    Gemm(GemmParams),
    /// kernels/sparse_gemm_sm90.cu's kernels: [`Gemm90Params`] with `x_map` encoded
    /// from this description.
    Gemm90 {
        /// Everything but the tensor map.
        params: GemmParams,
        /// The tensor map of X, encoded at launch.
        x_map: TensorMapDesc,
        /// The SS form's tensor map of W's row-major values, encoded at launch
        /// (`None`: the RS form, whose parameter holds zeros there).
        w_map: Option<TensorMapDesc>,
        /// Token tiles per band of the persistent kernel's tile walk
        /// ([`SparseGemmPlan::band`](crate::ops::gemm::SparseGemmPlan::band)).
        band: u32,
    },
}

impl StructArg {
    /// The kernel's parameter struct with its tensor maps encoded by `encode`.
    pub fn encode<F>(self, encode: F) -> Result<EncodedStruct>
    where
        F: Fn(&TensorMapDesc) -> Result<TensorMapBytes>,
    {
        Ok(match self {
            StructArg::Gemm(p) => EncodedStruct::Gemm(p),
            StructArg::Gemm90 {
                params,
                x_map,
                w_map,
                band,
            } => EncodedStruct::Gemm90(Gemm90Params {
                x_map: encode(&x_map)?,
                w_map: match w_map {
                    Some(m) => encode(&m)?,
                    None => TensorMapBytes([0; 128]),
                },
                g: params,
                band,
                tail: [0; 20],
            }),
        })
    }
}

/// A parameter struct as the kernel receives it (tensor maps encoded).
// Large by design: the kernel's parameter struct by value (its two 128-byte tensor
// maps), encoded per launch without a heap allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum EncodedStruct {
    /// The mma.sp GEMM's parameters.
    Gemm(GemmParams),
    /// The Hopper GEMM's parameters, its tensor map encoded.
    Gemm90(Gemm90Params),
}

impl EncodedStruct {
    /// The bytes of the kernel's parameter, as the device holds them.
    pub fn to_le_bytes(self) -> Vec<u8> {
        match self {
            EncodedStruct::Gemm(p) => p.to_le_bytes(),
            EncodedStruct::Gemm90(p) => p.to_le_bytes(),
        }
    }
}

/// A kernel launch, fully described.
///
/// `A` holds the arguments: a `Vec` (the default) for launches built per call by the
/// op builders, a fixed array for launches filled in from a template validated once
/// ([`crate::ops::gemm::GemmLaunch`]), so that a forward builds its launch without a
/// heap allocation; a slice works too. Executors take any of them
/// ([`Executor::launch`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Launch<A = Vec<Arg>> {
    /// The kernel source file stem (`kernels/<module>.cu`) that holds the kernel.
    pub module: &'static str,
    /// The `extern "C"` kernel name.
    pub kernel: &'static str,
    /// CTAs per grid dimension.
    pub grid: [u32; 3],
    /// Threads per CTA dimension.
    pub block: [u32; 3],
    /// Dynamic shared memory per CTA, in bytes.
    pub dynamic_shared_bytes: u32,
    /// Thread-block cluster dimensions (CTAs along x, y, z; the grid is a multiple of
    /// them); [`NO_CLUSTER`] for a launch without the cluster attribute.
    pub cluster: [u32; 3],
    /// The arguments in the kernel's parameter order.
    pub args: A,
}

/// The `cluster` of a [`Launch`] without cluster dimensions (clusters of one CTA).
pub const NO_CLUSTER: [u32; 3] = [1, 1, 1];

impl<A: AsRef<[Arg]>> Launch<A> {
    /// The same launch with its arguments in a `Vec` (the default form).
    pub fn to_vec(&self) -> Launch {
        self.with_args(self.args.as_ref().to_vec())
    }
}

impl<A> Launch<A> {
    /// The same kernel, grid, block and shared memory with `args` as arguments
    /// (a template with `A = ()` becomes a launch this way).
    pub fn with_args<B>(&self, args: B) -> Launch<B> {
        Launch {
            module: self.module,
            kernel: self.kernel,
            grid: self.grid,
            block: self.block,
            dynamic_shared_bytes: self.dynamic_shared_bytes,
            cluster: self.cluster,
            args,
        }
    }

    /// Threads in the whole grid.
    pub fn threads(&self) -> u64 {
        self.grid
            .iter()
            .chain(&self.block)
            .map(|&d| d as u64)
            .product()
    }
}

/// Ceiling division for grid sizes.
pub fn blocks_for(n: usize, per_block: usize) -> u32 {
    n.div_ceil(per_block).max(1) as u32
}

/// Something that owns device memory and runs launches on it.
pub trait Executor {
    /// An owned device allocation.
    type Buffer;
    /// Short name for messages ("cuda", "ptxsim").
    fn name(&self) -> &'static str;
    /// Copies host bytes into a new device allocation.
    fn upload_bytes(&self, data: &[u8]) -> Result<Self::Buffer>;
    /// A new zero-filled allocation.
    fn alloc_zeroed(&self, bytes: usize) -> Result<Self::Buffer>;
    /// Copies a whole allocation back to the host (waits for queued work).
    fn download_bytes(&self, buf: &Self::Buffer) -> Result<Vec<u8>>;
    /// The device address of an allocation, for [`Arg::Ptr`].
    fn ptr(&self, buf: &Self::Buffer) -> u64;
    /// Enqueues (GPU) or runs (emulator) a launch, whatever holds its arguments.
    fn launch<A: AsRef<[Arg]>>(&self, launch: &Launch<A>) -> Result<()>;

    /// The number of streaming multiprocessors [`crate::ops::gemm::SparseGemmPlan::choose`]
    /// plans for: the device's own count on a GPU (queried once), a fixed documented
    /// count on the emulator ([`crate::ops::gemm::DEFAULT_SM_COUNT`]).
    fn sm_count(&self) -> Result<usize>;

    /// The compute capability (major, minor) plans are chosen for
    /// ([`crate::ops::gemm::SparseGemmPlan::choose_for`]): the device's own on a GPU;
    /// 8.0 by default elsewhere (the emulator and the recording executor can be set to
    /// 9.0 to plan and run the Hopper kernels), so that plans keep the mma.sp kernels
    /// unless asked.
    fn compute_capability(&self) -> Result<(u32, u32)> {
        Ok((8, 0))
    }

    /// The device plans are chosen for: [`Executor::sm_count`] and
    /// [`Executor::compute_capability`].
    fn gemm_device(&self) -> Result<crate::ops::gemm::GemmDevice> {
        Ok(crate::ops::gemm::GemmDevice {
            sm_count: self.sm_count()?,
            compute_capability: self.compute_capability()?,
        })
    }

    /// The executor's dense f32 GEMM library, where it has one (cuBLASLt on a GPU
    /// where the library loads); `None` (the default, and the emulator) means callers
    /// launch their own kernel instead.
    ///
    /// A capability query rather than a separate trait bound: host code generic over
    /// `E: Executor` (the learner) picks the library or its own kernel at run time,
    /// with one `if let`, and executors without a library add nothing.
    fn dense_f32_gemm(&self) -> Option<&dyn DenseF32Gemm> {
        None
    }

    /// Modules loaded so far by the module cache this executor launches from
    /// ([`ModuleCache::loads`]). The cache belongs to the executor's context, not to
    /// the executor: every CUDA executor of one CUDA context shares one (so every layer
    /// and every stream of that context shares one copy of each kernel module), and
    /// [`record::RecordingExecutor::sharing_context`] models the same. 0 where the
    /// executor does not count (the emulator).
    fn module_loads(&self) -> u64 {
        0
    }

    /// Enqueues a device-to-device copy of `bytes` bytes from address `src` to
    /// address `dst` (any alignment, no overlap), in order with the executor's
    /// launches. Used to stage a misaligned input into an aligned scratch buffer
    /// ([`crate::linear::device::StreamRuntime::forward`]). The default refuses.
    fn copy_device(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        let _ = (dst, src, bytes);
        Err(Error::InvalidArgument {
            what: "copy",
            why: format!("the {} executor has no device-to-device copy", self.name()),
        })
    }

    /// Typed upload.
    fn upload<T: bytemuck::Pod>(&self, data: &[T]) -> Result<Self::Buffer> {
        self.upload_bytes(bytemuck::cast_slice(data))
    }
    /// Typed download.
    fn download<T: bytemuck::Pod + bytemuck::Zeroable>(
        &self,
        buf: &Self::Buffer,
    ) -> Result<Vec<T>> {
        let bytes = self.download_bytes(buf)?;
        let n = bytes.len() / std::mem::size_of::<T>();
        let mut out = vec![T::zeroed(); n];
        bytemuck::cast_slice_mut::<T, u8>(&mut out)
            .copy_from_slice(&bytes[..n * std::mem::size_of::<T>()]);
        Ok(out)
    }
}

/// Kernel modules loaded once and shared: the module cache of one context (a CUDA
/// context, or a group of recording executors), which every executor of that
/// context launches from. `M` is what a load yields (a loaded CUDA module; `()` for
/// the recording executor, which loads nothing but counts as if it did). Loads are
/// counted ([`ModuleCache::loads`]), so tests can check that a stack of layers on
/// several streams loads each module once.
pub struct ModuleCache<M> {
    modules: Mutex<Vec<(&'static str, M)>>,
    loads: AtomicU64,
}

impl<M> Default for ModuleCache<M> {
    fn default() -> Self {
        ModuleCache {
            modules: Mutex::new(Vec::new()),
            loads: AtomicU64::new(0),
        }
    }
}

impl<M: Clone> ModuleCache<M> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The module `name`, loaded with `load` the first time it is asked for (under
    /// the cache's lock, so two threads never load it twice). A failed load is not
    /// cached and not counted.
    pub fn get_or_load(&self, name: &'static str, load: impl FnOnce() -> Result<M>) -> Result<M> {
        let mut mods = self.modules.lock().map_err(|_| Error::InvalidArgument {
            what: "module cache",
            why: "a thread panicked while loading a module".into(),
        })?;
        if let Some((_, m)) = mods.iter().find(|(n, _)| *n == name) {
            return Ok(m.clone());
        }
        let m = load()?;
        self.loads.fetch_add(1, Ordering::Relaxed);
        mods.push((name, m.clone()));
        Ok(m)
    }

    /// Modules loaded by this cache.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }
}

/// A library GEMM on dense f32 matrices, in stream order with its executor's
/// launches ([`Executor::dense_f32_gemm`]). Dense and f32 only: the sparse 2:4 GEMM is
/// the crate's own kernel ([`crate::ops::gemm`]).
pub trait DenseF32Gemm {
    /// Enqueues C[m, n] = A[m, k] · B[k, n] (f32, row-major, f32 accumulation); `a`,
    /// `b` and `c` are device addresses of m·k, k·n and m·n f32 elements.
    fn dense_f32_row_major(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: u64,
        b: u64,
        c: u64,
    ) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_cache_loads_once_and_does_not_count_failures() {
        let cache = ModuleCache::<u32>::new();
        let err = cache.get_or_load("m", || {
            Err(Error::InvalidArgument {
                what: "module",
                why: "no".into(),
            })
        });
        assert!(err.is_err());
        assert_eq!(cache.loads(), 0);
        let calls = std::cell::Cell::new(0);
        for _ in 0..3 {
            let m = cache
                .get_or_load("m", || {
                    calls.set(calls.get() + 1);
                    Ok(7)
                })
                .unwrap();
            assert_eq!(m, 7);
        }
        assert_eq!(cache.get_or_load("n", || Ok(8)).unwrap(), 8);
        assert_eq!((calls.get(), cache.loads()), (1, 2));
    }
}
