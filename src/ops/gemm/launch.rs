//! Device buffers of one GEMM call, the launch that describes it, and runners that
//! upload, launch and read back on any [`Executor`].

use super::plan::{check_gemm_shape, SparseGemmPlan};
use super::prepared::{GemmLaunch, GemmWeights};
use crate::dtype::{DType, Element};
use crate::epilogue::{Activation, Epilogue};
use crate::error::{Error, Result};
use crate::format::Sparse24;
use crate::launch::{Executor, Launch};
use crate::layout::{to_fragment_order, FragmentGeometry};
use crate::shape::check_len;
use half::{bf16, f16};
use std::marker::PhantomData;

/// A device buffer given by address and length in elements.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DeviceSlice {
    /// Device address of element 0.
    pub ptr: u64,
    /// Elements.
    pub len: usize,
}

/// Device addresses of one GEMM call. `workspace` is needed when the plan splits K.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct GemmBuffers {
    /// Fragment-ordered W values and metadata (see [`DeviceSparse24`]).
    pub w_values: u64,
    /// Fragment-ordered W metadata.
    pub w_meta: u64,
    /// The fragment geometry of W (checked against the plan's shape).
    pub w_geometry: FragmentGeometry,
    /// X [tokens, in], the input dtype.
    pub x: u64,
    /// Y [tokens, out], the output dtype.
    pub y: u64,
    /// Split-K workspace of at least `plan.workspace_bytes()` bytes, zero-filled once.
    pub workspace: Option<DeviceSlice>,
}

/// The epilogue on the device: `act(alpha · acc + beta · C + bias)`, C and bias in
/// the input dtype.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct DeviceEpilogue {
    /// Scales the product.
    pub alpha: f32,
    /// Scales C (0: C is not read).
    pub beta: f32,
    /// C [tokens, out]: read only when `beta != 0`.
    pub c: Option<DeviceSlice>,
    /// bias \[out\].
    pub bias: Option<DeviceSlice>,
    /// Applied last.
    pub activation: Activation,
}

impl GemmBuffers {
    /// The weight part ([`GemmLaunch::new`] takes it).
    pub fn weights(&self) -> GemmWeights {
        GemmWeights {
            values: self.w_values,
            meta: self.w_meta,
            geometry: self.w_geometry,
            row_values: None,
        }
    }
}

impl Default for DeviceEpilogue {
    fn default() -> Self {
        DeviceEpilogue {
            alpha: 1.0,
            beta: 0.0,
            c: None,
            bias: None,
            activation: Activation::None,
        }
    }
}

/// The launches of one sparse linear layer (today exactly one; split-K reduces inside
/// the kernel). Pure: validates shapes (typed errors naming the requirement),
/// pointer alignment and epilogue lengths, then describes the launch. The same
/// checks and launch as [`GemmLaunch::new`] then [`GemmLaunch::bind`], which a caller
/// that runs one shape many times uses instead, to validate once.
pub fn sparse_linear_launches(
    plan: &SparseGemmPlan,
    dtype: DType,
    out_dtype: DType,
    bufs: &GemmBuffers,
    epi: &DeviceEpilogue,
) -> Result<Vec<Launch>> {
    let l = GemmLaunch::new(plan, dtype, out_dtype, &bufs.weights(), epi)?.bind(
        bufs.x,
        bufs.y,
        epi.c,
        bufs.workspace,
    )?;
    Ok(vec![l.to_vec()])
}

/// A 2:4 weight resident on an executor's device in fragment order (uploaded once),
/// and, only when uploaded for a Hopper SS tile ([`DeviceSparse24::upload_for`]), its
/// values a second time row-major: every other kernel keeps one copy of W.
pub struct DeviceSparse24<E: Executor, T> {
    values: E::Buffer,
    meta: E::Buffer,
    row_values: Option<E::Buffer>,
    geometry: FragmentGeometry,
    _t: PhantomData<T>,
}

impl<E: Executor, T: Element> DeviceSparse24<E, T> {
    /// Converts `w` to fragment order on the CPU (src/layout.rs) and uploads it.
    pub fn upload(exec: &E, w: &Sparse24<T>) -> Result<Self> {
        if T::DTYPE == DType::F32 {
            return Err(Error::InvalidArgument {
                what: "dtype",
                why: "the sparse GEMM takes f16 or bf16 weights".into(),
            });
        }
        let f = to_fragment_order(w);
        Ok(DeviceSparse24 {
            values: exec.upload(&f.values)?,
            meta: exec.upload(&f.meta)?,
            row_values: None,
            geometry: f.geometry,
            _t: PhantomData,
        })
    }
    /// A weight already on the device in fragment order (an engine that uploads or
    /// maps its weights itself, or a test that needs only addresses).
    ///
    /// # Safety
    /// `values` and `meta` must hold at least `geometry.value_len()` elements of `T`
    /// and `geometry.meta_len()` metadata words in fragment order
    /// ([`crate::layout::to_fragment_order`]), 16-byte aligned: the kernel reads
    /// that many without a bounds check.
    pub unsafe fn from_buffers(
        values: E::Buffer,
        meta: E::Buffer,
        geometry: FragmentGeometry,
    ) -> Self {
        DeviceSparse24 {
            values,
            meta,
            row_values: None,
            geometry,
            _t: PhantomData,
        }
    }
    /// [`DeviceSparse24::upload`], plus W's row-major values
    /// ([`Sparse24::values`]) when `config` reads them (the Hopper SS tiles,
    /// [`TileShape::w_by_bulk_copy`](super::TileShape::w_by_bulk_copy)): a second copy
    /// of the values (half of W's dense bytes) only for those tiles.
    pub fn upload_for(exec: &E, w: &Sparse24<T>, config: super::GemmConfig) -> Result<Self> {
        let mut d = Self::upload(exec, w)?;
        if config.tile().w_by_bulk_copy() {
            d.row_values = Some(exec.upload(w.values())?);
        }
        Ok(d)
    }
    /// W's row-major values, when uploaded ([`DeviceSparse24::upload_for`]).
    pub fn row_values(&self) -> Option<&E::Buffer> {
        self.row_values.as_ref()
    }
    /// Rows of W (output features).
    pub fn rows(&self) -> usize {
        self.geometry.rows
    }
    /// Columns of W (input features).
    pub fn cols(&self) -> usize {
        self.geometry.cols
    }
    /// The fragment geometry of the uploaded layout.
    pub fn geometry(&self) -> FragmentGeometry {
        self.geometry
    }
    /// The fragment-ordered values.
    pub fn values(&self) -> &E::Buffer {
        &self.values
    }
    /// The fragment-ordered metadata.
    pub fn meta(&self) -> &E::Buffer {
        &self.meta
    }
}

