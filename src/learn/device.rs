//! One learner step on the device (kernels/learn.cu plus the fused mask kernels of
//! [`crate::ops::mask`]), generic over [`Executor`]: the same launches run on a GPU
//! (cudarc) and on the PTX emulator.
//!
//! A step enqueues, with no host synchronisation: soft mask forward (W_eff) → D =
//! W − W_eff → P = D·G → loss partials and dW_eff = −2·P/‖XWᵀ‖² → mask backward (dπ)
//! → Adam on π. [`DeviceLearnStep::loss`] reads the scalar back (the only sync).
//!
//! The dense product D·G runs on our own tiled SGEMM (`learn_gram_product`, f32
//! accumulate), not cuBLAS, so that the whole step also runs on ptxsim; a cuBLAS(Lt)
//! SGEMM can replace that one launch behind the same [`DeviceLearnStep::step`] API.
//!
//! Like the CPU [`MaskLearner`], the step works on the weights widened to f32 (the
//! f32 instantiations of the kernels); the launch builders below take any weight
//! dtype.

use super::{AdamConfig, MaskLearner};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::format::check_shape;
use crate::launch::{blocks_for, Arg, Executor, Launch};
use crate::mask::{check_logits, SampleParams, Sampling, CANDIDATES};
use crate::ops::mask as mask_ops;
use crate::pattern::GROUP;

const THREADS: usize = 256;
const TILE: usize = 64;
const MODULE: &str = "learn";

fn misaligned(what: &'static str, addr: u64, align: usize) -> Result<()> {
    if addr % align as u64 != 0 {
        return Err(Error::Misaligned { what, addr, align });
    }
    Ok(())
}

fn launch(kernel: &'static str, grid: [u32; 3], args: Vec<Arg>) -> Launch {
    Launch {
        module: MODULE,
        kernel,
        grid,
        block: [THREADS as u32, 1, 1],
        dynamic_shared_bytes: 0,
        args,
    }
}

fn groups_of(rows: usize, cols: usize) -> Result<usize> {
    check_shape(rows, cols)?;
    Ok(rows * cols / GROUP)
}

/// f32 elements of the partial-sum workspace of [`loss_grad_launches`].
pub fn partials_len(rows: usize, cols: usize) -> Result<usize> {
    Ok(blocks_for(groups_of(rows, cols)?, THREADS) as usize)
}

/// D = W − W_eff as f32 [rows, cols]; W and W_eff in `dtype`.
pub fn diff_launch(
    dtype: DType,
    w: u64,
    w_eff: u64,
    d: u64,
    rows: usize,
    cols: usize,
) -> Result<Launch> {
    let groups = groups_of(rows, cols)?;
    misaligned("weights", w, 4 * dtype.size())?;
    misaligned("effective weights", w_eff, 4 * dtype.size())?;
    misaligned("difference", d, 16)?;
    let kernel = match dtype {
        DType::F32 => "learn_diff_f32",
        DType::F16 => "learn_diff_f16",
        DType::BF16 => "learn_diff_bf16",
    };
    Ok(launch(
        kernel,
        [blocks_for(groups, THREADS), 1, 1],
        vec![
            Arg::Ptr(w),
            Arg::Ptr(w_eff),
            Arg::Ptr(d),
            Arg::U64(groups as u64),
        ],
    ))
}

/// P = D·G (f32): D [rows, cols], G [cols, cols].
pub fn gram_product_launch(d: u64, gram: u64, p: u64, rows: usize, cols: usize) -> Result<Launch> {
    check_shape(rows, cols)?;
    for (what, a) in [("difference", d), ("gram", gram), ("product", p)] {
        misaligned(what, a, 4)?;
    }
    let dim = |n: usize| -> Result<u32> {
        u32::try_from(n).map_err(|_| Error::Shape {
            what: "gram product",
            value: n,
            requirement: "rows and cols must fit in u32",
        })
    };
    Ok(launch(
        "learn_gram_product",
        [blocks_for(cols, TILE), blocks_for(rows, TILE), 1],
        vec![
            Arg::Ptr(d),
            Arg::Ptr(gram),
            Arg::Ptr(p),
            Arg::U32(dim(rows)?),
            Arg::U32(dim(cols)?),
        ],
    ))
}

