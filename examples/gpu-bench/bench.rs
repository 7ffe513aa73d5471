//! One case, measured: the state shared by every column (`Bench`, the rotated X and Y
//! copies), each column's `Outcome`, and sparse24's own column.

use super::cases::{check_output, padded_tokens, tolerance, Host};
use super::device::{alloc, copy_dtod, dptr, memset, Device};
use super::error::Res;
use super::timing::{time_op, Timing};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use serde_json::{json, Value};
use sparse24::cuda::CudaExecutor;
use sparse24::launch::{Executor, Launch};
use sparse24::ops::gemm::{
    DeviceEpilogue, DeviceSlice, DeviceSparse24, GemmBuffers, GemmConfig, GemmLaunch, GemmWeights,
    SparseGemmPlan,
};
use sparse24::{DType, Element, Error};
use std::sync::Arc;

/// One method's outcome in one case.
#[derive(Clone, Debug)]
pub enum Outcome {
    Timed {
        t: Timing,
        rel_err: f64,
        bytes: usize,
        note: String,
    },
    NotAvailable(String),
    Failed(String),
}

impl Outcome {
    pub fn us(&self) -> Option<f64> {
        match self {
            Outcome::Timed { t, .. } => Some(t.median_us),
            _ => None,
        }
    }
    pub fn json(&self, flops: f64) -> Value {
        match self {
            Outcome::Timed {
                t,
                rel_err,
                bytes,
                note,
            } => json!({
                "status": "ok", "timing": t.json(), "rel_err": rel_err, "bytes": bytes,
                "tflops": flops / t.median_us * 1e-6, "gbps": *bytes as f64 / t.median_us * 1e-3,
                "note": note}),
            Outcome::NotAvailable(w) => json!({"status": "not available", "why": w}),
            Outcome::Failed(w) => json!({"status": "failed", "why": w}),
        }
    }
}

/// The outcome of a checked result: `Failed` when `err` exceeds the dtype's tolerance,
/// else the timing `timing` measures.
pub fn finish(
    stream: &Arc<CudaStream>,
    dtype: DType,
    err: f64,
    bytes: usize,
    note: String,
    timing: impl FnOnce() -> Res<Timing>,
) -> Outcome {
    if err.is_nan() || err > tolerance(dtype) {
        return Outcome::Failed(format!(
            "wrong result: rel err {err:.2e} > {:.0e}",
            tolerance(dtype)
        ));
    }
    match timing() {
        Ok(t) => Outcome::Timed {
            t,
            rel_err: err,
            bytes,
            note,
        },
        Err(e) => {
            let _ = stream.synchronize();
            Outcome::Failed(e.to_string())
        }
    }
}

pub struct Bench {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub exec: CudaExecutor,
    pub dev: Device,
    pub reps: usize,
    pub target_ms: f64,
}

/// X and Y copies shared by every method of one case.
pub struct Io {
    pub copies: usize,
    pub x: Vec<CudaSlice<u8>>,
    pub y: Vec<CudaSlice<u8>>,
    pub x_bytes: usize,
    pub y_bytes: usize,
}

impl Bench {
    pub fn io<T: Element>(&self, h: &Host<T>, copies: usize) -> Res<Io> {
        let s = &self.stream;
        let x_bytes = h.tokens * h.inn * T::DTYPE.size();
        let y_bytes = h.tokens * h.out * T::DTYPE.size();
        // Room for tokens padded to 16 (zero rows), which cuSPARSELt may need.
        let padded = padded_tokens(h.tokens);
        let (xp, yp) = (
            padded * h.inn * T::DTYPE.size(),
            padded * h.out * T::DTYPE.size(),
        );
        let mut x0 = alloc(s, xp)?;
        s.memcpy_htod(
            bytemuck::cast_slice::<T, u8>(&h.x),
            &mut x0.slice_mut(0..x_bytes),
        )?;
        let mut x = vec![x0];
        for _ in 1..copies {
            let c = alloc(s, xp)?;
            copy_dtod(s, dptr(s, &c), dptr(s, &x[0]), xp)?;
            x.push(c);
        }
        let y = (0..copies).map(|_| alloc(s, yp)).collect::<Res<Vec<_>>>()?;
        Ok(Io {
            copies,
            x,
            y,
            x_bytes,
            y_bytes,
        })
    }

