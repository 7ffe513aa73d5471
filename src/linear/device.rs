//! The executor-generic forward of a [`SparseLinear`]: [`DeviceLinear`] holds the
//! layer's weights and bias on one [`Executor`]'s device and the validated launch per
//! token count ([`GemmLaunch`], built once, cached); a forward looks the launch up,
//! checks the caller's buffer lengths, fills in the per-call addresses
//! ([`DeviceLinear::launch`]) and enqueues.
//! No environment read, no repeated shape check, no heap allocation per call once a
//! token count has been seen (tests/forward_alloc.rs counts them).
//!
//! The CUDA forward ([`SparseLinear::forward_into`], src/linear/gpu.rs) is this core
//! plus cudarc's streams; the recording executor ([`crate::launch::record`]) runs it
//! to measure its host cost (benches/forward_host.rs).
//!
//! What an engine plans per stream lives in [`StreamRuntime`]: the executor that
//! enqueues on the stream (launching from its context's shared module cache, see
//! [`crate::launch::ModuleCache`]), one split-K [`Workspace`] shared by every layer
//! that runs on the stream, sized up front with [`StreamRuntime::reserve`] so that a
//! forward allocates nothing (what capturing it in a CUDA graph needs), and an
//! aligned staging buffer for inputs that are not 16-byte aligned.

use super::{LinearEpilogue, SparseLinear};
use crate::dtype::{DType, Element};
use crate::epilogue::Activation;
use crate::error::{Error, Result};
use crate::launch::{Arg, Executor, Launch};
use crate::layout::FragmentGeometry;
use crate::ops::gemm::{DeviceEpilogue, DeviceSlice, DeviceSparse24, GemmLaunch, GemmWeights};
use crate::ops::gemm::{GemmDevice, SparseGemmPlan};
use crate::shape::check_len;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, RwLock};

/// Token counts whose launch a layer caches. Beyond this many distinct counts a
/// forward builds its launch each call (still without allocating), so a server that
/// sees every prompt length keeps a bounded cache.
pub const PLAN_CACHE_CAPACITY: usize = 256;

/// A split-K workspace owned by one stream (or one executor): allocated zero-filled
/// when a launch first needs more than it holds, then reused (the kernel leaves it
/// as it found it).
pub struct Workspace<E: Executor> {
    buf: Option<(E::Buffer, usize)>,
    /// Whether [`Workspace::ensure`] may allocate (see [`Workspace::set_growable`]).
    growable: bool,
}

impl<E: Executor> Default for Workspace<E> {
    fn default() -> Self {
        Workspace {
            buf: None,
            growable: true,
        }
    }
}

impl<E: Executor> Workspace<E> {
    /// An empty workspace that grows on demand.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buf.as_ref().map_or(0, |(_, n)| *n)
    }

    /// Grows the allocation to at least `bytes` now (nothing when it holds that
    /// much), so that later forwards needing at most `bytes` allocate nothing.
    /// Allowed even when growing is off.
    pub fn reserve(&mut self, exec: &E, bytes: usize) -> Result<()> {
        let growable = std::mem::replace(&mut self.growable, true);
        let r = self.ensure(exec, bytes).map(|_| ());
        self.growable = growable;
        r
    }

    /// With `false`, a forward that needs more than is held is an error instead of
    /// an allocation (what a CUDA-graph capture wants to be told); [`Workspace::reserve`]
    /// still grows it.
    pub fn set_growable(&mut self, growable: bool) {
        self.growable = growable;
    }

    /// A slice of at least `need` bytes (`None` when `need` is 0), growing the
    /// allocation on `exec` when it is smaller.
    pub fn ensure(&mut self, exec: &E, need: usize) -> Result<Option<DeviceSlice>> {
        if need == 0 {
            return Ok(None);
        }
        if self.bytes() < need {
            if !self.growable {
                return Err(Error::InvalidArgument {
                    what: "workspace",
                    why: format!(
                        "this forward needs {need} bytes but {} are reserved and growing is \
                         off (reserve more before freezing, e.g. before a CUDA-graph capture)",
                        self.bytes()
                    ),
                });
            }
            self.buf = Some((exec.alloc_zeroed(need)?, need));
        }
        Ok(self.buf.as_ref().map(|(b, n)| DeviceSlice {
            ptr: exec.ptr(b),
            len: *n,
        }))
    }
}

