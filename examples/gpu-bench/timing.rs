//! Timing: warm-up, CUDA-graph capture of a batch of launches, CUDA events.

use super::error::Res;
use cudarc::driver::{sys, CudaContext, CudaEvent, CudaGraph, CudaStream};
use serde_json::{json, Value};
use std::sync::Arc;

/// Per-launch times of one measurement, in microseconds.
#[derive(Clone, Debug)]
pub struct Timing {
    pub median_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    pub launches_per_rep: usize,
    pub reps: usize,
    pub graph: bool,
}

impl Timing {
    pub fn spread_pct(&self) -> f64 {
        100.0 * (self.max_us - self.min_us) / self.median_us
    }
    pub fn json(&self) -> Value {
        json!({"median_us": self.median_us, "min_us": self.min_us, "max_us": self.max_us,
               "spread_pct": self.spread_pct(), "launches_per_rep": self.launches_per_rep,
               "reps": self.reps, "cuda_graph": self.graph})
    }
}

fn event(ctx: &Arc<CudaContext>) -> Res<CudaEvent> {
    Ok(ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))?)
}

/// Milliseconds of whatever `f` enqueues on `stream`.
fn elapsed_ms(stream: &Arc<CudaStream>, f: &mut dyn FnMut() -> Res<()>) -> Res<f64> {
    let ctx = stream.context();
    let (a, b) = (event(ctx)?, event(ctx)?);
    a.record(stream)?;
    f()?;
    b.record(stream)?;
    Ok(a.elapsed_ms(&b)? as f64)
}

/// Captures `n` calls of `enqueue` into a graph; `None` (with the stream usable again)
/// when capture is refused.
fn capture(
    stream: &Arc<CudaStream>,
    n: usize,
    enqueue: &mut dyn FnMut(usize) -> Res<()>,
) -> Option<CudaGraph> {
    stream
        .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED)
        .ok()?;
    let mut ok = true;
    for i in 0..n {
        if enqueue(i).is_err() {
            ok = false;
            break;
        }
    }
    // Always end the capture, even after a failed call, so the stream works again.
    let g = stream.end_capture(sys::CUgraphInstantiate_flags(0));
    match (ok, g) {
        (true, Ok(Some(g))) => Some(g),
        _ => None,
    }
}

/// Times `enqueue(i)` (the i-th call; callers rotate buffers by `i`): warm-up, a size
/// estimate, then `reps` timed batches of calls long enough to last ~`target_ms`.
pub fn time_op(
    stream: &Arc<CudaStream>,
    reps: usize,
    target_ms: f64,
    rotation: usize,
    enqueue: &mut dyn FnMut(usize) -> Res<()>,
) -> Res<Timing> {
    let rotation = rotation.max(1);
    // Warm-up (also loads modules and lazily loaded library kernels before capture).
    for i in 0..(2 * rotation).max(3) {
        enqueue(i)?;
    }
    stream.synchronize()?;
    let probe_n = rotation.max(4);
    let t = elapsed_ms(stream, &mut || (0..probe_n).try_for_each(&mut *enqueue))? / probe_n as f64;
    let want = (target_ms / t.max(1e-4)).ceil() as usize;
    let n = want.clamp(rotation.max(8), 4000).div_ceil(rotation) * rotation;
    let graph = capture(stream, n, enqueue);
    if let Some(g) = &graph {
        g.upload()?;
        g.launch()?;
        stream.synchronize()?;
    }
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let ms = match &graph {
            Some(g) => elapsed_ms(stream, &mut || Ok(g.launch()?))?,
            None => elapsed_ms(stream, &mut || (0..n).try_for_each(&mut *enqueue))?,
        };
        samples.push(ms * 1e3 / n as f64);
    }
    stream.synchronize()?;
    samples.sort_by(f64::total_cmp);
    Ok(Timing {
        median_us: samples[samples.len() / 2],
        min_us: samples[0],
        max_us: samples[samples.len() - 1],
        launches_per_rep: n,
        reps,
        graph: graph.is_some(),
    })
}

/// How many copies of a working set of `bytes` make the rotation exceed 3× L2.
pub fn copies_for(bytes: usize, l2: usize) -> usize {
    (3 * l2.max(1)).div_ceil(bytes.max(1)).clamp(1, 64)
}