    /// Poisons Y copy 0 (0xFF.. is NaN in f16/bf16) so an unwritten output fails.
    pub fn poison(&self, io: &Io) -> Res<()> {
        memset(&self.stream, dptr(&self.stream, &io.y[0]), 0xFF, io.y_bytes)
    }

    /// Runs `launches` on the executor, in order.
    pub fn launch_all(&self, launches: &[Launch]) -> Res<()> {
        for l in launches {
            self.exec.launch(l)?;
        }
        Ok(())
    }

    /// sparse24 with the plan `SparseGemmPlan::choose_for` picks for this device
    /// (`config` None: on compute capability 9.0 the Hopper kernel from 64 tokens) or with
    /// the given tile configuration and no split-K.
    pub fn ours<T: Element>(
        &self,
        h: &Host<T>,
        io: &Io,
        w: &Res<Vec<DeviceSparse24<CudaExecutor, T>>>,
        config: Option<(GemmConfig, usize)>,
    ) -> Outcome {
        if !sparse24::kernels::compiled() {
            return Outcome::NotAvailable(Error::KernelsNotCompiled.to_string());
        }
        let w = match w {
            Ok(w) => w,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        match self.ours_inner(h, io, w, config) {
            Ok(o) => o,
            Err(e) => {
                let _ = self.stream.synchronize();
                Outcome::Failed(e.to_string())
            }
        }
    }

    fn ours_inner<T: Element>(
        &self,
        h: &Host<T>,
        io: &Io,
        ws_: &[DeviceSparse24<CudaExecutor, T>],
        config: Option<(GemmConfig, usize)>,
    ) -> Res<Outcome> {
        let s = &self.stream;
        let plan = match config {
            None => SparseGemmPlan::choose_for(h.tokens, h.out, h.inn, self.dev.gemm_device()),
            Some((c, splits)) => SparseGemmPlan::new(c, h.tokens, h.out, h.inn, splits),
        }?;
        let ws = match plan.workspace_bytes() {
            0 => None,
            n => Some((alloc(s, n)?, n)),
        };
        let workspace = ws.as_ref().map(|(b, n)| DeviceSlice {
            ptr: dptr(s, b),
            len: *n,
        });
        let w_bytes = ws_[0].values().len() + ws_[0].meta().len();
        let launches: Vec<Vec<Launch>> = (0..io.copies)
            .map(|i| {
                let bufs = GemmBuffers {
                    w_values: self.exec.ptr(ws_[i].values()),
                    w_meta: self.exec.ptr(ws_[i].meta()),
                    w_geometry: ws_[i].geometry(),
                    x: dptr(s, &io.x[i]),
                    y: dptr(s, &io.y[i]),
                    workspace,
                };
                // The Hopper SS tile also reads W's row-major values (uploaded only
                // with the `hopper-ss` feature).
                let weights = GemmWeights {
                    row_values: ws_[i].row_values().map(|b| self.exec.ptr(b)),
                    ..bufs.weights()
                };
                let l = GemmLaunch::new(
                    &plan,
                    T::DTYPE,
                    T::DTYPE,
                    &weights,
                    &DeviceEpilogue::default(),
                )?
                .bind(bufs.x, bufs.y, None, bufs.workspace)?;
                Ok(vec![l.to_vec()])
            })
            .collect::<Res<_>>()?;
        self.poison(io)?;
        self.launch_all(&launches[0])?;
        s.synchronize()?;
        let err = check_output(s, &io.y[0], h)?;
        let note = format!("{} splits={}", plan.config.name(), plan.splits);
        let bytes = w_bytes + io.x_bytes + io.y_bytes;
        let copies = io.copies;
        Ok(finish(s, T::DTYPE, err, bytes, note, || {
            time_op(s, self.reps, self.target_ms, copies, &mut |i| {
                self.launch_all(&launches[i % copies])
            })
        }))
    }
}
