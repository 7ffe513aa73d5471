//! The GPU forward of [`SparseLinear`]: weights (fragment order) and bias are
//! uploaded once per layer, on the first stream that asks ([`SparseLinear::to_device`]
//! or the first forward), and stay resident. Each forward enqueues the sparse GEMM
//! (src/ops/gemm/) on the caller's stream: no host synchronisation, and no device
//! allocation beyond the output ([`SparseLinear::forward`]) — none at all with
//! [`SparseLinear::forward_into`] — except the split-K workspace, kept per stream
//! and grown (zero-filled once) only when a larger token count first needs it.
//!
//! The host work of a forward is the executor-generic core of [`super::device`]
//! ([`DeviceLinear`]): the launch per token count is validated once and cached, so a
//! forward looks it up, checks the buffer lengths, fills in X, Y and the workspace
//! and enqueues.

use super::device::{DeviceLinear, Workspace};
use super::SparseLinear;
use crate::cuda::{CodeChoice, CudaExecutor};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::launch::Executor;
use crate::ops::gemm::{DeviceSlice, SparseGemmPlan};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut, DeviceRepr};
use std::sync::{Arc, Mutex};

/// Per-stream executor (its loaded modules) and split-K workspace.
struct StreamState {
    stream: Arc<CudaStream>,
    exec: CudaExecutor,
    workspace: Workspace<CudaExecutor>,
}

/// What one layer keeps on the device.
struct DeviceState<T: Element> {
    layer: DeviceLinear<CudaExecutor, T>,
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
        let layer = DeviceLinear::upload(&exec, self)?;
        Ok(DeviceState {
            layer,
            home: stream.clone(),
            streams: Mutex::new(vec![StreamState {
                stream: stream.clone(),
                exec,
                workspace: Workspace::new(),
            }]),
        })
    }

    /// The layer's device state, uploading it on `stream` first if needed, after
    /// `before_upload` (the checks a forward made before uploading, so that a call
    /// with bad arguments fails as it did before the launch cache, without uploading).
    fn device_state(
        &self,
        stream: &Arc<CudaStream>,
        before_upload: impl FnOnce() -> Result<()>,
    ) -> Result<Arc<DeviceState<T>>> {
        self.check_gpu_dtype()?;
        let mut slot = self.device.state.lock().map_err(lock_err)?;
        let state = match &*slot {
            Some(s) => s.clone(),
            None => {
                before_upload()?;
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
        self.device_state(stream, || Ok(())).map(|_| ())
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
        let (out, inn) = (self.out_features(), self.in_features());
        // Before a first upload, the checks the first forward made before uploading:
        // the shape, then (in forward_into, after allocating Y) X's length.
        let state = self.device_state(stream, || {
            SparseGemmPlan::choose(tokens, out, inn, 1)?;
            let x_len = crate::shape::tokens_by("X", "in", tokens, inn)?;
            crate::shape::check_len("X", x_len, x.len())
        })?;
        let y_len = state.layer.launch_for(tokens)?.y_len();
        // SAFETY: the kernel writes every element of Y (checked by the GPU tests)
        // before anything on `stream` can read it.
        let mut y = unsafe { stream.alloc::<T>(y_len) }?;
        self.enqueue(&state, stream, x, tokens, &mut y)?;
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
        let state = self.device_state(stream, || {
            SparseGemmPlan::choose(tokens, out, inn, 1)?;
            let (x_len, y_len) = (
                crate::shape::tokens_by("X", "in", tokens, inn)?,
                crate::shape::tokens_by("Y", "out", tokens, out)?,
            );
            crate::shape::check_len("X", x_len, x.len())?;
            crate::shape::check_len("Y", y_len, y.len())
        })?;
        self.enqueue(&state, stream, x, tokens, y)
    }

    /// The forward on resident weights: X's and Y's addresses, the cached launch for
    /// `tokens` with the length checks and the workspace ([`DeviceLinear::launch`]),
    /// the enqueue.
    fn enqueue(
        &self,
        state: &DeviceState<T>,
        stream: &Arc<CudaStream>,
        x: &CudaSlice<T>,
        tokens: usize,
        y: &mut CudaSlice<T>,
    ) -> Result<()>
    where
        T: DeviceRepr,
    {
        let mut streams = state.streams.lock().map_err(lock_err)?;
        let idx = match streams.iter().position(|s| same_stream(&s.stream, stream)) {
            Some(i) => i,
            None => {
                let exec = CudaExecutor::on_stream(stream.clone(), CodeChoice::Fatbin);
                // Order this stream after the weights' and bias' upload (cudarc
                // makes it wait for their write events); they are never written
                // again, so once per stream is enough.
                exec.ptr(state.layer.weight().values());
                exec.ptr(state.layer.weight().meta());
                if let Some(b) = state.layer.bias() {
                    exec.ptr(b);
                }
                streams.push(StreamState {
                    stream: stream.clone(),
                    exec,
                    workspace: Workspace::new(),
                });
                streams.len() - 1
            }
        };
        let ss = &mut streams[idx];
        // Keep the guards alive until the launch is enqueued, so cudarc's events
        // order other streams' accesses to X and Y after this kernel.
        let (x_len, y_len) = (x.len(), y.len());
        let (xp, _x_guard) = x.device_ptr(stream);
        let (yp, _y_guard) = y.device_ptr_mut(stream);
        let launch = state.layer.launch(
            &ss.exec,
            tokens,
            DeviceSlice {
                ptr: xp,
                len: x_len,
            },
            DeviceSlice {
                ptr: yp,
                len: y_len,
            },
            &mut ss.workspace,
        )?;
        ss.exec.launch(&launch)
    }
}
