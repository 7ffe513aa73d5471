//! Device buffers of one GEMM call, the launch that describes it, and runners that
//! upload, launch and read back on any [`Executor`].

use super::config::{out_dtype_code, DEFAULT_SM_COUNT};
use super::plan::{check_gemm_shape, SparseGemmPlan, WORKSPACE_ALIGN};
use crate::abi::GemmParams;
use crate::dtype::{DType, Element};
use crate::epilogue::{Activation, Epilogue};
use crate::error::{Error, Result};
use crate::format::Sparse24;
use crate::launch::{Arg, Executor, Launch, StructArg};
use crate::layout::{to_fragment_order, FragmentGeometry, META_STEPS_PER_LOAD};
use crate::ops::check_aligned;
use crate::shape::check_len;
use half::{bf16, f16};
use std::marker::PhantomData;

/// A device buffer given by address and length in elements.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DeviceSlice {
    pub ptr: u64,
    pub len: usize,
}

/// Device addresses of one GEMM call. `workspace` is needed when the plan splits K.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct GemmBuffers {
    /// Fragment-ordered W values and metadata (see [`DeviceSparse24`]).
    pub w_values: u64,
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
    pub alpha: f32,
    pub beta: f32,
    /// C [tokens, out]: read only when `beta != 0`.
    pub c: Option<DeviceSlice>,
    /// bias [out].
    pub bias: Option<DeviceSlice>,
    pub activation: Activation,
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
/// pointer alignment and epilogue lengths, then describes the launch.
pub fn sparse_linear_launches(
    plan: &SparseGemmPlan,
    dtype: DType,
    out_dtype: DType,
    bufs: &GemmBuffers,
    epi: &DeviceEpilogue,
) -> Result<Vec<Launch>> {
    let kernel = plan.config.handle(dtype)?;
    check_gemm_shape(plan.tokens, plan.out, plan.inn)?;
    let geo = bufs.w_geometry;
    if geo != FragmentGeometry::new(plan.out, plan.inn) || geo.steps != plan.steps {
        return Err(Error::InvalidArgument {
            what: "weights",
            why: format!(
                "W is {}x{} (fragment geometry {:?}) but the plan is for out = {}, in = {}",
                geo.rows, geo.cols, geo, plan.out, plan.inn
            ),
        });
    }
    let groups = plan.steps / META_STEPS_PER_LOAD;
    if plan.chunk_steps == 0
        || !plan.chunk_steps.is_multiple_of(META_STEPS_PER_LOAD)
        || plan.splits == 0
        || plan.splits != (groups).div_ceil(plan.chunk_steps / META_STEPS_PER_LOAD)
    {
        return Err(Error::InvalidArgument {
            what: "plan",
            why: format!(
                "splits = {} and chunk_steps = {} do not cover {} steps in nonempty 8-step \
                 chunks (build plans with SparseGemmPlan::new or ::choose)",
                plan.splits, plan.chunk_steps, plan.steps
            ),
        });
    }
    check_aligned("W values", bufs.w_values, 16)?;
    check_aligned("W metadata", bufs.w_meta, 16)?;
    check_aligned("X", bufs.x, 16)?;
    check_aligned("Y", bufs.y, out_dtype.size())?;
    let (ws, counters) = if plan.splits > 1 {
        let need = plan.workspace_bytes();
        let w = bufs.workspace.ok_or_else(|| Error::InvalidArgument {
            what: "workspace",
            why: format!(
                "the plan splits K {} ways and needs a {need}-byte workspace",
                plan.splits
            ),
        })?;
        if w.len < need {
            return Err(Error::Length {
                what: "split-K workspace bytes",
                expected: need,
                actual: w.len,
            });
        }
        check_aligned("workspace", w.ptr, WORKSPACE_ALIGN)?;
        (w.ptr + plan.partials_offset() as u64, w.ptr)
    } else {
        (0, 0)
    };
    let c = match (epi.c, epi.beta != 0.0) {
        (Some(c), true) => {
            check_len(
                "C",
                crate::shape::tokens_by("C", "out", plan.tokens, plan.out)?,
                c.len,
            )?;
            check_aligned("C", c.ptr, dtype.size())?;
            c.ptr
        }
        (None, true) => {
            return Err(Error::InvalidArgument {
                what: "beta",
                why: "beta is nonzero but no C matrix was given".into(),
            })
        }
        (_, false) => 0,
    };
    let bias = match epi.bias {
        Some(b) => {
            check_len("bias", plan.out, b.len)?;
            check_aligned("bias", b.ptr, dtype.size())?;
            b.ptr
        }
        None => 0,
    };
    let t = plan.config.tile();
    Ok(vec![Launch {
        module: kernel.module,
        kernel: kernel.name,
        grid: plan.grid(),
        block: [t.threads as u32, 1, 1],
        dynamic_shared_bytes: t.dynamic_shared_bytes() as u32,
        args: vec![Arg::Struct(StructArg::Gemm(GemmParams {
            wv: bufs.w_values,
            wm: bufs.w_meta,
            x: bufs.x,
            c,
            bias,
            y: bufs.y,
            ws,
            counters,
            out: plan.out as u32,
            inn: plan.inn as u32,
            tokens: plan.tokens as u32,
            steps: plan.steps as u32,
            chunk_steps: plan.chunk_steps as u32,
            splits: plan.splits as u32,
            alpha: epi.alpha,
            beta: epi.beta,
            act: epi.activation.code(),
            out_dtype: out_dtype_code(out_dtype),
        }))],
    }])
}

/// A 2:4 weight resident on an executor's device in fragment order (uploaded once).
pub struct DeviceSparse24<E: Executor, T> {
    values: E::Buffer,
    meta: E::Buffer,
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
            geometry: f.geometry,
            _t: PhantomData,
        })
    }
    pub fn rows(&self) -> usize {
        self.geometry.rows
    }
    pub fn cols(&self) -> usize {
        self.geometry.cols
    }
    pub fn geometry(&self) -> FragmentGeometry {
        self.geometry
    }
    pub fn values(&self) -> &E::Buffer {
        &self.values
    }
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
    let bufs = GemmBuffers {
        w_values: exec.ptr(&w.values),
        w_meta: exec.ptr(&w.meta),
        w_geometry: w.geometry,
        x: exec.ptr(x),
        y: exec.ptr(y),
        workspace,
    };
    for l in sparse_linear_launches(plan, T::DTYPE, out_dtype, &bufs, epi)? {
        exec.launch(&l)?;
    }
    Ok(())
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
    let dw = DeviceSparse24::upload(exec, w)?;
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

/// Uploads everything, runs the plan [`SparseGemmPlan::choose`] picks for
/// [`DEFAULT_SM_COUNT`] SMs, and returns Y as f32 (for tests and examples).
pub fn sparse_linear_on<E: Executor, T: Element>(
    exec: &E,
    x: &[T],
    tokens: usize,
    w: &Sparse24<T>,
    epi: &Epilogue<T>,
    out_dtype: DType,
) -> Result<Vec<f32>> {
    let plan = SparseGemmPlan::choose(tokens, w.rows(), w.cols(), DEFAULT_SM_COUNT)?;
    sparse_linear_with_plan_on(exec, &plan, x, w, epi, out_dtype)
}