/// Σ D⊙P → `loss` (one f64: Σ/`norm`, partials in `partials`, [`partials_len`] f32)
/// and dW_eff = −2·P/`norm` in `dtype`.
#[allow(clippy::too_many_arguments)]
pub fn loss_grad_launches(
    dtype: DType,
    d: u64,
    p: u64,
    dw_eff: u64,
    partials: u64,
    loss: u64,
    rows: usize,
    cols: usize,
    norm: f64,
) -> Result<Vec<Launch>> {
    let groups = groups_of(rows, cols)?;
    if !(norm.is_finite() && norm > 0.0) {
        return Err(Error::InvalidArgument {
            what: "norm",
            why: format!("must be finite and > 0, got {norm}"),
        });
    }
    misaligned("difference", d, 16)?;
    misaligned("product", p, 16)?;
    misaligned("gradient", dw_eff, 4 * dtype.size())?;
    misaligned("partials", partials, 4)?;
    misaligned("loss", loss, 8)?;
    let kernel = match dtype {
        DType::F32 => "learn_loss_grad_f32",
        DType::F16 => "learn_loss_grad_f16",
        DType::BF16 => "learn_loss_grad_bf16",
    };
    let blocks = blocks_for(groups, THREADS);
    Ok(vec![
        launch(
            kernel,
            [blocks, 1, 1],
            vec![
                Arg::Ptr(d),
                Arg::Ptr(p),
                Arg::Ptr(dw_eff),
                Arg::Ptr(partials),
                Arg::U64(groups as u64),
                Arg::F32((-2.0 / norm) as f32),
            ],
        ),
        launch(
            "learn_loss_finish",
            [1, 1, 1],
            vec![
                Arg::Ptr(partials),
                Arg::U32(blocks),
                Arg::U64((1.0 / norm).to_bits()),
                Arg::Ptr(loss),
            ],
        ),
    ])
}

/// Adam step `t` (from 1) of `n` f32 parameters along `grad`; moments `m`, `v` f32.
#[allow(clippy::too_many_arguments)]
pub fn adam_launch(
    params: u64,
    grad: u64,
    m: u64,
    v: u64,
    n: usize,
    cfg: &AdamConfig,
    t: u32,
) -> Result<Launch> {
    for (what, a) in [("params", params), ("grad", grad), ("m", m), ("v", v)] {
        misaligned(what, a, 4)?;
    }
    if t == 0 {
        return Err(Error::InvalidArgument {
            what: "adam step",
            why: "steps count from 1".into(),
        });
    }
    Ok(launch(
        "learn_adam",
        [blocks_for(n, THREADS), 1, 1],
        vec![
            Arg::Ptr(params),
            Arg::Ptr(grad),
            Arg::Ptr(m),
            Arg::Ptr(v),
            Arg::U64(n as u64),
            Arg::F32(cfg.lr),
            Arg::F32(cfg.beta1),
            Arg::F32(cfg.beta2),
            Arg::F32(cfg.eps),
            Arg::U32(t),
        ],
    ))
}

/// The device state of one layer's learning run: W (f32), G (f32), logits, Adam
/// moments and scratch, all on `E`'s device. Memory: about 4·(11·rows·cols + cols²)
/// bytes (five weight-sized f32 buffers, four logit-sized ones, G).
pub struct DeviceLearnStep<E: Executor> {
    rows: usize,
    cols: usize,
    seed: u64,
    norm: f64,
    adam: AdamConfig,
    t: u32,
    w: E::Buffer,
    gram: E::Buffer,
    logits: E::Buffer,
    m: E::Buffer,
    v: E::Buffer,
    dlogits: E::Buffer,
    w_eff: E::Buffer,
    d: E::Buffer,
    p: E::Buffer,
    dw_eff: E::Buffer,
    partials: E::Buffer,
    loss: E::Buffer,
}

