//! Execution on a real GPU through cudarc. cudarc panics when libcuda is missing, so
//! every path starts at [`context`] (device 0) or [`context_on`] (any device), which
//! probe once per device and return [`Error::NoCudaDevice`] instead.
//!
//! Kernel modules are loaded once per CUDA context and code choice, and shared by
//! every [`CudaExecutor`] of that context (so by every layer and every stream):
//! [`module_loads`] counts the loads the process made.

pub mod blaslt;
mod cluster;
mod loader;
mod tensor_map;

/// The driver's encoding of a tensor-map description (`cuTensorMapEncodeTiled`),
/// what the CUDA executor does for every launch that carries one; public so that its
/// host cost can be measured (examples/hopper-roofline) and engines can encode maps
/// themselves.
pub fn encode_tensor_map(
    d: &crate::tensor_map::TensorMapDesc,
) -> Result<crate::abi::TensorMapBytes> {
    tensor_map::encode(d)
}

use crate::abi::{Gemm90Params, GemmParams};
use crate::error::{Error, Result};
use crate::kernels;
use crate::launch::{Arg, DenseF32Gemm, EncodedStruct, Executor, Launch, ModuleCache};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
    PushKernelArg,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Minimum compute capability: `mma.sp` needs sm_80.
pub const MIN_COMPUTE_CAPABILITY: (i32, i32) = (8, 0);

fn probe(ordinal: usize) -> std::result::Result<Arc<CudaContext>, String> {
    // Only tries to dlopen libcuda; no driver call is made if absent.
    if !loader::present("cuda") {
        return Err("libcuda is not present on this machine".into());
    }
    let count = CudaContext::device_count().map_err(|e| format!("cuDeviceGetCount: {e}"))?;
    if count < 1 {
        return Err("the CUDA driver reports no device".into());
    }
    if ordinal >= count as usize {
        return Err(format!(
            "device {ordinal} does not exist: the CUDA driver reports {count} device(s)"
        ));
    }
    let ctx = CudaContext::new(ordinal)
        .map_err(|e| format!("creating a context on device {ordinal}: {e}"))?;
    let cc = ctx.compute_capability().map_err(|e| e.to_string())?;
    if cc < MIN_COMPUTE_CAPABILITY {
        return Err(format!(
            "device {ordinal} has compute capability {}.{}; sparse24 needs 8.0 or newer",
            cc.0, cc.1
        ));
    }
    Ok(ctx)
}

/// The CUDA context (the primary context, as cudarc creates it) of device
/// `ordinal`, probed once per process and device; [`Error::NoCudaDevice`] when
/// there is no driver, no such device, or the device is older than
/// [`MIN_COMPUTE_CAPABILITY`].
///
/// Layers live on the device their weights were uploaded to (the context of the
/// stream of their first forward or [`crate::linear::SparseLinear::to_device`]); a
/// forward on a stream of another context is an error.
pub fn context_on(ordinal: usize) -> Result<Arc<CudaContext>> {
    type Probed = std::result::Result<Arc<CudaContext>, String>;
    static CTXS: Mutex<Vec<(usize, Probed)>> = Mutex::new(Vec::new());
    let mut ctxs = CTXS
        .lock()
        .map_err(|_| Error::cuda("a thread panicked while probing a CUDA device"))?;
    if let Some((_, p)) = ctxs.iter().find(|(o, _)| *o == ordinal) {
        return p.clone().map_err(Error::NoCudaDevice);
    }
    let p = probe(ordinal);
    ctxs.push((ordinal, p.clone()));
    p.map_err(Error::NoCudaDevice)
}

/// The CUDA context of device 0 ([`context_on`]`(0)`).
pub fn context() -> Result<Arc<CudaContext>> {
    context_on(0)
}

/// Whether a usable CUDA device (device 0) is present.
pub fn available() -> bool {
    context().is_ok()
}

/// CUDA devices the driver reports (0 without a driver).
pub fn device_count() -> usize {
    if !loader::present("cuda") {
        return 0;
    }
    CudaContext::device_count().map_or(0, |n| n.max(0) as usize)
}

/// The module cache of one CUDA context: its loaded modules, keyed by context and
/// code choice. Entries live for the process (a module keeps its context alive, so a
/// context's address is never reused while its entry exists).
type ContextModules = Arc<ModuleCache<Arc<CudaModule>>>;

fn context_modules(ctx: &Arc<CudaContext>, code: CodeChoice) -> Result<ContextModules> {
    static REGISTRY: Mutex<Vec<(usize, CodeChoice, ContextModules)>> = Mutex::new(Vec::new());
    let key = ctx.cu_ctx() as usize;
    let mut reg = REGISTRY
        .lock()
        .map_err(|_| Error::cuda("a thread panicked while registering a module cache"))?;
    if let Some((_, _, m)) = reg.iter().find(|(k, c, _)| *k == key && *c == code) {
        return Ok(m.clone());
    }
    let m = ContextModules::default();
    reg.push((key, code, m.clone()));
    Ok(m)
}

