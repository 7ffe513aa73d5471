//! One learner step on the device (kernels/learn.cu plus the fused mask kernels of
//! [`crate::ops::mask`]), generic over [`Executor`]: the same launches run on a GPU
//! (cudarc) and on the PTX emulator.
//!
//! A step enqueues, with no host synchronisation: soft mask forward (W_eff and
//! R = Σ W_eff²) → D = W − W_eff → P = D·G → loss partials and dW_eff = −2·P/‖XWᵀ‖²
//! → mask backward (dπ of L − λR) → Adam on π. Each step's L and R land in a
//! device-side history that [`DeviceLearnStep::history`] reads back in one copy, so a
//! run synchronises only where it evaluates the hard mask
//! ([`DeviceLearnStep::hard_loss`]: argmax export → decompress → the same loss).
//!
//! The dense product D·G goes through the executor's dense f32 GEMM library where it
//! has one ([`Executor::dense_f32_gemm`]: cuBLASLt, f32 compute, on a GPU) and otherwise
//! through our own tiled f32 GEMM (`learn_gram_product`, f32 accumulate), which is what
//! runs on ptxsim; [`DeviceLearnStep::with_kernel_gram`] forces the kernel.
//!
//! Like the CPU [`MaskLearner`], the step works on the weights widened to f32 (the
//! f32 instantiations of the kernels); the launch builders below take any weight
//! dtype.

use super::{AdamConfig, MaskLearner};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::launch::Executor;
use crate::mask::{check_logits, SampleParams, Sampling};
use crate::ops::decompress::decompress_launch;
use crate::ops::mask::{self as mask_ops, RegSum};
use crate::ops::prune::STATUS_WORDS;
use crate::shape::check_shape;

pub use crate::ops::learn::{
    adam_launch, diff_launch, gram_product_launch, loss_grad_launches, partials_len,
};

/// The device state of one layer's learning run: W (f32), G (f32), logits, Adam
/// moments, scratch and the per-step loss history, all on `E`'s device. Memory: about
/// 4·(11.5·rows·cols + cols²) bytes (five weight-sized f32 buffers, the hard-mask
/// export, four logit-sized buffers, G).
pub struct DeviceLearnStep<E: Executor> {
    rows: usize,
    cols: usize,
    seed: u64,
    norm: f64,
    adam: AdamConfig,
    t: u32,
    library_gram: bool,
    last_step: Option<usize>,
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
    reg_ws: E::Buffer,
    /// L of step s at f64 index s.
    hist_loss: E::Buffer,
    /// R of step s at f32 index s.
    hist_reg: E::Buffer,
    history_len: usize,
    values: E::Buffer,
    meta: E::Buffer,
    status: E::Buffer,
    hard: E::Buffer,
}

impl<E: Executor> DeviceLearnStep<E> {
    /// Uploads `learner`'s layer (W widened to f32, G in f32) and starting `logits`
    /// [rows, cols/4, 6]; Adam starts from zero moments, as [`super::Adam::new`]. The
    /// history holds the learner's configured number of steps.
    pub fn new(exec: &E, learner: &MaskLearner, logits: &[f32]) -> Result<Self> {
        let (rows, cols) = (learner.rows, learner.cols);
        check_logits(rows, cols, logits.len())?;
        let n = check_shape(rows, cols)?.elements();
        let nl = logits.len();
        let history_len = learner.cfg.steps.max(1);
        Ok(DeviceLearnStep {
            rows,
            cols,
            seed: learner.cfg.seed,
            norm: learner.norm,
            adam: learner.cfg.adam,
            t: 0,
            library_gram: exec.dense_f32_gemm().is_some(),
            last_step: None,
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
            reg_ws: exec.alloc_zeroed(4 * mask_ops::forward_workspace_len(rows, cols)?)?,
            hist_loss: exec.alloc_zeroed(8 * history_len)?,
            hist_reg: exec.alloc_zeroed(4 * history_len)?,
            history_len,
            values: exec.alloc_zeroed(4 * n / 2)?,
            meta: exec.alloc_zeroed(n / 8)?,
            status: exec.alloc_zeroed(8 * STATUS_WORDS)?,
            hard: exec.alloc_zeroed(8)?,
        })
    }

    /// Uses our own `learn_gram_product` kernel for D·G even where the executor has
    /// a dense f32 GEMM library (to compare the two).
    pub fn with_kernel_gram(mut self) -> Self {
        self.library_gram = false;
        self
    }

    /// Whether D·G goes through the executor's dense f32 GEMM library
    /// ([`Executor::dense_f32_gemm`], cuBLASLt).
    pub fn uses_library_gram(&self) -> bool {
        self.library_gram
    }