impl<E: Executor> DeviceLearnStep<E> {
    /// Uploads `learner`'s layer (W widened to f32, G in f32) and starting `logits`
    /// [rows, cols/4, 6]; Adam starts from zero moments, as [`super::Adam::new`].
    pub fn new(exec: &E, learner: &MaskLearner, logits: &[f32]) -> Result<Self> {
        let (rows, cols) = (learner.rows, learner.cols);
        check_logits(rows, cols, logits.len())?;
        let n = rows * cols;
        let nl = logits.len();
        Ok(DeviceLearnStep {
            rows,
            cols,
            seed: learner.cfg.seed,
            norm: learner.norm,
            adam: learner.cfg.adam,
            t: 0,
            w: exec.upload(&learner.w)?,
            gram: exec.upload(learner.calib.gram32())?,
            logits: exec.upload(logits)?,
            m: exec.alloc_zeroed(4 * nl)?,
            v: exec.alloc_zeroed(4 * nl)?,
            dlogits: exec.alloc_zeroed(4 * nl)?,
            w_eff: exec.alloc_zeroed(4 * n)?,
            d: exec.alloc_zeroed(4 * n)?,
            p: exec.alloc_zeroed(4 * n)?,
            dw_eff: exec.alloc_zeroed(4 * n)?,
            partials: exec.alloc_zeroed(4 * partials_len(rows, cols)?)?,
            loss: exec.alloc_zeroed(8)?,
        })
    }

    /// Enqueues one step at sampling step `step_idx` (the Philox noise) with
    /// temperature `tau`, logit scale `kappa` and regulariser `lambda`; Adam's own
    /// counter advances by one.
    pub fn step(
        &mut self,
        exec: &E,
        step_idx: usize,
        tau: f32,
        kappa: f32,
        lambda: f32,
    ) -> Result<()> {
        let (rows, cols) = (self.rows, self.cols);
        let p = SampleParams {
            seed: self.seed,
            step: u32::try_from(step_idx).map_err(|_| Error::InvalidArgument {
                what: "step",
                why: format!("{step_idx} does not fit in u32"),
            })?,
            kappa,
            tau,
        };
        let ptr = |b: &E::Buffer| exec.ptr(b);
        let mut launches = mask_ops::forward_launches(
            DType::F32,
            ptr(&self.w),
            ptr(&self.logits),
            ptr(&self.w_eff),
            None,
            rows,
            cols,
            &p,
            Sampling::Soft,
        )?;
        launches.push(diff_launch(
            DType::F32,
            ptr(&self.w),
            ptr(&self.w_eff),
            ptr(&self.d),
            rows,
            cols,
        )?);
        launches.push(gram_product_launch(
            ptr(&self.d),
            ptr(&self.gram),
            ptr(&self.p),
            rows,
            cols,
        )?);
        launches.extend(loss_grad_launches(
            DType::F32,
            ptr(&self.d),
            ptr(&self.p),
            ptr(&self.dw_eff),
            ptr(&self.partials),
            ptr(&self.loss),
            rows,
            cols,
            self.norm,
        )?);
        launches.push(mask_ops::backward_launch(
            DType::F32,
            ptr(&self.w),
            ptr(&self.logits),
            ptr(&self.dw_eff),
            ptr(&self.dlogits),
            rows,
            cols,
            lambda,
            &p,
            Sampling::Soft,
        )?);
        let t = self.t.saturating_add(1);
        launches.push(adam_launch(
            ptr(&self.logits),
            ptr(&self.dlogits),
            ptr(&self.m),
            ptr(&self.v),
            rows * cols / GROUP * CANDIDATES,
            &self.adam,
            t,
        )?);
        launches.iter().try_for_each(|l| exec.launch(l))?;
        self.t = t;
        Ok(())
    }

    /// L of the soft mask of the last step (before its Adam update); waits for the
    /// queued work.
    pub fn loss(&self, exec: &E) -> Result<f64> {
        Ok(exec.download::<f64>(&self.loss)?[0])
    }

    /// The current logits [rows, cols/4, 6]; waits for the queued work.
    pub fn logits(&self, exec: &E) -> Result<Vec<f32>> {
        exec.download(&self.logits)
    }

    /// dπ of the last step (f32); waits for the queued work.
    pub fn logit_grad(&self, exec: &E) -> Result<Vec<f32>> {
        exec.download(&self.dlogits)
    }

    /// Adam steps taken.
    pub fn steps_taken(&self) -> u32 {
        self.t
    }
}
