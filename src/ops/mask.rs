//! Fused MaskLLM mask sampling on the device (kernels/mask_sampling.cu), matched
//! against the f64 CPU reference of [`crate::mask`]: forward (soft or hard, optional
//! regulariser sum), backward, hard-mask compress and prior initialisation.
//!
//! Each op is a list of launches for one stream; nothing waits on the host between
//! them. Sums are deterministic: one partial per block into a caller's workspace, then
//! a single-block pass in a fixed order.

use super::check_aligned;
use super::prune::{status_reset_launch, STATUS_WORDS};
use crate::dtype::{check_finite, non_finite_at, DType, Element};
use crate::error::{Error, Result};
use crate::format::{Mask24, Sparse24};
use crate::kernels::{mask_sampling, Kernel};
use crate::launch::{Arg, Executor, Launch};
use crate::mask::{check_logits, Forward, SampleParams, Sampling, CANDIDATES};
use crate::pattern::GROUP;
use crate::philox::INIT_STEP;
use crate::shape::{self, MatrixShape};
use crate::shape::{check_len, check_shape};

use super::{groups_of, launch_1d, THREADS};

fn launch(kernel: Kernel, blocks: u32, args: Vec<Arg>) -> Launch {
    launch_1d(kernel, [blocks, 1, 1], args)
}

fn sample_args(p: &SampleParams) -> [Arg; 5] {
    [
        Arg::U32(p.seed as u32),
        Arg::U32((p.seed >> 32) as u32),
        Arg::U32(p.step),
        Arg::F32(p.kappa),
        Arg::F32(1.0 / p.tau),
    ]
}

fn check_weights(dtype: DType, w: u64, logits: u64) -> Result<()> {
    check_aligned("weights", w, 4 * dtype.size())?;
    check_aligned("logits", logits, 8)
}

/// f32 elements of workspace the forward needs for its regulariser sum.
pub fn forward_workspace_len(rows: usize, cols: usize) -> Result<usize> {
    Ok(shape::grid_x("groups", groups_of(rows, cols)?, THREADS)? as usize)
}

/// Where the forward puts the regulariser R = Σ(W ⊙ M)²: per-block partials in
/// `workspace` ([`forward_workspace_len`] f32), the total as one f32 at `out`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RegSum {
    /// Per-block partial sums ([`forward_workspace_len`] f32).
    pub workspace: u64,
    /// The total, one f32.
    pub out: u64,
}

/// Launches of the forward: `w_eff` = W ⊙ M (same dtype as W) and, with `reg`, R.
#[allow(clippy::too_many_arguments)]
pub fn forward_launches(
    dtype: DType,
    w: u64,
    logits: u64,
    w_eff: u64,
    reg: Option<RegSum>,
    rows: usize,
    cols: usize,
    p: &SampleParams,
    s: Sampling,
) -> Result<Vec<Launch>> {
    p.validate()?;
    let groups = groups_of(rows, cols)?;
    check_weights(dtype, w, logits)?;
    check_aligned("output weights", w_eff, 4 * dtype.size())?;
    let blocks = shape::grid_x("groups", groups, THREADS)?;
    let mut args = vec![
        Arg::Ptr(w),
        Arg::Ptr(logits),
        Arg::Ptr(w_eff),
        Arg::Ptr(reg.map_or(0, |r| r.workspace)),
        Arg::U64(groups as u64),
    ];
    args.extend(sample_args(p));
    args.push(Arg::U32((s == Sampling::Hard) as u32));
    let mut out = vec![launch(mask_sampling::mask_forward(dtype), blocks, args)];
    if let Some(r) = reg {
        check_aligned("workspace", r.workspace, 4)?;
        check_aligned("regulariser output", r.out, 4)?;
        out.push(reduce_launch(r.workspace, blocks, r.out));
    }
    Ok(out)
}

fn reduce_launch(partials: u64, n: u32, out: u64) -> Launch {
    launch(
        mask_sampling::MASK_REDUCE_SUM,
        1,
        vec![Arg::Ptr(partials), Arg::U32(n), Arg::Ptr(out)],
    )
}

