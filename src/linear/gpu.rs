//! The GPU forward of [`SparseLinear`]: weights (fragment order) and bias are
//! uploaded once per layer, on the first stream that asks ([`SparseLinear::to_device`]
//! or the first forward), into that stream's CUDA context (any device: see
//! [`crate::cuda::context_on`]), and stay resident. Each forward enqueues the sparse
//! GEMM (src/ops/gemm/) on the caller's stream: no host synchronisation, and no
//! device allocation beyond the output ([`SparseLinear::forward`]) — none at all
//! with the `_into`/`_with` forwards once the stream's workspace is reserved.
//!
//! What is shared: the kernel module is loaded once per CUDA context (every layer and
//! every stream of the context launches from it, [`crate::cuda::module_loads`]); the
//! split-K workspace and the staging buffer for misaligned inputs are one per stream
//! ([`StreamRuntime`], looked up by [`stream_runtime`]), shared by every layer that
//! runs on the stream and sized up front by [`reserve`]. A stream's runtime lives
//! until [`release_stream`].
//!
//! Buffers: whole [`CudaSlice`]s ([`SparseLinear::forward_into`]) or any cudarc
//! device-pointer type, views into a larger arena included
//! ([`SparseLinear::forward_with`]), read in place when X is 16-byte aligned and
//! staged otherwise; or raw device pointers on the caller's `CUstream`
//! ([`SparseLinear::forward_raw`]).
//!
//! The host work of a forward is the executor-generic core of [`super::device`]
//! ([`DeviceLinear`], [`StreamRuntime::forward`]): the launch per token count is
//! validated once and cached, so a forward looks it up, checks the buffer lengths,
//! fills in X, Y, C and the workspace and enqueues.

use super::device::{check_gpu_dtype, DeviceLinear, StreamRuntime};
use super::SparseLinear;
use crate::cuda::{CodeChoice, CudaExecutor};
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::launch::Executor;
use crate::ops::gemm::{DeviceSlice, SparseGemmPlan};
use crate::shape::{check_len, tokens_by};
use cudarc::driver::sys::{CUdeviceptr, CUstream};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut, DeviceRepr};
use std::sync::{Arc, Mutex};