static MODULE_LOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Kernel modules this process has loaded into CUDA contexts (`cuModuleLoadData`
/// calls made by [`CudaExecutor`]s): one per module, context and [`CodeChoice`] used,
/// however many layers and streams run.
pub fn module_loads() -> u64 {
    MODULE_LOADS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Which code a module is loaded from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum CodeChoice {
    /// The fatbin: the driver picks the device's machine code.
    #[default]
    Fatbin,
    /// The compute_80 PTX, JIT-compiled by the driver: the code path an A100-era
    /// build without matching machine code takes, exercised on any GPU.
    Ptx,
}

/// Runs [`Launch`]es on one stream of a real GPU.
pub struct CudaExecutor {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    code: CodeChoice,
    /// The context's module cache (shared with every executor of the context).
    modules: ContextModules,
    functions: Mutex<HashMap<(&'static str, &'static str), CudaFunction>>,
    /// The device's SM count, queried on first use ([`Executor::sm_count`]).
    sm_count: OnceLock<usize>,
    /// Whether cuBLASLt loads, probed on first use ([`Executor::dense_f32_gemm`]).
    blaslt_present: OnceLock<bool>,
    /// cuBLASLt set-ups per (m, n, k) of [`DenseF32Gemm::dense_f32_row_major`].
    dense_f32: Mutex<HashMap<(usize, usize, usize), blaslt::RowMajorF32Gemm>>,
}

impl CudaExecutor {
    /// An executor on a new stream of device 0.
    pub fn new(code: CodeChoice) -> Result<CudaExecutor> {
        let ctx = context()?;
        let stream = ctx.new_stream()?;
        Ok(Self::on_stream(stream, code))
    }

    /// An executor on the caller's stream. It launches from the module cache of
    /// the stream's context (loaded once per context, shared by every executor on it).
    pub fn on_stream(stream: Arc<CudaStream>, code: CodeChoice) -> CudaExecutor {
        let ctx = stream.context().clone();
        // The registry lock is only poisoned if a thread panicked inside it; fall
        // back to a private cache rather than fail (it still loads once per executor).
        let modules = context_modules(&ctx, code).unwrap_or_default();
        CudaExecutor {
            ctx,
            stream,
            code,
            modules,
            functions: Mutex::new(HashMap::new()),
            sm_count: OnceLock::new(),
            blaslt_present: OnceLock::new(),
            dense_f32: Mutex::new(HashMap::new()),
        }
    }

    /// The stream this executor enqueues on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    fn function(&self, module: &'static str, kernel: &'static str) -> Result<CudaFunction> {
        let mut fns = self
            .functions
            .lock()
            .map_err(|_| Error::cuda("lock poisoned"))?;
        if let Some(f) = fns.get(&(module, kernel)) {
            return Ok(f.clone());
        }
        let m = self.modules.get_or_load(module, || {
            let em = kernels::module(module)?;
            let image = match self.code {
                CodeChoice::Fatbin => cudarc::nvrtc::Ptx::from_binary(em.fatbin.to_vec()),
                CodeChoice::Ptx => cudarc::nvrtc::Ptx::from_src(em.ptx),
            };
            let m = self.ctx.load_module(image)?;
            MODULE_LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(m)
        })?;
        let f = m.load_function(kernel).map_err(|e| Error::UnknownKernel {
            module: module.to_string(),
            kernel: format!("{kernel} ({e})"),
        })?;
        fns.insert((module, kernel), f.clone());
        Ok(f)
    }
}

// SAFETY: cudarc passes a `&GemmParams` to cuLaunchKernel as the pointer to the
// parameter's value, and the driver copies the kernel's parameter size from it. That
// size is sizeof(GemmParams) on the C side, which sparse24_abi.cuh asserts equal to
// `size_of::<GemmParams>()` (and every field offset and size equal to Rust's), so the
// driver reads exactly this struct. It is `#[repr(C)]` plain data (u64 addresses, u32
// and f32) with no padding (a compile-time check in src/abi.rs), so all its bytes are
// initialised, and the host is little-endian like the device (asserted below).
unsafe impl cudarc::driver::DeviceRepr for GemmParams {}

// SAFETY: as for GemmParams: `#[repr(C, align(64))]`-compatible plain data (the
// driver-encoded CUtensorMap bytes, a GemmParams, explicit padding) whose size,
// alignment and field offsets sparse24_abi.cuh asserts equal on the C side.
unsafe impl cudarc::driver::DeviceRepr for Gemm90Params {}

/// Struct arguments one launch may carry (every kernel takes at most one).
const MAX_STRUCT_ARGS: usize = 2;

// Structs go to the driver as host memory images: the host must store them as the
// device does.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "kernel parameter structs need a little-endian host"
);

impl Executor for CudaExecutor {
    type Buffer = CudaSlice<u8>;