/// The backward launch: `dlogits` [rows, cols/4, 6] f32 of L − λ·R given `dw_eff`
/// (formulas in [`crate::mask::backward_f64`]).
#[allow(clippy::too_many_arguments)]
pub fn backward_launch(
    dtype: DType,
    w: u64,
    logits: u64,
    dw_eff: u64,
    dlogits: u64,
    rows: usize,
    cols: usize,
    lambda: f32,
    p: &SampleParams,
    s: Sampling,
) -> Result<Launch> {
    p.validate()?;
    if !lambda.is_finite() {
        return Err(Error::InvalidArgument {
            what: "lambda",
            why: format!("must be finite, got {lambda}"),
        });
    }
    let groups = groups_of(rows, cols)?;
    check_weights(dtype, w, logits)?;
    check_aligned("gradient", dw_eff, 4 * dtype.size())?;
    check_aligned("logit gradient", dlogits, 8)?;
    let mut args = vec![
        Arg::Ptr(w),
        Arg::Ptr(logits),
        Arg::Ptr(dw_eff),
        Arg::Ptr(dlogits),
        Arg::U64(groups as u64),
    ];
    args.extend(sample_args(p));
    args.push(Arg::F32(lambda));
    args.push(Arg::U32((s == Sampling::Hard) as u32));
    Ok(launch(
        mask_sampling::mask_backward(dtype),
        shape::grid_x("groups", groups, THREADS)?,
        args,
    ))
}

/// Launches of the inference export: argmax of the logits → `values` [rows, cols/2]
/// and `meta` [rows, cols/16]; faults into `status` (u64 × [`STATUS_WORDS`]).
#[allow(clippy::too_many_arguments)]
pub fn hard_mask_compress_launches(
    dtype: DType,
    w: u64,
    logits: u64,
    values: u64,
    meta: u64,
    status: u64,
    rows: usize,
    cols: usize,
) -> Result<Vec<Launch>> {
    let groups = groups_of(rows, cols)?;
    check_weights(dtype, w, logits)?;
    check_aligned("values", values, 2 * dtype.size())?;
    check_aligned("metadata", meta, 2)?;
    Ok(vec![
        status_reset_launch(status)?,
        launch(
            mask_sampling::hard_mask_compress(dtype),
            shape::grid_x("groups", groups, THREADS)?,
            vec![
                Arg::Ptr(w),
                Arg::Ptr(logits),
                Arg::Ptr(values),
                Arg::Ptr(meta),
                Arg::Ptr(status),
                Arg::U64(groups as u64),
            ],
        ),
    ])
}

/// The status of [`hard_mask_compress_launches`] as the CPU's error: a non-finite
/// logit first, then a non-finite kept weight (the policy of
/// [`crate::dtype::check_finite`]).
pub fn decode_hard_status(status: &[u64], cols: usize) -> Result<()> {
    check_len("status", STATUS_WORDS, status.len())?;
    let per_row = cols / GROUP * CANDIDATES;
    if status[0] != u64::MAX {
        return Err(non_finite_at("logits", status[0] as usize, per_row));
    }
    if status[1] != u64::MAX {
        return Err(non_finite_at("weights", status[1] as usize, cols));
    }
    Ok(())
}

/// f32 elements of workspace [`init_logits_launches`] needs.
pub fn init_workspace_len(rows: usize, cols: usize) -> Result<usize> {
    let n = groups_of(rows, cols)? * CANDIDATES;
    Ok(2 + shape::grid_x("logits", n, THREADS)? as usize)
}