/// Hashes a token count for the launch cache: one multiply (Fibonacci hashing)
/// instead of SipHash, since the keys are small integers chosen by the caller, not
/// by an adversary.
#[derive(Default)]
struct TokensHasher(u64);

impl Hasher for TokensHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type LaunchCache = HashMap<usize, GemmLaunch, BuildHasherDefault<TokensHasher>>;

/// A [`SparseLinear`] resident on an executor's device: W (fragment order) and bias
/// uploaded once, and the launch per token count validated once.
pub struct DeviceLinear<E: Executor, T: Element> {
    weight: DeviceSparse24<E, T>,
    bias: Option<E::Buffer>,
    weights: GemmWeights,
    epilogue: DeviceEpilogue,
    out_dtype: DType,
    out: usize,
    inn: usize,
    device: GemmDevice,
    launches: RwLock<LaunchCache>,
}

/// The split-K workspace bytes the forwards of a `[out, in]` layer need for any
/// token count up to `max_tokens`, with plans chosen for `device` (the largest
/// [`SparseGemmPlan::workspace_bytes`] over those counts; 0 when none splits K).
pub fn split_k_workspace_bytes(
    out: usize,
    inn: usize,
    device: GemmDevice,
    max_tokens: usize,
) -> Result<usize> {
    let mut need = 0;
    for tokens in 1..=max_tokens {
        need = need.max(SparseGemmPlan::choose_for(tokens, out, inn, device)?.workspace_bytes());
    }
    Ok(need)
}

fn poisoned() -> Error {
    Error::InvalidArgument {
        what: "layer",
        why: "a thread panicked while caching a launch of this layer".into(),
    }
}

impl<E: Executor, T: Element> DeviceLinear<E, T> {
    /// Uploads `layer`'s weights (fragment order) and bias on `exec`, and takes the
    /// SM count plans are chosen for from it. f32 layers are refused (tensor cores
    /// have no 2:4 form for f32).
    pub fn upload(exec: &E, layer: &SparseLinear<T>) -> Result<Self> {
        check_gpu_dtype::<T>()?;
        let weight = DeviceSparse24::upload(exec, &layer.weight)?;
        let bias = match &layer.bias {
            Some(b) => Some(exec.upload(b)?),
            None => None,
        };
        // SAFETY: the bias was uploaded from `out` elements just above, and the
        // weight by DeviceSparse24::upload (its own geometry).
        unsafe { Self::from_resident(exec, weight, bias, &layer.epilogue()) }
    }

    /// A layer over weights (and bias) already on the device, with the epilogue
    /// `epilogue` (its output dtype f32, f16 or bf16). For engines that place
    /// weights themselves, and for planning tests that need only shapes.
    ///
    /// # Safety
    /// `weight` must satisfy [`DeviceSparse24::from_buffers`]'s requirements, and
    /// `bias`, when given, must hold `weight.rows()` elements of `T`, aligned to
    /// `T`: the kernel reads them without a bounds check.
    pub unsafe fn from_resident(
        exec: &E,
        weight: DeviceSparse24<E, T>,
        bias: Option<E::Buffer>,
        epilogue: &LinearEpilogue,
    ) -> Result<Self> {
        check_gpu_dtype::<T>()?;
        let device = exec.gemm_device()?;
        let weights = GemmWeights {
            values: exec.ptr(weight.values()),
            meta: exec.ptr(weight.meta()),
            geometry: weight.geometry(),
            row_values: weight.row_values().map(|b| exec.ptr(b)),
        };
        let out = weight.rows();
        let epilogue_dev = DeviceEpilogue {
            alpha: epilogue.alpha,
            beta: epilogue.beta,
            c: None,
            bias: bias.as_ref().map(|b| DeviceSlice {
                ptr: exec.ptr(b),
                len: out,
            }),
            activation: epilogue.activation,
        };
        Ok(DeviceLinear {
            weights,
            bias,
            epilogue: epilogue_dev,
            out_dtype: epilogue.output,
            out,
            inn: weight.cols(),
            weight,
            device,
            launches: RwLock::new(LaunchCache::default()),
        })
    }