/// Runs one sparse linear layer on device buffers with a caller-provided workspace
/// (`plan.workspace_bytes()` bytes, zero-filled once, reusable across calls on the
/// same stream). Stream-ordered: nothing waits for the device.
#[allow(clippy::too_many_arguments)]
pub fn sparse_linear_with_workspace<E: Executor, T: Element>(
    exec: &E,
    plan: &SparseGemmPlan,
    w: &DeviceSparse24<E, T>,
    x: &E::Buffer,
    y: &E::Buffer,
    out_dtype: DType,
    epi: &DeviceEpilogue,
    workspace: Option<DeviceSlice>,
) -> Result<()> {
    let weights = GemmWeights {
        values: exec.ptr(&w.values),
        meta: exec.ptr(&w.meta),
        geometry: w.geometry,
        row_values: w.row_values.as_ref().map(|b| exec.ptr(b)),
    };
    let l = GemmLaunch::new(plan, T::DTYPE, out_dtype, &weights, epi)?;
    exec.launch(&l.bind(exec.ptr(x), exec.ptr(y), epi.c, workspace)?)
}

/// Converts output bytes of `out_dtype` to f32.
pub fn output_to_f32(bytes: &[u8], out_dtype: DType) -> Vec<f32> {
    match out_dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
    }
}

/// Uploads everything, runs `plan` on `exec` and returns Y as f32 (for tests).
pub fn sparse_linear_with_plan_on<E: Executor, T: Element>(
    exec: &E,
    plan: &SparseGemmPlan,
    x: &[T],
    w: &Sparse24<T>,
    epi: &Epilogue<T>,
    out_dtype: DType,
) -> Result<Vec<f32>> {
    if plan.out != w.rows() || plan.inn != w.cols() {
        return Err(Error::InvalidArgument {
            what: "plan",
            why: format!(
                "plan is for out = {}, in = {} but W is {}x{}",
                plan.out,
                plan.inn,
                w.rows(),
                w.cols()
            ),
        });
    }
    check_gemm_shape(plan.tokens, plan.out, plan.inn)?;
    let x_len = crate::shape::tokens_by("X", "in", plan.tokens, plan.inn)?;
    let y_len = crate::shape::tokens_by("Y", "out", plan.tokens, plan.out)?;
    check_len("X", x_len, x.len())?;
    let dw = DeviceSparse24::upload_for(exec, w, plan.config)?;
    let xb = exec.upload(x)?;
    let yb = exec.alloc_zeroed(y_len * out_dtype.size())?;
    let cb = match epi.c {
        Some(c) => Some((exec.upload(c)?, c.len())),
        None => None,
    };
    let bb = match epi.bias {
        Some(b) => Some((exec.upload(b)?, b.len())),
        None => None,
    };
    let wsb = match plan.workspace_bytes() {
        0 => None,
        n => Some((exec.alloc_zeroed(n)?, n)),
    };
    let slice = |b: &Option<(E::Buffer, usize)>| {
        b.as_ref().map(|(buf, len)| DeviceSlice {
            ptr: exec.ptr(buf),
            len: *len,
        })
    };
    let depi = DeviceEpilogue {
        alpha: epi.alpha,
        beta: epi.beta,
        c: slice(&cb),
        bias: slice(&bb),
        activation: epi.activation,
    };
    sparse_linear_with_workspace(exec, plan, &dw, &xb, &yb, out_dtype, &depi, slice(&wsb))?;
    Ok(output_to_f32(&exec.download_bytes(&yb)?, out_dtype))
}

/// Uploads everything, runs the plan [`SparseGemmPlan::choose_for`] picks for the
/// executor's device ([`Executor::gemm_device`]: on the emulator [`DEFAULT_SM_COUNT`](super::DEFAULT_SM_COUNT)
/// SMs of compute capability 8.0 unless set), and returns Y as f32 (for tests and
/// examples).
pub fn sparse_linear_on<E: Executor, T: Element>(
    exec: &E,
    x: &[T],
    tokens: usize,
    w: &Sparse24<T>,
    epi: &Epilogue<T>,
    out_dtype: DType,
) -> Result<Vec<f32>> {
    let plan = SparseGemmPlan::choose_for(tokens, w.rows(), w.cols(), exec.gemm_device()?)?;
    sparse_linear_with_plan_on(exec, &plan, x, w, epi, out_dtype)
}