/// Launches of [`crate::mask::init_logits_from_prior`]: π0 = 0.01·N(0,1) (Philox,
/// step [`INIT_STEP`]), mean and std over all logits in two passes, then the prior's
/// raise. `prior` holds logical metadata words [rows, cols/16]; `workspace` is
/// [`init_workspace_len`] f32 (two scalars, then partials).
pub fn init_logits_launches(
    prior: u64,
    logits: u64,
    workspace: u64,
    rows: usize,
    cols: usize,
    seed: u64,
    strength: f32,
) -> Result<Vec<Launch>> {
    if !strength.is_finite() {
        return Err(Error::InvalidArgument {
            what: "strength",
            why: format!("must be finite, got {strength}"),
        });
    }
    let groups = groups_of(rows, cols)?;
    check_aligned("prior metadata", prior, 2)?;
    check_aligned("logits", logits, 8)?;
    check_aligned("workspace", workspace, 4)?;
    let n = groups * CANDIDATES;
    let (sum, sq, partials) = (workspace, workspace + 4, workspace + 8);
    let (gblocks, eblocks) = (
        shape::grid_x("groups", groups, THREADS)?,
        shape::grid_x("logits", n, THREADS)?,
    );
    Ok(vec![
        launch(
            mask_sampling::MASK_INIT_NORMAL,
            gblocks,
            vec![
                Arg::Ptr(logits),
                Arg::Ptr(partials),
                Arg::U64(groups as u64),
                Arg::U32(seed as u32),
                Arg::U32((seed >> 32) as u32),
                Arg::U32(INIT_STEP),
            ],
        ),
        reduce_launch(partials, gblocks, sum),
        launch(
            mask_sampling::MASK_CENTERED_SQ,
            eblocks,
            vec![
                Arg::Ptr(logits),
                Arg::Ptr(sum),
                Arg::Ptr(partials),
                Arg::U64(n as u64),
            ],
        ),
        reduce_launch(partials, eblocks, sq),
        launch(
            mask_sampling::MASK_INIT_PRIOR,
            eblocks,
            vec![
                Arg::Ptr(logits),
                Arg::Ptr(prior),
                Arg::Ptr(sq),
                Arg::U64(n as u64),
                Arg::F32(strength),
            ],
        ),
    ])
}

/// The launch writing the eight Philox words of each of `groups` groups to `out`
/// (u32 × 8 per group), for checking the device generator against the CPU's.
pub fn philox_words_launch(out: u64, groups: usize, seed: u64, step: u32) -> Result<Launch> {
    check_aligned("output", out, 16)?;
    Ok(launch(
        mask_sampling::MASK_PHILOX_WORDS,
        shape::grid_x("groups", groups, THREADS)?,
        vec![
            Arg::Ptr(out),
            Arg::U64(groups as u64),
            Arg::U32(seed as u32),
            Arg::U32((seed >> 32) as u32),
            Arg::U32(step),
        ],
    ))
}

// ------------------------------------------------------------ host conveniences

fn run_all<E: Executor>(exec: &E, launches: &[Launch]) -> Result<()> {
    launches.iter().try_for_each(|l| exec.launch(l))
}

fn check_host<T: Element>(
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
) -> Result<MatrixShape> {
    let shape = check_shape(rows, cols)?;
    check_len("weights", shape.elements(), w.len())?;
    check_logits(rows, cols, logits.len())?;
    Ok(shape)
}

/// The CPU reference's refusal of non-finite weights and logits
/// ([`crate::dtype::check_finite`]): the sampling kernels report no faults, so the
/// host checks before uploading.
fn check_host_finite<T: Element>(w: &[T], shape: MatrixShape, logits: &[f32]) -> Result<()> {
    check_finite("weights", w, shape.cols())?;
    check_finite("logits", logits, shape.logits_per_row())
}

/// Uploads, runs the forward on `exec` and downloads W_eff (and R when asked).
#[allow(clippy::too_many_arguments)]
pub fn forward_on<E: Executor, T: Element>(
    exec: &E,
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
    p: &SampleParams,
    s: Sampling,
    with_reg: bool,
) -> Result<Forward<T>> {
    let shape = check_host(w, rows, cols, logits)?;
    check_host_finite(w, shape, logits)?;
    let (dw, dl) = (exec.upload(w)?, exec.upload(logits)?);
    let out = exec.alloc_zeroed(std::mem::size_of_val(w))?;
    let ws = exec.alloc_zeroed(4 * forward_workspace_len(rows, cols)?)?;
    let total = exec.alloc_zeroed(4)?;
    let reg = with_reg.then(|| RegSum {
        workspace: exec.ptr(&ws),
        out: exec.ptr(&total),
    });
    let l = forward_launches(
        T::DTYPE,
        exec.ptr(&dw),
        exec.ptr(&dl),
        exec.ptr(&out),
        reg,
        rows,
        cols,
        p,
        s,
    )?;
    run_all(exec, &l)?;
    let reg = if with_reg {
        Some(exec.download::<f32>(&total)?[0] as f64)
    } else {
        None
    };
    Ok(Forward {
        w_eff: exec.download(&out)?,
        reg,
    })
}