    /// The fragment geometry of the resident weight.
    pub fn geometry(&self) -> FragmentGeometry {
        self.weights.geometry
    }

    /// The dtype of Y.
    pub fn output_dtype(&self) -> DType {
        self.out_dtype
    }

    /// Split-K workspace bytes this layer's forwards need for any token count up to
    /// `max_tokens` ([`split_k_workspace_bytes`] for its shape and device).
    pub fn workspace_bytes_for(&self, max_tokens: usize) -> Result<usize> {
        split_k_workspace_bytes(self.out, self.inn, self.device, max_tokens)
    }

    /// Output features: rows of W, columns of Y.
    pub fn out_features(&self) -> usize {
        self.out
    }
    /// Input features: columns of W and of X.
    pub fn in_features(&self) -> usize {
        self.inn
    }
    /// The activation of the layer's epilogue.
    pub fn activation(&self) -> Activation {
        self.epilogue.activation
    }
    /// The SM count plans are chosen for (the executor's, at upload).
    pub fn sm_count(&self) -> usize {
        self.device.sm_count
    }
    /// The device plans are chosen for (the executor's SMs and compute capability, at
    /// upload): the Hopper kernel on compute capability 9.0.
    pub fn gemm_device(&self) -> GemmDevice {
        self.device
    }
    /// The resident weight.
    pub fn weight(&self) -> &DeviceSparse24<E, T> {
        &self.weight
    }
    /// The resident bias.
    pub fn bias(&self) -> Option<&E::Buffer> {
        self.bias.as_ref()
    }

    /// The validated launch for `tokens` tokens: the plan
    /// [`SparseGemmPlan::choose`] picks for the layer's shape and SM count, checked
    /// against the resident weights and epilogue. Built the first time a token count
    /// is seen and cached (up to [`PLAN_CACHE_CAPACITY`] counts); an error (a shape
    /// the kernel cannot run) is returned, not cached.
    pub fn launch_for(&self, tokens: usize) -> Result<GemmLaunch> {
        self.with_launch(tokens, |g| Ok(g.clone()))
    }

    /// Runs `f` on the launch for `tokens` (cached, or built and cached), without
    /// copying it out of the cache.
    fn with_launch<R>(&self, tokens: usize, f: impl FnOnce(&GemmLaunch) -> Result<R>) -> Result<R> {
        {
            let cache = self.launches.read().map_err(|_| poisoned())?;
            if let Some(g) = cache.get(&tokens) {
                return f(g);
            }
        }
        let plan = SparseGemmPlan::choose_for(tokens, self.out, self.inn, self.device)?;
        let g = GemmLaunch::new(
            &plan,
            T::DTYPE,
            self.out_dtype,
            &self.weights,
            &self.epilogue,
        )?;
        let r = f(&g);
        let mut cache = self.launches.write().map_err(|_| poisoned())?;
        if cache.len() < PLAN_CACHE_CAPACITY {
            cache.insert(tokens, g);
        }
        r
    }

    /// Token counts whose launch is cached.
    pub fn cached_token_counts(&self) -> usize {
        self.launches.read().map(|c| c.len()).unwrap_or(0)
    }

    /// The launch of one forward, not yet enqueued: the cached launch for `tokens`,
    /// X [tokens, in] and Y [tokens, out] by device address and length in elements
    /// (lengths and alignment checked), and the split-K workspace (grown on `exec`
    /// when too small). Allocates nothing once `tokens` has been seen and the
    /// workspace is large enough.
    pub fn launch(
        &self,
        exec: &E,
        tokens: usize,
        x: DeviceSlice,
        y: DeviceSlice,
        workspace: &mut Workspace<E>,
    ) -> Result<Launch<[Arg; 1]>> {
        self.launch_with(exec, tokens, x, y, None, workspace)
    }

