//! Execution on the PTX emulator: the same [`Launch`] values the GPU runs, executed
//! by [`ptxsim`] on the CPU from the embedded PTX text, with its strict checks and
//! counters.

use crate::abi::TensorMapBytes;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels;
use crate::launch::{Arg, Executor, Launch};
use crate::tensor_map::{TensorMapDesc, TensorMapSwizzle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Runs launches on ptxsim; keeps the counters of the last launch.
pub struct SimExecutor {
    device: Arc<Mutex<ptxsim::Device>>,
    modules: Mutex<HashMap<&'static str, Arc<ptxsim::Module>>>,
    last_stats: Mutex<Option<ptxsim::LaunchStats>>,
    only_ctas: Option<Vec<[u32; 3]>>,
    compute_capability: (u32, u32),
}

/// A device allocation on the emulator, freed on drop.
pub struct SimBuffer {
    device: Arc<Mutex<ptxsim::Device>>,
    ptr: u64,
    len: usize,
}

impl Drop for SimBuffer {
    fn drop(&mut self) {
        if let Ok(mut d) = self.device.lock() {
            let _ = d.free(self.ptr);
        }
    }
}

impl SimBuffer {
    /// Bytes allocated.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the allocation is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for SimExecutor {
    fn default() -> Self {
        Self::new()
    }
}

fn poisoned() -> Error {
    Error::Sim("emulator lock poisoned".into())
}

impl SimExecutor {
    /// An emulated device with no memory in use (compute capability 8.0 for plans).
    pub fn new() -> SimExecutor {
        SimExecutor {
            device: Arc::new(Mutex::new(ptxsim::Device::new())),
            modules: Mutex::new(HashMap::new()),
            last_stats: Mutex::new(None),
            only_ctas: None,
            compute_capability: (8, 0),
        }
    }

    /// Plans for a device of this compute capability ([`Executor::compute_capability`];
    /// 8.0 by default): (9, 0) makes the plans take the Hopper kernels where an H100
    /// would, which ptxsim runs too.
    pub fn with_compute_capability(mut self, cc: (u32, u32)) -> SimExecutor {
        self.compute_capability = cc;
        self
    }

    /// Runs only these CTAs of each launch (for big grids in tests).
    pub fn with_only_ctas(mut self, ctas: Vec<[u32; 3]>) -> SimExecutor {
        self.only_ctas = Some(ctas);
        self
    }

    /// Counters of the most recent launch.
    pub fn last_stats(&self) -> Option<ptxsim::LaunchStats> {
        self.last_stats.lock().ok().and_then(|s| s.clone())
    }

    fn module(&self, name: &'static str) -> Result<Arc<ptxsim::Module>> {
        let mut mods = self.modules.lock().map_err(|_| poisoned())?;
        if let Some(m) = mods.get(name) {
            return Ok(m.clone());
        }
        let em = kernels::module(name)?;
        let m = Arc::new(ptxsim::Module::parse(em.ptx)?);
        mods.insert(name, m.clone());
        Ok(m)
    }
}

impl Executor for SimExecutor {
    type Buffer = SimBuffer;

    fn name(&self) -> &'static str {
        "ptxsim"
    }

    fn upload_bytes(&self, data: &[u8]) -> Result<SimBuffer> {
        let buf = self.alloc_zeroed(data.len())?;
        self.device
            .lock()
            .map_err(|_| poisoned())?
            .write(buf.ptr, data)?;
        Ok(buf)
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<SimBuffer> {
        let mut d = self.device.lock().map_err(|_| poisoned())?;
        let ptr = d.alloc(bytes.max(1))?;
        d.write(ptr, &vec![0u8; bytes.max(1)])?;
        Ok(SimBuffer {
            device: self.device.clone(),
            ptr,
            len: bytes,
        })
    }

    fn download_bytes(&self, buf: &SimBuffer) -> Result<Vec<u8>> {
        Ok(self
            .device
            .lock()
            .map_err(|_| poisoned())?
            .read(buf.ptr, buf.len)?)
    }

    fn ptr(&self, buf: &SimBuffer) -> u64 {
        buf.ptr
    }

    /// The emulator has no SMs to count: it reports
    /// [`DEFAULT_SM_COUNT`](crate::ops::gemm::DEFAULT_SM_COUNT) (132, an H100 SXM), the
    /// count the tests and [`crate::ops::gemm::sparse_linear_on`] plan for, so plans
    /// chosen from it match theirs.
    fn sm_count(&self) -> Result<usize> {
        Ok(crate::ops::gemm::DEFAULT_SM_COUNT)
    }

    fn compute_capability(&self) -> Result<(u32, u32)> {
        Ok(self.compute_capability)
    }

    /// Copies within the emulator's memory (addresses may point inside
    /// allocations), at once: the emulator runs everything in call order.
    fn copy_device(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        let mut d = self.device.lock().map_err(|_| poisoned())?;
        let data = d.read(src, bytes)?;
        d.write(dst, &data)?;
        Ok(())
    }

    fn launch<A: AsRef<[Arg]>>(&self, l: &Launch<A>) -> Result<()> {
        let module = self.module(l.module)?;
        let params: Vec<ptxsim::Param> = l
            .args
            .as_ref()
            .iter()
            .map(|a| {
                Ok(match *a {
                    Arg::Ptr(v) | Arg::U64(v) => ptxsim::Param::U64(v),
                    Arg::U32(v) => ptxsim::Param::U32(v),
                    Arg::I32(v) => ptxsim::Param::I32(v),
                    Arg::F32(v) => ptxsim::Param::F32(v),
                    // ptxsim checks the length against the `.param .b8 name[N]` size and
                    // places the bytes at the declaration's alignment.
                    Arg::Struct(s) => {
                        ptxsim::Param::Bytes(s.encode(encode_tensor_map)?.to_le_bytes())
                    }
                })
            })
            .collect::<Result<_>>()?;
        let cfg = ptxsim::LaunchConfig {
            grid: l.grid,
            block: l.block,
            dynamic_shared_bytes: l.dynamic_shared_bytes,
            only_ctas: self.only_ctas.clone(),
            cluster: (l.cluster != crate::launch::NO_CLUSTER).then_some(l.cluster),
        };
        let stats = self
            .device
            .lock()
            .map_err(|_| poisoned())?
            .launch(&module, l.kernel, &cfg, &params)?;
        *self.last_stats.lock().map_err(|_| poisoned())? = Some(stats);
        Ok(())
    }
}

/// A tensor map as ptxsim encodes it: the driver's rules checked (a map the driver
/// would refuse is `Error::InvalidArgument` here too), then ptxsim's own 128 bytes.
pub fn encode_tensor_map(d: &TensorMapDesc) -> Result<TensorMapBytes> {
    let rank = d.rank.clamp(1, crate::tensor_map::MAX_RANK);
    let map = ptxsim::TensorMap {
        dtype: match d.dtype {
            DType::F32 => ptxsim::TmapDtype::F32,
            DType::F16 => ptxsim::TmapDtype::F16,
            DType::BF16 => ptxsim::TmapDtype::BF16,
        },
        global_address: d.address,
        dims: d.dims[..rank].to_vec(),
        strides: d.strides[..rank - 1].to_vec(),
        box_dims: d.box_dims[..rank].to_vec(),
        element_strides: vec![1; rank],
        interleave: ptxsim::Interleave::None,
        swizzle: match d.swizzle {
            TensorMapSwizzle::None => ptxsim::Swizzle::None,
            TensorMapSwizzle::B32 => ptxsim::Swizzle::B32,
            TensorMapSwizzle::B64 => ptxsim::Swizzle::B64,
            TensorMapSwizzle::B128 => ptxsim::Swizzle::B128,
        },
        l2_promotion: ptxsim::L2Promotion::B128,
        oob_fill: ptxsim::OobFill::None,
    };
    if d.rank != rank {
        return Err(Error::InvalidArgument {
            what: "tensor map",
            why: format!("rank {} (must be 1..=5)", d.rank),
        });
    }
    map.encode()
        .map(TensorMapBytes)
        .map_err(|e| Error::InvalidArgument {
            what: "tensor map",
            why: e.to_string(),
        })
}