    fn name(&self) -> &'static str {
        "cuda"
    }

    fn upload_bytes(&self, data: &[u8]) -> Result<CudaSlice<u8>> {
        if data.is_empty() {
            return Ok(self.stream.alloc_zeros::<u8>(1)?);
        }
        Ok(self.stream.clone_htod(data)?)
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<CudaSlice<u8>> {
        Ok(self.stream.alloc_zeros::<u8>(bytes.max(1))?)
    }

    fn download_bytes(&self, buf: &CudaSlice<u8>) -> Result<Vec<u8>> {
        Ok(self.stream.clone_dtoh(buf)?)
    }

    fn ptr(&self, buf: &CudaSlice<u8>) -> u64 {
        let (p, _sync) = buf.device_ptr(&self.stream);
        p
    }

    fn launch<A: AsRef<[Arg]>>(&self, l: &Launch<A>) -> Result<()> {
        let f = self.function(l.module, l.kernel)?;
        if l.dynamic_shared_bytes > 48 * 1024 {
            f.set_attribute(
                cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                l.dynamic_shared_bytes as i32,
            )?;
        }
        // Structs with their tensor maps encoded by the driver, before the builder
        // borrows them; a fixed array, so a forward allocates nothing.
        let mut encoded: [Option<EncodedStruct>; MAX_STRUCT_ARGS] = [None; MAX_STRUCT_ARGS];
        let mut n = 0;
        for a in l.args.as_ref() {
            if let Arg::Struct(s) = a {
                let slot = encoded.get_mut(n).ok_or(Error::InvalidArgument {
                    what: "launch",
                    why: format!("more than {MAX_STRUCT_ARGS} struct arguments"),
                })?;
                *slot = Some(s.encode(tensor_map::encode)?);
                n += 1;
            }
        }
        if l.cluster != crate::launch::NO_CLUSTER {
            // cudarc's builder has no launch attributes (cluster.rs)
            let structs: Vec<EncodedStruct> = encoded.iter().flatten().copied().collect();
            return cluster::launch(&self.ctx, &self.stream, &f, l, &structs);
        }
        let mut structs = encoded.iter().flatten();
        let mut b = self.stream.launch_builder(&f);
        for a in l.args.as_ref() {
            match a {
                Arg::Ptr(v) | Arg::U64(v) => b.arg(v),
                Arg::U32(v) => b.arg(v),
                Arg::I32(v) => b.arg(v),
                Arg::F32(v) => b.arg(v),
                Arg::Struct(_) => match structs.next() {
                    Some(EncodedStruct::Gemm(p)) => b.arg(p),
                    Some(EncodedStruct::Gemm90(p)) => b.arg(p),
                    None => {
                        return Err(Error::InvalidArgument {
                            what: "launch",
                            why: "a struct argument was not encoded".into(),
                        })
                    }
                },
            };
        }
        let cfg = LaunchConfig {
            grid_dim: (l.grid[0], l.grid[1], l.grid[2]),
            block_dim: (l.block[0], l.block[1], l.block[2]),
            shared_mem_bytes: l.dynamic_shared_bytes,
        };
        // SAFETY: the launch was computed by this crate's host code for this kernel:
        // argument count and types follow its signature, and every pointer argument
        // refers to an allocation sized for the launch's shape.
        unsafe { b.launch(cfg) }?;
        Ok(())
    }

    fn sm_count(&self) -> Result<usize> {
        if let Some(&n) = self.sm_count.get() {
            return Ok(n);
        }
        let n = self.ctx.attribute(
            cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
        )?;
        Ok(*self.sm_count.get_or_init(|| n.max(1) as usize))
    }

    fn module_loads(&self) -> u64 {
        self.modules.loads()
    }

    fn compute_capability(&self) -> Result<(u32, u32)> {
        let (major, minor) = self.ctx.compute_capability()?;
        Ok((major.max(0) as u32, minor.max(0) as u32))
    }

    /// `cuMemcpyDtoDAsync` on the executor's stream.
    fn copy_device(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        self.ctx.bind_to_thread()?;
        // SAFETY: the caller (this crate's forward) passes addresses of live
        // allocations of the stream's context, each with at least `bytes` bytes
        // (checked lengths), enqueued on the stream that orders their other uses.
        unsafe {
            cudarc::driver::result::memcpy_dtod_async(dst, src, bytes, self.stream.cu_stream())
        }?;
        Ok(())
    }

    fn dense_f32_gemm(&self) -> Option<&dyn DenseF32Gemm> {
        let present = *self.blaslt_present.get_or_init(blaslt::present);
        present.then_some(self as &dyn DenseF32Gemm)
    }
}

/// cuBLASLt (f32 compute) on the executor's stream, one set-up per shape, cached.
impl DenseF32Gemm for CudaExecutor {
    fn dense_f32_row_major(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: u64,
        b: u64,
        c: u64,
    ) -> Result<()> {
        let mut cache = self
            .dense_f32
            .lock()
            .map_err(|_| Error::cuda("a thread panicked while using cuBLASLt"))?;
        let g = match cache.entry((m, n, k)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(blaslt::RowMajorF32Gemm::new(&self.stream, m, n, k)?)
            }
        };
        g.enqueue(&self.stream, a, b, c)
    }
}
