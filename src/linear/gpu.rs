//! The GPU forward of [`SparseLinear`]: weights (fragment order) and bias are
//! uploaded once per layer, on the first stream that asks ([`SparseLinear::to_device`]
//! or the first forward), and stay resident. Each forward enqueues the sparse GEMM
//! (src/ops/gemm.rs) on the caller's stream: no host synchronisation, and no device
//! allocation beyond the output ([`SparseLinear::forward`]) — none at all with
//! [`SparseLinear::forward_into`] — except the split-K workspace, kept per stream
//! and grown (zero-filled once) only when a larger token count first needs it.

use super::SparseLinear;
use crate::cuda::{CodeChoice, CudaExecutor};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::launch::Executor;
use crate::ops::gemm::{
    sparse_linear_launches, DeviceEpilogue, DeviceSlice, DeviceSparse24, GemmBuffers,
    SparseGemmPlan,
};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut, DeviceRepr};
use std::sync::{Arc, Mutex};

/// Per-stream executor (its loaded modules) and split-K workspace.
struct StreamState {
    stream: Arc<CudaStream>,
    exec: CudaExecutor,
    workspace: Option<(CudaSlice<u8>, usize)>,
}

/// What one layer keeps on the device.
struct DeviceState<T: Element> {
    weight: DeviceSparse24<CudaExecutor, T>,
    bias: Option<CudaSlice<u8>>,
    sm_count: usize,
    /// The stream the weights were uploaded on (its context owns them).
    home: Arc<CudaStream>,
    streams: Mutex<Vec<StreamState>>,
}

/// Lazily initialised device state of a layer.
/// (A failed upload is not cached: the next call tries again.)
pub(crate) struct DeviceCache<T: Element> {
    state: Mutex<Option<Arc<DeviceState<T>>>>,
}

impl<T: Element> Default for DeviceCache<T> {
    fn default() -> Self {
        DeviceCache {
            state: Mutex::new(None),
        }
    }
}

fn same_stream(a: &CudaStream, b: &CudaStream) -> bool {
    std::ptr::eq(a.cu_stream(), b.cu_stream()) && Arc::ptr_eq(a.context(), b.context())
}

fn lock_err<E>(_: E) -> Error {
    Error::cuda("SparseLinear stream cache lock poisoned")
}

impl<T: Element> SparseLinear<T> {
    fn check_gpu_dtype(&self) -> Result<()> {
        if T::DTYPE == DType::F32 {
            return Err(Error::InvalidArgument {
                what: "dtype",
                why: "the GPU forward takes f16 or bf16 layers (tensor cores have no 2:4 form \
                      for f32); use forward_cpu or convert the weights"
                    .into(),
            });
        }
        Ok(())
    }

    fn upload(&self, stream: &Arc<CudaStream>) -> Result<DeviceState<T>> {
        let exec = CudaExecutor::on_stream(stream.clone(), CodeChoice::Fatbin);
        let weight = DeviceSparse24::upload(&exec, &self.weight)?;
        let bias = match &self.bias {
            Some(b) => Some(exec.upload(b)?),
            None => None,
        };
        let sm_count = exec.sm_count()?;
        Ok(DeviceState {
            weight,
            bias,
            sm_count,
            home: stream.clone(),
            streams: Mutex::new(vec![StreamState {
                stream: stream.clone(),
                exec,
                workspace: None,
            }]),
        })
    }