/// Uploads, runs the backward on `exec` and downloads dπ.
#[allow(clippy::too_many_arguments)]
pub fn backward_on<E: Executor, T: Element>(
    exec: &E,
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
    dw_eff: &[T],
    lambda: f32,
    p: &SampleParams,
    s: Sampling,
) -> Result<Vec<f32>> {
    let shape = check_host(w, rows, cols, logits)?;
    check_len("gradient", shape.elements(), dw_eff.len())?;
    check_host_finite(w, shape, logits)?;
    check_finite("gradient", dw_eff, cols)?;
    let (dw, dl, dg) = (exec.upload(w)?, exec.upload(logits)?, exec.upload(dw_eff)?);
    let out = exec.alloc_zeroed(std::mem::size_of_val(logits))?;
    let l = backward_launch(
        T::DTYPE,
        exec.ptr(&dw),
        exec.ptr(&dl),
        exec.ptr(&dg),
        exec.ptr(&out),
        rows,
        cols,
        lambda,
        p,
        s,
    )?;
    exec.launch(&l)?;
    exec.download(&out)
}

/// Uploads, runs the hard-mask export on `exec` and returns the compressed weights.
pub fn hard_mask_compress_on<E: Executor, T: Element>(
    exec: &E,
    w: &[T],
    rows: usize,
    cols: usize,
    logits: &[f32],
) -> Result<Sparse24<T>> {
    // Non-finite values are the kernel's to find (its status), as on the CPU.
    let shape = check_host(w, rows, cols, logits)?;
    let (dw, dl) = (exec.upload(w)?, exec.upload(logits)?);
    let values = exec.alloc_zeroed(shape.values() * T::DTYPE.size())?;
    let meta = exec.alloc_zeroed(shape.meta_words() * 2)?;
    let status = exec.alloc_zeroed(STATUS_WORDS * 8)?;
    let l = hard_mask_compress_launches(
        T::DTYPE,
        exec.ptr(&dw),
        exec.ptr(&dl),
        exec.ptr(&values),
        exec.ptr(&meta),
        exec.ptr(&status),
        rows,
        cols,
    )?;
    run_all(exec, &l)?;
    decode_hard_status(&exec.download::<u64>(&status)?, cols)?;
    Sparse24::from_parts(rows, cols, exec.download(&values)?, exec.download(&meta)?)
}

/// Uploads the prior mask, initialises logits on `exec` and downloads them.
pub fn init_logits_from_prior_on<E: Executor>(
    exec: &E,
    prior: &Mask24,
    seed: u64,
    strength: f32,
) -> Result<Vec<f32>> {
    let (rows, cols) = (prior.rows(), prior.cols());
    let shape = check_shape(rows, cols)?;
    let meta = exec.upload(&prior.metadata())?;
    let logits = exec.alloc_zeroed(4 * shape.logits())?;
    let ws = exec.alloc_zeroed(4 * init_workspace_len(rows, cols)?)?;
    let l = init_logits_launches(
        exec.ptr(&meta),
        exec.ptr(&logits),
        exec.ptr(&ws),
        rows,
        cols,
        seed,
        strength,
    )?;
    run_all(exec, &l)?;
    exec.download(&logits)
}

/// The device's Philox words for groups 0..`groups` (8 per group).
pub fn philox_words_on<E: Executor>(
    exec: &E,
    groups: usize,
    seed: u64,
    step: u32,
) -> Result<Vec<u32>> {
    let out = exec.alloc_zeroed(32 * groups)?;
    exec.launch(&philox_words_launch(exec.ptr(&out), groups, seed, step)?)?;
    exec.download(&out)
}