    /// [`DeviceLinear::launch`] with the residual C [tokens, out] (elements of `T`),
    /// read when the layer's beta is nonzero (then required) and ignored otherwise.
    /// Y's length is in elements of the output dtype.
    pub fn launch_with(
        &self,
        exec: &E,
        tokens: usize,
        x: DeviceSlice,
        y: DeviceSlice,
        c: Option<DeviceSlice>,
        workspace: &mut Workspace<E>,
    ) -> Result<Launch<[Arg; 1]>> {
        self.with_launch(tokens, |g| {
            check_len("X", g.x_len(), x.len)?;
            check_len("Y", g.y_len(), y.len)?;
            let ws = workspace.ensure(exec, g.workspace_bytes())?;
            g.bind(x.ptr, y.ptr, c, ws)
        })
    }

    /// Enqueues `Y = act(X · Wᵀ + bias)` on `exec`: [`DeviceLinear::launch`], then
    /// [`Executor::launch`]. `workspace` belongs to the stream `exec` enqueues on.
    pub fn forward_into(
        &self,
        exec: &E,
        tokens: usize,
        x: DeviceSlice,
        y: DeviceSlice,
        workspace: &mut Workspace<E>,
    ) -> Result<()> {
        exec.launch(&self.launch(exec, tokens, x, y, workspace)?)
    }
}