/// What one layer keeps on the device.
struct DeviceState<T: Element> {
    layer: DeviceLinear<CudaExecutor, T>,
    /// The stream the weights were uploaded on (its context owns them).
    home: Arc<CudaStream>,
    /// Streams already ordered after the upload (by `cu_stream` address; all of the
    /// home context).
    synced: Mutex<Vec<usize>>,
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

fn lock_err<E>(_: E) -> Error {
    Error::cuda("SparseLinear stream cache lock poisoned")
}

/// A stream's identity: its context and its `CUstream` (the default stream's is
/// null in every context).
fn stream_key(stream: &CudaStream) -> (usize, usize) {
    (
        stream.context().cu_ctx() as usize,
        stream.cu_stream() as usize,
    )
}

type Runtime = Arc<StreamRuntime<CudaExecutor>>;
static STREAMS: Mutex<Vec<((usize, usize), Runtime)>> = Mutex::new(Vec::new());

/// The sparse24 state of `stream`, created on first use: a [`CudaExecutor`] on it
/// (launching from its context's shared module cache), and the split-K workspace and
/// staging buffer every layer's forward on this stream uses. Held by a process-wide
/// registry until [`release_stream`].
pub fn stream_runtime(stream: &Arc<CudaStream>) -> Result<Runtime> {
    runtime_for(stream_key(stream), || stream.clone())
}

/// The runtime registered under `key`, or a new one on the stream `make` returns
/// (called only then).
fn runtime_for(key: (usize, usize), make: impl FnOnce() -> Arc<CudaStream>) -> Result<Runtime> {
    let mut streams = STREAMS.lock().map_err(lock_err)?;
    if let Some((_, rt)) = streams.iter().find(|(k, _)| *k == key) {
        return Ok(rt.clone());
    }
    let rt = Arc::new(StreamRuntime::new(CudaExecutor::on_stream(
        make(),
        CodeChoice::Fatbin,
    )));
    streams.push((key, rt.clone()));
    Ok(rt)
}

/// Drops the registry's hold on `stream`'s runtime (its workspace and staging buffer
/// are freed, on the stream, once no forward holds them). Call it before destroying
/// a stream that [`SparseLinear::forward_raw`] borrowed, or to give back the memory
/// of a stream no longer used. Returns whether the stream had one.
pub fn release_stream(stream: &CudaStream) -> bool {
    release_key(stream_key(stream))
}

/// [`release_stream`] for a raw `CUstream` of the context `ctx` (one that
/// [`SparseLinear::forward_raw`] ran on): call it before the stream is destroyed.
pub fn release_raw_stream(ctx: &cudarc::driver::CudaContext, stream: CUstream) -> bool {
    release_key((ctx.cu_ctx() as usize, stream as usize))
}

fn release_key(key: (usize, usize)) -> bool {
    let Ok(mut streams) = STREAMS.lock() else {
        return false;
    };
    let before = streams.len();
    streams.retain(|(k, _)| *k != key);
    streams.len() != before
}

/// Uploads every layer (if not yet) and grows `stream`'s split-K workspace to what
/// they need for up to `max_tokens` tokens ([`StreamRuntime::reserve`]), so their
/// forwards on `stream` allocate nothing: what capturing a forward in a CUDA graph
/// needs (run each token count once outside the capture too, so its launch is
/// cached and the stream ordered after the uploads). Returns the workspace bytes
/// the stream holds.
pub fn reserve<T: Element>(
    stream: &Arc<CudaStream>,
    layers: &[&SparseLinear<T>],
    max_tokens: usize,
) -> Result<usize> {
    let rt = stream_runtime(stream)?;
    let mut states = Vec::with_capacity(layers.len());
    for l in layers {
        let s = l.device_state(stream, || Ok(()))?;
        s.sync_with(stream, &rt)?;
        states.push(s);
    }
    rt.reserve(states.iter().map(|s| &s.layer), max_tokens)
}

impl<T: Element> DeviceState<T> {
    /// Orders `stream` after the weights' and bias' upload once (cudarc makes it
    /// wait for their write events; they are never written again).
    fn sync_with(&self, stream: &CudaStream, rt: &StreamRuntime<CudaExecutor>) -> Result<()> {
        let key = stream.cu_stream() as usize;
        let mut synced = self.synced.lock().map_err(lock_err)?;
        if !synced.contains(&key) {
            let exec = rt.executor();
            exec.ptr(self.layer.weight().values());
            exec.ptr(self.layer.weight().meta());
            if let Some(b) = self.layer.bias() {
                exec.ptr(b);
            }
            synced.push(key);
        }
        Ok(())
    }
}

impl<T: Element> SparseLinear<T> {
    fn upload(&self, stream: &Arc<CudaStream>) -> Result<DeviceState<T>> {
        let rt = stream_runtime(stream)?;
        let layer = DeviceLinear::upload(rt.executor(), self)?;
        Ok(DeviceState {
            layer,
            home: stream.clone(),
            synced: Mutex::new(vec![stream.cu_stream() as usize]),
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
        check_gpu_dtype::<T>()?;
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
        // Compared by CUcontext, not by cudarc handle: an engine that made its own
        // `CudaContext::new(0)` (candle does) holds another handle to the same
        // primary context, whose memory and modules are the same.
        if state.home.context().cu_ctx() != stream.context().cu_ctx() {
            return Err(Error::InvalidArgument {
                what: "stream",
                why: format!(
                    "the layer's weights live on device {} (another CUDA context than this \
                     stream's, on device {})",
                    state.home.context().ordinal(),
                    stream.context().ordinal()
                ),
            });
        }
        Ok(state)
    }

    /// Uploads the weights (fragment order) and bias on `stream` now, instead of at
    /// the first forward. Enqueued on `stream`; later forwards on any stream of the
    /// same context use them. The layer then lives on `stream`'s device.
    pub fn to_device(&self, stream: &Arc<CudaStream>) -> Result<()> {
        self.device_state(stream, || Ok(())).map(|_| ())
    }

    /// The ordinal of the device the weights live on (`None` before the upload).
    pub fn device_ordinal(&self) -> Option<usize> {
        let slot = self.device.state.lock().ok()?;
        slot.as_ref().map(|s| s.home.context().ordinal())
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
        self.check_output::<T>()?;
        let (out, inn) = (self.out_features(), self.in_features());
        // Before a first upload, the checks the first forward made before uploading:
        // the shape, then (in forward_into, after allocating Y) X's length.
        let state = self.device_state(stream, || {
            SparseGemmPlan::choose(tokens, out, inn, 1)?;
            let x_len = tokens_by("X", "in", tokens, inn)?;
            check_len("X", x_len, x.len())
        })?;
        let y_len = state.layer.launch_for(tokens)?.y_len();
        // SAFETY: the kernel writes every element of Y (checked by the GPU tests)
        // before anything on `stream` can read it.
        let mut y = unsafe { stream.alloc::<T>(y_len) }?;
        self.forward_with(stream, x, tokens, &mut y, None)?;
        Ok(y)
    }

    /// `Y = act(alpha · X · Wᵀ + bias)` with X [tokens, in] and Y [tokens, out] on
    /// the device, enqueued on `stream` (returns without waiting for the GPU). For a
    /// residual, another output dtype or views, [`SparseLinear::forward_with`].
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
        self.forward_with(stream, x, tokens, y, None)
    }

    /// The whole epilogue on any cudarc buffers:
    /// `Y = act(alpha · X · Wᵀ + beta · C + bias)`, X [tokens, in] and C [tokens, out]
    /// in `T`, Y [tokens, out] in the layer's output dtype `O` (checked; see
    /// [`SparseLinear::with_output_dtype`]), C required when beta is nonzero
    /// ([`SparseLinear::with_residual`]) and ignored otherwise. Enqueued on
    /// `stream`; cudarc's events order it with the buffers' other uses.
    ///
    /// X, Y and C may be [`CudaSlice`]s or views into a larger allocation
    /// (`CudaView`, `CudaViewMut`, e.g. `arena.slice(offset..offset + len)`): X is
    /// read in place when its address is 16-byte aligned (what the kernel's vector
    /// loads need) and otherwise copied first, on `stream`, into the stream's
    /// aligned staging buffer (one device copy of X; see
    /// [`StreamRuntime::forward`]). Y and C need only element alignment, which every
    /// view has. Y must not overlap X or C.
    pub fn forward_with<X, Y, O>(
        &self,
        stream: &Arc<CudaStream>,
        x: &X,
        tokens: usize,
        y: &mut Y,
        c: Option<&dyn DevicePtr<T>>,
    ) -> Result<()>
    where
        X: DevicePtr<T> + ?Sized,
        Y: DevicePtrMut<O> + ?Sized,
        O: Element,
    {
        self.check_output::<O>()?;
        let (out, inn) = (self.out_features(), self.in_features());
        let state = self.device_state(stream, || {
            SparseGemmPlan::choose(tokens, out, inn, 1)?;
            let (x_len, y_len) = (
                tokens_by("X", "in", tokens, inn)?,
                tokens_by("Y", "out", tokens, out)?,
            );
            check_len("X", x_len, x.len())?;
            check_len("Y", y_len, y.len())
        })?;
        // On resident weights: the stream's runtime (ordered after the upload
        // once), X's, Y's and C's addresses, then StreamRuntime::forward.
        let rt = stream_runtime(stream)?;
        state.sync_with(stream, &rt)?;
        // Keep the guards alive until the launch is enqueued, so cudarc's events
        // order other streams' accesses to X, Y and C after this kernel.
        let (x_len, y_len) = (x.len(), y.len());
        let (xp, _x_guard) = x.device_ptr(stream);
        let (yp, _y_guard) = y.device_ptr_mut(stream);
        let c = c.map(|c| (c.len(), c.device_ptr(stream)));
        rt.forward(
            &state.layer,
            tokens,
            DeviceSlice {
                ptr: xp,
                len: x_len,
            },
            DeviceSlice {
                ptr: yp,
                len: y_len,
            },
            c.as_ref().map(|(len, (ptr, _))| DeviceSlice {
                ptr: *ptr,
                len: *len,
            }),
        )
    }

    /// The forward on raw device addresses, enqueued on the caller's `CUstream`
    /// (an engine that manages its own memory and streams): X [tokens, in] and C
    /// [tokens, out] (read when beta is nonzero, `None` otherwise) in `T`, Y
    /// [tokens, out] in the layer's output dtype. The layer must already be on the
    /// device ([`SparseLinear::to_device`]); no event is recorded or waited for.
    ///
    /// # Safety
    /// - **Stream**: `stream` is a live `CUstream` (or null, the legacy default
    ///   stream) of the CUDA context the layer's weights live in. It must stay
    ///   alive while this call runs and until the enqueued work completes, and
    ///   sparse24's state for it must be released with [`release_raw_stream`]
    ///   before the stream is destroyed: the stream's split-K workspace and staging
    ///   buffer are allocated and freed on it.
    /// - **Lengths**: `x` addresses `tokens × in` elements of `T`, `y` `tokens × out`
    ///   elements of the output dtype, `c` (when given and beta is nonzero)
    ///   `tokens × out` elements of `T`, each inside one allocation of that context.
    /// - **Alignment**: `y` and `c` aligned to their element size (checked, an
    ///   error otherwise); `x` element-aligned — read in place when 16-byte
    ///   aligned, else copied into the stream's aligned staging buffer first.
    /// - **Lifetime and ordering**: the buffers stay allocated, X and C unwritten
    ///   and Y unread by anyone else, until the kernel enqueued on `stream`
    ///   completes; the caller orders their other uses with `stream` (sparse24
    ///   records no event). Y must not overlap X or C.
    pub unsafe fn forward_raw(
        &self,
        stream: CUstream,
        x: CUdeviceptr,
        y: CUdeviceptr,
        c: Option<CUdeviceptr>,
        tokens: usize,
    ) -> Result<()> {
        check_gpu_dtype::<T>()?;
        let state = {
            let slot = self.device.state.lock().map_err(lock_err)?;
            match &*slot {
                Some(s) => s.clone(),
                None => {
                    return Err(Error::InvalidArgument {
                        what: "layer",
                        why: "forward_raw needs the layer on the device: call to_device first"
                            .into(),
                    })
                }
            }
        };
        let ctx = state.home.context();
        // The stream is wrapped (one allocation) only the first time it is seen.
        let rt = runtime_for((ctx.cu_ctx() as usize, stream as usize), || {
            // SAFETY: the caller guarantees `stream` belongs to the weights' context
            // and outlives this call and its registry entry (see # Safety).
            unsafe { ctx.wrap_borrowed_stream(stream) }
        })?;
        state.sync_with(rt.executor().stream(), &rt)?;
        let (out, inn) = (self.out_features(), self.in_features());
        let (x_len, y_len) = (
            tokens_by("X", "in", tokens, inn)?,
            tokens_by("Y", "out", tokens, out)?,
        );
        rt.forward(
            &state.layer,
            tokens,
            DeviceSlice { ptr: x, len: x_len },
            DeviceSlice { ptr: y, len: y_len },
            c.map(|ptr| DeviceSlice { ptr, len: y_len }),
        )
    }
}