    /// Enqueues D = W − `w_masked`, P = D·G and the loss of D into `loss_out` (one
    /// f64), overwriting the scratch buffers (and dW_eff with −2·P/‖XWᵀ‖²).
    fn enqueue_loss(&self, exec: &E, w_masked: u64, loss_out: u64) -> Result<()> {
        let (rows, cols) = (self.rows, self.cols);
        let ptr = |b: &E::Buffer| exec.ptr(b);
        exec.launch(&diff_launch(
            DType::F32,
            ptr(&self.w),
            w_masked,
            ptr(&self.d),
            rows,
            cols,
        )?)?;
        if let Some(lib) = exec.dense_f32_gemm().filter(|_| self.library_gram) {
            lib.dense_f32_row_major(
                rows,
                cols,
                cols,
                ptr(&self.d),
                ptr(&self.gram),
                ptr(&self.p),
            )?;
        } else {
            exec.launch(&gram_product_launch(
                ptr(&self.d),
                ptr(&self.gram),
                ptr(&self.p),
                rows,
                cols,
            )?)?;
        }
        loss_grad_launches(
            DType::F32,
            ptr(&self.d),
            ptr(&self.p),
            ptr(&self.dw_eff),
            ptr(&self.partials),
            loss_out,
            rows,
            cols,
            self.norm,
        )?
        .iter()
        .try_for_each(|l| exec.launch(l))
    }

    /// Enqueues one step at sampling step `step_idx` (the Philox noise and the
    /// history slot) with temperature `tau`, logit scale `kappa` and regulariser
    /// `lambda`; Adam's own counter advances by one.
    pub fn step(
        &mut self,
        exec: &E,
        step_idx: usize,
        tau: f32,
        kappa: f32,
        lambda: f32,
    ) -> Result<()> {
        if step_idx >= self.history_len {
            return Err(Error::InvalidArgument {
                what: "step",
                why: format!(
                    "{step_idx} is past the history of {} steps this run was set up for",
                    self.history_len
                ),
            });
        }
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
        let reg = RegSum {
            workspace: ptr(&self.reg_ws),
            out: ptr(&self.hist_reg) + 4 * step_idx as u64,
        };
        mask_ops::forward_launches(
            DType::F32,
            ptr(&self.w),
            ptr(&self.logits),
            ptr(&self.w_eff),
            Some(reg),
            rows,
            cols,
            &p,
            Sampling::Soft,
        )?
        .iter()
        .try_for_each(|l| exec.launch(l))?;
        self.enqueue_loss(
            exec,
            ptr(&self.w_eff),
            ptr(&self.hist_loss) + 8 * step_idx as u64,
        )?;
        exec.launch(&mask_ops::backward_launch(
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
        )?)?;
        let t = self.t.saturating_add(1);
        exec.launch(&adam_launch(
            ptr(&self.logits),
            ptr(&self.dlogits),
            ptr(&self.m),
            ptr(&self.v),
            check_shape(rows, cols)?.logits(),
            &self.adam,
            t,
        )?)?;
        self.t = t;
        self.last_step = Some(step_idx);
        Ok(())
    }

    /// L of the soft mask of the last step (before its Adam update); waits for the
    /// queued work.
    pub fn loss(&self, exec: &E) -> Result<f64> {
        let s = self.last_step.ok_or(Error::InvalidArgument {
            what: "loss",
            why: "no step has run yet".into(),
        })?;
        Ok(self.history(exec)?.0[s])
    }

    /// The history so far: L (f64) and R (f32) of each step slot; waits for the
    /// queued work. Slots of steps not run are 0.
    pub fn history(&self, exec: &E) -> Result<(Vec<f64>, Vec<f32>)> {
        Ok((
            exec.download(&self.hist_loss)?,
            exec.download(&self.hist_reg)?,
        ))
    }

    /// L of the hard (argmax) mask of the current logits, evaluated on the device
    /// after the queued work: the export kernel's argmax, decompressed, through the
    /// same D·G loss as the steps. Waits for the result.
    pub fn hard_loss(&self, exec: &E) -> Result<f64> {
        self.hard_loss_at(exec, exec.ptr(&self.logits))
    }

    /// L of the argmax mask of `logits` [rows, cols/4, 6] (host values, uploaded).
    pub fn hard_loss_of(&self, exec: &E, logits: &[f32]) -> Result<f64> {
        check_logits(self.rows, self.cols, logits.len())?;
        let buf = exec.upload(logits)?;
        self.hard_loss_at(exec, exec.ptr(&buf))
    }

    fn hard_loss_at(&self, exec: &E, logits: u64) -> Result<f64> {
        let (rows, cols) = (self.rows, self.cols);
        let ptr = |b: &E::Buffer| exec.ptr(b);
        mask_ops::hard_mask_compress_launches(
            DType::F32,
            ptr(&self.w),
            logits,
            ptr(&self.values),
            ptr(&self.meta),
            ptr(&self.status),
            rows,
            cols,
        )?
        .iter()
        .try_for_each(|l| exec.launch(l))?;
        // W ⊙ M into the W_eff scratch (the step that used it has been enqueued).
        exec.launch(&decompress_launch(
            DType::F32,
            ptr(&self.values),
            ptr(&self.meta),
            ptr(&self.w_eff),
            rows,
            cols,
        )?)?;
        self.enqueue_loss(exec, ptr(&self.w_eff), ptr(&self.hard))?;
        mask_ops::decode_hard_status(&exec.download::<u64>(&self.status)?, cols)?;
        Ok(exec.download::<f64>(&self.hard)?[0])
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