/// Refuses f32 layers on the GPU paths.
pub(crate) fn check_gpu_dtype<T: Element>() -> Result<()> {
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

/// Alignment of X the kernels need (16-byte vector loads and bulk copies); a less
/// aligned input is staged ([`StreamRuntime::forward`]).
pub const INPUT_ALIGN: u64 = 16;

/// The scratch memory of one stream.
struct StreamBuffers<E: Executor> {
    workspace: Workspace<E>,
    staging: Workspace<E>,
}

/// One stream's share of sparse24's device state: the executor that enqueues on
/// the stream, the split-K workspace every layer running on the stream uses (one
/// per stream, not per layer: forwards on one stream run one after another), and an
/// aligned staging buffer for misaligned inputs. Thread-safe: forwards from several
/// threads on one stream take turns on its buffers (they are in stream order anyway).
pub struct StreamRuntime<E: Executor> {
    exec: E,
    buffers: Mutex<StreamBuffers<E>>,
}

fn stream_poisoned() -> Error {
    Error::InvalidArgument {
        what: "stream",
        why: "a thread panicked while using this stream's workspace".into(),
    }
}

impl<E: Executor> StreamRuntime<E> {
    /// A runtime over `exec` (an executor on the stream), with empty buffers.
    pub fn new(exec: E) -> Self {
        StreamRuntime {
            exec,
            buffers: Mutex::new(StreamBuffers {
                workspace: Workspace::new(),
                staging: Workspace::new(),
            }),
        }
    }

    /// The executor on the stream.
    pub fn executor(&self) -> &E {
        &self.exec
    }

    /// Grows the split-K workspace now to what `layers` need for any token count up
    /// to `max_tokens` (the largest [`DeviceLinear::workspace_bytes_for`]), so that
    /// their forwards on this stream with at most `max_tokens` tokens allocate
    /// nothing (what CUDA-graph capture needs; also warm each token count once
    /// outside the capture so its launch is cached). Returns the workspace bytes held.
    pub fn reserve<'a, T: Element + 'a>(
        &self,
        layers: impl IntoIterator<Item = &'a DeviceLinear<E, T>>,
        max_tokens: usize,
    ) -> Result<usize>
    where
        E: 'a,
    {
        // Layers of one shape need the same: compute each shape once.
        let mut shapes: Vec<(usize, usize, GemmDevice)> = Vec::new();
        let mut need = 0;
        for l in layers {
            let key = (l.out, l.inn, l.device);
            if !shapes.contains(&key) {
                shapes.push(key);
                need = need.max(l.workspace_bytes_for(max_tokens)?);
            }
        }
        self.reserve_workspace(need)?;
        Ok(self.workspace_bytes())
    }

    /// Grows the split-K workspace to at least `bytes` now.
    pub fn reserve_workspace(&self, bytes: usize) -> Result<()> {
        let mut b = self.buffers.lock().map_err(|_| stream_poisoned())?;
        b.workspace.reserve(&self.exec, bytes)
    }

    /// Grows the staging buffer for misaligned inputs to at least `bytes` now (an
    /// engine that hands out inputs at unaligned offsets and captures graphs
    /// reserves `max_tokens × in × size_of::<T>()` of its widest layer).
    pub fn reserve_staging(&self, bytes: usize) -> Result<()> {
        let mut b = self.buffers.lock().map_err(|_| stream_poisoned())?;
        b.staging.reserve(&self.exec, bytes)
    }

    /// With `true`, forwards on this stream never allocate: one that needs more
    /// workspace or staging than reserved returns an error (an `InvalidArgument`
    /// naming the workspace) instead, so an allocation can never happen inside a
    /// CUDA-graph capture. The `reserve` calls still grow the buffers. `false`
    /// (the default) lets forwards grow them.
    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let mut b = self.buffers.lock().map_err(|_| stream_poisoned())?;
        b.workspace.set_growable(!frozen);
        b.staging.set_growable(!frozen);
        Ok(())
    }

    /// Bytes of split-K workspace held.
    pub fn workspace_bytes(&self) -> usize {
        self.buffers.lock().map_or(0, |b| b.workspace.bytes())
    }

    /// Bytes of staging buffer held.
    pub fn staging_bytes(&self) -> usize {
        self.buffers.lock().map_or(0, |b| b.staging.bytes())
    }

    /// Enqueues `layer`'s forward on this stream: X [tokens, in] (elements of `T`),
    /// Y [tokens, out] (elements of the layer's output dtype), C [tokens, out]
    /// (elements of `T`; read when the layer's beta is nonzero).
    ///
    /// X is read in place when its address is [`INPUT_ALIGN`]-byte aligned (what
    /// the kernel's vector loads need). Otherwise it is first copied, on this
    /// stream, into the stream's staging buffer (grown when too small: reserve it
    /// with [`StreamRuntime::reserve_staging`] to keep forwards allocation-free),
    /// and the kernel reads the copy: correct for any element-aligned view, at the
    /// cost of one device copy of X. Y and C need only element alignment.
    pub fn forward<T: Element>(
        &self,
        layer: &DeviceLinear<E, T>,
        tokens: usize,
        x: DeviceSlice,
        y: DeviceSlice,
        c: Option<DeviceSlice>,
    ) -> Result<()> {
        let mut guard = self.buffers.lock().map_err(|_| stream_poisoned())?;
        let b = &mut *guard;
        let x = if !x.ptr.is_multiple_of(INPUT_ALIGN) {
            let x_len = crate::shape::tokens_by("X", "in", tokens, layer.inn)?;
            check_len("X", x_len, x.len)?;
            let bytes = x_len * std::mem::size_of::<T>();
            let staged =
                b.staging
                    .ensure(&self.exec, bytes)?
                    .ok_or_else(|| Error::InvalidArgument {
                        what: "X",
                        why: "an empty input cannot be staged".into(),
                    })?;
            self.exec.copy_device(staged.ptr, x.ptr, bytes)?;
            DeviceSlice {
                ptr: staged.ptr,
                len: x.len,
            }
        } else {
            x
        };
        let l = layer.launch_with(&self.exec, tokens, x, y, c, &mut b.workspace)?;
        self.exec.launch(&l)
    }
}