    fn device_state(&self, stream: &Arc<CudaStream>) -> Result<Arc<DeviceState<T>>> {
        self.check_gpu_dtype()?;
        let mut slot = self.device.state.lock().map_err(lock_err)?;
        let state = match &*slot {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(self.upload(stream)?);
                *slot = Some(s.clone());
                s
            }
        };
        drop(slot);
        if !Arc::ptr_eq(state.home.context(), stream.context()) {
            return Err(Error::InvalidArgument {
                what: "stream",
                why: "the layer's weights live in another CUDA context than this stream's".into(),
            });
        }
        Ok(state)
    }

    /// Uploads the weights (fragment order) and bias on `stream` now, instead of at
    /// the first forward. Enqueued on `stream`; later forwards on any stream of the
    /// same context use them.
    pub fn to_device(&self, stream: &Arc<CudaStream>) -> Result<()> {
        self.device_state(stream).map(|_| ())
    }

    /// `Y[tokens, out]` into a new device buffer; see [`SparseLinear::forward_into`].
    pub fn forward(
        &self,
        stream: &Arc<CudaStream>,
        x: &CudaSlice<T>,
        tokens: usize,
    ) -> Result<CudaSlice<T>>
    where
        T: DeviceRepr,
    {
        self.check_gpu_dtype()?;
        SparseGemmPlan::choose(tokens, self.out_features(), self.in_features(), 1)?;
        let y_len = crate::shape::tokens_by("Y", "out", tokens, self.out_features())?;
        // SAFETY: the kernel writes every element of Y (checked by the GPU tests)
        // before anything on `stream` can read it.
        let mut y = unsafe { stream.alloc::<T>(y_len) }?;
        self.forward_into(stream, x, tokens, &mut y)?;
        Ok(y)
    }

    /// `Y = act(X · Wᵀ + bias)` with X [tokens, in] and Y [tokens, out] on the
    /// device, enqueued on `stream` (returns without waiting for the GPU).
    pub fn forward_into(
        &self,
        stream: &Arc<CudaStream>,
        x: &CudaSlice<T>,
        tokens: usize,
        y: &mut CudaSlice<T>,
    ) -> Result<()>
    where
        T: DeviceRepr,
    {
        let (out, inn) = (self.out_features(), self.in_features());
        self.check_gpu_dtype()?;
        SparseGemmPlan::choose(tokens, out, inn, 1)?;
        let (x_len, y_len) = (
            crate::shape::tokens_by("X", "in", tokens, inn)?,
            crate::shape::tokens_by("Y", "out", tokens, out)?,
        );
        crate::shape::check_len("X", x_len, x.len())?;
        crate::shape::check_len("Y", y_len, y.len())?;
        let state = self.device_state(stream)?;
        let plan = SparseGemmPlan::choose(tokens, out, inn, state.sm_count)?;
        let mut streams = state.streams.lock().map_err(lock_err)?;
        let idx = match streams.iter().position(|s| same_stream(&s.stream, stream)) {
            Some(i) => i,
            None => {
                streams.push(StreamState {
                    stream: stream.clone(),
                    exec: CudaExecutor::on_stream(stream.clone(), CodeChoice::Fatbin),
                    workspace: None,
                });
                streams.len() - 1
            }
        };
        let ss = &mut streams[idx];
        let need = plan.workspace_bytes();
        if need > 0 && ss.workspace.as_ref().is_none_or(|(_, len)| *len < need) {
            ss.workspace = Some((ss.exec.alloc_zeroed(need)?, need));
        }
        let exec = &ss.exec;
        let workspace = match (&ss.workspace, need) {
            (Some((buf, len)), n) if n > 0 => Some(DeviceSlice {
                ptr: exec.ptr(buf),
                len: *len,
            }),
            _ => None,
        };
        let epi = DeviceEpilogue {
            bias: state.bias.as_ref().map(|b| DeviceSlice {
                ptr: exec.ptr(b),
                len: out,
            }),
            activation: self.activation,
            ..Default::default()
        };
        // Keep the guards alive until the launch is enqueued, so cudarc's events
        // order other streams' accesses to X and Y after this kernel.
        let (xp, _x_guard) = x.device_ptr(stream);
        let (yp, _y_guard) = y.device_ptr_mut(stream);
        let bufs = GemmBuffers {
            w_values: exec.ptr(state.weight.values()),
            w_meta: exec.ptr(state.weight.meta()),
            w_geometry: state.weight.geometry(),
            x: xp,
            y: yp,
            workspace,
        };
        for l in sparse_linear_launches(&plan, T::DTYPE, T::DTYPE, &bufs, &epi)? {
            exec.launch(&l)?;
        }
        Ok(())
    }
}
