//! Execution on a real GPU through cudarc. cudarc panics when libcuda is missing, so
//! every path starts at [`context`], which probes once and returns
//! [`Error::NoCudaDevice`] instead.

pub mod blaslt;
mod loader;

use crate::abi::GemmParams;
use crate::error::{Error, Result};
use crate::kernels;
use crate::launch::{Arg, DenseF32Gemm, Executor, Launch, StructArg};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
    PushKernelArg,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Minimum compute capability: `mma.sp` needs sm_80.
pub const MIN_COMPUTE_CAPABILITY: (i32, i32) = (8, 0);

fn probe() -> std::result::Result<Arc<CudaContext>, String> {
    // Only tries to dlopen libcuda; no driver call is made if absent.
    if !loader::present("cuda") {
        return Err("libcuda is not present on this machine".into());
    }
    let count = CudaContext::device_count().map_err(|e| format!("cuDeviceGetCount: {e}"))?;
    if count < 1 {
        return Err("the CUDA driver reports no device".into());
    }
    let ctx = CudaContext::new(0).map_err(|e| format!("creating a context on device 0: {e}"))?;
    let cc = ctx.compute_capability().map_err(|e| e.to_string())?;
    if cc < MIN_COMPUTE_CAPABILITY {
        return Err(format!(
            "device 0 has compute capability {}.{}; sparse24 needs 8.0 or newer",
            cc.0, cc.1
        ));
    }
    Ok(ctx)
}

/// The CUDA context of device 0, probed once per process.
pub fn context() -> Result<Arc<CudaContext>> {
    static CTX: OnceLock<std::result::Result<Arc<CudaContext>, String>> = OnceLock::new();
    CTX.get_or_init(probe).clone().map_err(Error::NoCudaDevice)
}

/// Whether a usable CUDA device is present.
pub fn available() -> bool {
    context().is_ok()
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
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
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

    /// An executor on the caller's stream.
    pub fn on_stream(stream: Arc<CudaStream>, code: CodeChoice) -> CudaExecutor {
        CudaExecutor {
            ctx: stream.context().clone(),
            stream,
            code,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            sm_count: OnceLock::new(),
            blaslt_present: OnceLock::new(),
            dense_f32: Mutex::new(HashMap::new()),
        }
    }

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
        let m = {
            let mut mods = self
                .modules
                .lock()
                .map_err(|_| Error::cuda("lock poisoned"))?;
            match mods.get(module) {
                Some(m) => m.clone(),
                None => {
                    let em = kernels::module(module)?;
                    let image = match self.code {
                        CodeChoice::Fatbin => cudarc::nvrtc::Ptx::from_binary(em.fatbin.to_vec()),
                        CodeChoice::Ptx => cudarc::nvrtc::Ptx::from_src(em.ptx),
                    };
                    let m = self.ctx.load_module(image)?;
                    mods.insert(module, m.clone());
                    m
                }
            }
        };
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
        let mut b = self.stream.launch_builder(&f);
        for a in l.args.as_ref() {
            match a {
                Arg::Ptr(v) | Arg::U64(v) => b.arg(v),
                Arg::U32(v) => b.arg(v),
                Arg::I32(v) => b.arg(v),
                Arg::F32(v) => b.arg(v),
                Arg::Struct(StructArg::Gemm(p)) => b.arg(p),
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