impl<E: Executor, T: Element> std::fmt::Debug for DeviceLinear<E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceLinear")
            .field("dtype", &T::DTYPE)
            .field("out", &self.out)
            .field("in", &self.inn)
            .field("device", &self.device)
            .field("out_dtype", &self.out_dtype)
            .field("epilogue", &self.epilogue)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::record::{Recording, RecordingExecutor};
    use crate::linear::Pruning;
    use half::bf16;

    fn layer(out: usize, inn: usize) -> SparseLinear<bf16> {
        let w: Vec<bf16> = (0..out * inn)
            .map(|i| bf16::from_f32(((i * 37 % 101) as f32 - 50.0) / 64.0))
            .collect();
        SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)
            .unwrap()
            .with_bias((0..out).map(|o| bf16::from_f32(o as f32 / 128.0)).collect())
            .unwrap()
            .with_activation(Activation::Gelu)
    }

    #[test]
    fn launches_are_cached_per_token_count_up_to_the_capacity() {
        let exec = RecordingExecutor::new(Recording::CountOnly);
        let dev = DeviceLinear::upload(&exec, &layer(64, 128)).unwrap();
        assert_eq!(dev.cached_token_counts(), 0);
        let a = dev.launch_for(5).unwrap();
        assert_eq!(dev.launch_for(5).unwrap(), a);
        assert_eq!(dev.cached_token_counts(), 1);
        assert_eq!(
            *a.plan(),
            SparseGemmPlan::choose(5, 64, 128, dev.sm_count()).unwrap()
        );
        // Errors are not cached.
        assert!(dev.launch_for(usize::MAX).is_err());
        assert_eq!(dev.cached_token_counts(), 1);
        for t in 1..=PLAN_CACHE_CAPACITY + 10 {
            dev.launch_for(t).unwrap();
        }
        assert_eq!(dev.cached_token_counts(), PLAN_CACHE_CAPACITY);
        // Past the capacity a launch is still built (and equal to a cached one's).
        let t = PLAN_CACHE_CAPACITY + 5;
        assert_eq!(
            *dev.launch_for(t).unwrap().plan(),
            SparseGemmPlan::choose(t, 64, 128, dev.sm_count()).unwrap()
        );
    }

    #[test]
    fn workspace_grows_only() {
        let exec = RecordingExecutor::default();
        let mut ws = Workspace::<RecordingExecutor>::new();
        assert_eq!(ws.ensure(&exec, 0).unwrap(), None);
        let a = ws.ensure(&exec, 1000).unwrap().unwrap();
        assert_eq!(a.len, 1000);
        assert_eq!(ws.ensure(&exec, 10).unwrap(), Some(a));
        let b = ws.ensure(&exec, 5000).unwrap().unwrap();
        assert_eq!(b.len, 5000);
        assert_ne!(a.ptr, b.ptr);
        assert_eq!(ws.bytes(), 5000);
    }

    /// The core on the emulator computes what the CPU forward does.
    #[cfg(feature = "sim")]
    #[test]
    fn core_forward_on_the_emulator_matches_the_cpu() {
        use crate::sim::SimExecutor;
        let (out, inn) = (64, 128);
        let lin = layer(out, inn);
        let exec = SimExecutor::new();
        let dev = DeviceLinear::upload(&exec, &lin).unwrap();
        let mut ws = Workspace::new();
        for tokens in [1usize, 3] {
            let x: Vec<bf16> = (0..tokens * inn)
                .map(|i| bf16::from_f32(((i * 13 % 29) as f32 - 14.0) / 16.0))
                .collect();
            let xb = exec.upload(&x).unwrap();
            let yb = exec.alloc_zeroed(tokens * out * 2).unwrap();
            let s = |b: &crate::sim::SimBuffer, len| DeviceSlice {
                ptr: exec.ptr(b),
                len,
            };
            dev.forward_into(
                &exec,
                tokens,
                s(&xb, tokens * inn),
                s(&yb, tokens * out),
                &mut ws,
            )
            .unwrap();
            let got: Vec<bf16> = exec.download(&yb).unwrap();
            let want = lin.forward_cpu(&x, tokens).unwrap();
            for (g, w) in got.iter().zip(&want) {
                let (g, w) = (g.to_f32(), w.to_f32());
                assert!((g - w).abs() <= 0.05 + 0.02 * w.abs(), "{g} vs {w}");
            }
        }
    }
}
