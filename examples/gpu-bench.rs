//! The GPU benchmark (issue 6, part 1): sparse24's 2:4 GEMM against dense cuBLASLt and
//! NVIDIA's cuSPARSELt (default plan and its own searched plan), all in one process on
//! the same inputs, plus device-copy bandwidth and the memory-bound prune/compress and
//! mask-sampling kernels against it.
//!
//! ```text
//! cargo run --release --example gpu-bench -- [--quick] [--out DIR] [--only TEXT] [--reps N]
//!                                              [--prefill-tiles]
//! ```
//! (also `cargo bench --bench gpu -- ...`). Without a CUDA device it prints
//! "skipped: no CUDA device (...)" and exits 0.
//!
//! Method (REFERENCES.md): Y[tokens, out] = X[tokens, in] · Wᵀ with W pruned 2:4 by
//! magnitude on the CPU; the same pruned W feeds every column (cuSPARSELt prunes it
//! again with its own strip pruner, a no-op on a 2:4 matrix, checks it with its own
//! prune check and compresses it). Every result is checked first against an f64 CPU
//! reference on sampled tokens (‖out − ref‖/‖ref‖ ≤ 1e-2 bf16, 2e-3 f16). Then: warm
//! up, capture `n` launches in a CUDA graph (plain stream launches if capture fails),
//! rotating through copies of W, X and Y that together exceed 3× the L2 cache, and
//! time several replays with CUDA events; report the median, min and max per launch.
//! TFLOP/s counts 2·tokens·in·out for every column; GB/s counts the bytes each
//! method must move once (its weight format + X + Y). Speedups are
//! time(baseline) / time(sparse24).
//!
//! With `--prefill-tiles`, every prefill case (tokens ≥ 256) also times sparse24 with
//! each prefill tile configuration (`GemmConfig::PREFILL`, checked against the
//! reference first like the main column) and adds a table "tile → µs, TFLOP/s, vs
//! cuBLAS" with the fastest tile of each case marked, so one run shows which tile
//! `SparseGemmPlan::choose` (or `SPARSE24_PREFILL_TILE`) should take.
//!
//! Results are written (after every case, so a time cap keeps what finished) to
//! DIR/bench.json and DIR/bench.md; the compact table is printed last.

use cudarc::driver::{sys, CudaContext, CudaGraph, CudaSlice, CudaStream, DevicePtr};
use half::{bf16, f16};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rayon::prelude::*;
use serde_json::{json, Value};
use sparse24::cuda::blaslt::{self, Layout, LtMatmul};
use sparse24::cuda::{CodeChoice, CudaExecutor};
use sparse24::cusparselt::{self, SparseLtLinear};
use sparse24::launch::{Executor, Launch};
use sparse24::ops::gemm::{
    sparse_linear_launches, DeviceEpilogue, DeviceSlice, DeviceSparse24, GemmBuffers, GemmConfig,
    SparseGemmPlan, DECODE_MAX_TOKENS, LARGE_TILE_MIN_TOKENS,
};
use sparse24::{prune, DType, Element, Error, Sparse24};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

type Res<T> = std::result::Result<T, String>;

fn e2s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

// ---------------------------------------------------------------- arguments

struct Args {
    quick: bool,
    out: Option<PathBuf>,
    only: Option<String>,
    reps: usize,
    host_only: bool,
    prefill_tiles: bool,
    decode_splits: bool,
}

const USAGE: &str = "usage: gpu-bench [--quick] [--out DIR] [--only TEXT] [--reps N]
  --quick      the short set (< 2 minutes on an H100): LLM layers at 1, 16, 2048
               tokens in bf16 plus one f16 decode row, copy and prune bandwidth
  --out DIR    write bench.json and bench.md there
  --only TEXT  run only cases whose label contains TEXT (e.g. 4096x14336)
  --reps N     timed repetitions per measurement (default 7, quick 5)
  --host-only  no device: time and check the CPU side (random data, prune, f64
               reference, fragment order) of the selected cases
  --prefill-tiles
               for every case with >= 256 tokens, also time sparse24 with each prefill
               tile (64, 128x128, 128x128a2, 256x64, 256x64w16) and print a table
               of them
  --decode-splits
               for every decode case (<= 16 tokens), also time the decode tile with
               each split-K count the shape allows (1, 2, 3, 4, 6, 8, 12, 16), in the
               same table";

fn parse_args() -> Res<Args> {
    let mut a = Args {
        quick: false,
        out: None,
        only: None,
        reps: 0,
        host_only: false,
        prefill_tiles: false,
        decode_splits: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(s) = it.next() {
        match s.as_str() {
            "--quick" => a.quick = true,
            "--out" => a.out = Some(PathBuf::from(it.next().ok_or("--out needs a directory")?)),
            "--only" => a.only = Some(it.next().ok_or("--only needs a text")?),
            "--reps" => {
                let v = it.next().ok_or("--reps needs a number")?;
                a.reps = v
                    .parse()
                    .map_err(|_| format!("--reps: not a number: {v}"))?;
            }
            // `cargo bench` passes --bench to harness = false targets.
            "--bench" => {}
            "--host-only" => a.host_only = true,
            "--prefill-tiles" => a.prefill_tiles = true,
            "--decode-splits" => a.decode_splits = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.reps == 0 {
        a.reps = if a.quick { 5 } else { 7 };
    }
    Ok(a)
}

pub fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.host_only {
        return match host_only(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gpu-bench: error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let ctx = match sparse24::cuda::context() {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: no CUDA device ({e})");
            return ExitCode::SUCCESS;
        }
    };
    match run(&args, ctx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gpu-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------- device info

struct Device {
    name: String,
    cc: (i32, i32),
    sms: usize,
    l2: usize,
    driver: i32,
    mem: usize,
}

fn device_info(ctx: &Arc<CudaContext>) -> Res<Device> {
    use sys::CUdevice_attribute as A;
    let mut driver = 0;
    // SAFETY: writes one int; libcuda was probed present by sparse24::cuda::context.
    let r = unsafe { sys::cuDriverGetVersion(&mut driver) };
    if r != sys::CUresult::CUDA_SUCCESS {
        driver = -1;
    }
    Ok(Device {
        name: ctx.name().map_err(e2s)?,
        cc: ctx.compute_capability().map_err(e2s)?,
        sms: ctx
            .attribute(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(e2s)? as usize,
        l2: ctx
            .attribute(A::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)
            .map_err(e2s)? as usize,
        driver,
        mem: ctx.total_mem().map_err(e2s)?,
    })
}

// ---------------------------------------------------------------- timing

/// Per-launch times of one measurement, in microseconds.
#[derive(Clone, Debug)]
struct Timing {
    median_us: f64,
    min_us: f64,
    max_us: f64,
    launches_per_rep: usize,
    reps: usize,
    graph: bool,
}

impl Timing {
    fn spread_pct(&self) -> f64 {
        100.0 * (self.max_us - self.min_us) / self.median_us
    }
    fn json(&self) -> Value {
        json!({"median_us": self.median_us, "min_us": self.min_us, "max_us": self.max_us,
               "spread_pct": self.spread_pct(), "launches_per_rep": self.launches_per_rep,
               "reps": self.reps, "cuda_graph": self.graph})
    }
}

fn event(ctx: &Arc<CudaContext>) -> Res<cudarc::driver::CudaEvent> {
    ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
        .map_err(e2s)
}

/// Milliseconds of whatever `f` enqueues on `stream`.
fn elapsed_ms(stream: &Arc<CudaStream>, f: &mut dyn FnMut() -> Res<()>) -> Res<f64> {
    let ctx = stream.context();
    let (a, b) = (event(ctx)?, event(ctx)?);
    a.record(stream).map_err(e2s)?;
    f()?;
    b.record(stream).map_err(e2s)?;
    Ok(a.elapsed_ms(&b).map_err(e2s)? as f64)
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
fn time_op(
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
    stream.synchronize().map_err(e2s)?;
    let probe_n = rotation.max(4);
    let t = elapsed_ms(stream, &mut || (0..probe_n).try_for_each(&mut *enqueue))? / probe_n as f64;
    let want = (target_ms / t.max(1e-4)).ceil() as usize;
    let n = want.clamp(rotation.max(8), 4000).div_ceil(rotation) * rotation;
    let graph = capture(stream, n, enqueue);
    if let Some(g) = &graph {
        g.upload().map_err(e2s)?;
        g.launch().map_err(e2s)?;
        stream.synchronize().map_err(e2s)?;
    }
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let ms = match &graph {
            Some(g) => elapsed_ms(stream, &mut || g.launch().map_err(e2s))?,
            None => elapsed_ms(stream, &mut || (0..n).try_for_each(&mut *enqueue))?,
        };
        samples.push(ms * 1e3 / n as f64);
    }
    stream.synchronize().map_err(e2s)?;
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
fn copies_for(bytes: usize, l2: usize) -> usize {
    (3 * l2.max(1)).div_ceil(bytes.max(1)).clamp(1, 64)
}

// ---------------------------------------------------------------- data

fn random_vec<T: Element>(n: usize, seed: u64) -> Vec<T> {
    const CHUNK: usize = 1 << 16;
    let mut v = vec![T::from_f32(0.0); n];
    v.par_chunks_mut(CHUNK).enumerate().for_each(|(c, out)| {
        let mut rng = StdRng::seed_from_u64(seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for x in out {
            // Never zero: a zero would make magnitude pruning ambiguous.
            let mut u: f32 = rng.gen_range(-1.0..1.0);
            if u.abs() < 1e-3 {
                u = 0.5;
            }
            *x = T::from_f32(u);
        }
    });
    v
}

fn upload<T: bytemuck::Pod>(stream: &Arc<CudaStream>, v: &[T]) -> Res<CudaSlice<u8>> {
    stream
        .clone_htod(bytemuck::cast_slice::<T, u8>(v))
        .map_err(e2s)
}

fn dptr(stream: &Arc<CudaStream>, b: &CudaSlice<u8>) -> u64 {
    let (p, _) = b.device_ptr(stream);
    p
}

fn alloc(stream: &Arc<CudaStream>, bytes: usize) -> Res<CudaSlice<u8>> {
    stream.alloc_zeros::<u8>(bytes.max(1)).map_err(e2s)
}

fn memset(stream: &Arc<CudaStream>, p: u64, byte: u8, bytes: usize) -> Res<()> {
    // SAFETY: `p` is a live allocation of at least `bytes` bytes on `stream`.
    unsafe { cudarc::driver::result::memset_d8_async(p, byte, bytes, stream.cu_stream()) }
        .map_err(e2s)
}

fn copy_dtod(stream: &Arc<CudaStream>, dst: u64, src: u64, bytes: usize) -> Res<()> {
    // SAFETY: both are live allocations of at least `bytes` bytes on `stream`.
    let r = unsafe { sys::cuMemcpyDtoDAsync_v2(dst, src, bytes, stream.cu_stream()) };
    if r == sys::CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(format!("cuMemcpyDtoDAsync: {r:?}"))
    }
}

/// One layer's host data: X, the pruned dense W and its 2:4 form.
struct Host<T> {
    tokens: usize,
    out: usize,
    inn: usize,
    x: Vec<T>,
    /// Tokens the correctness check compares.
    check_tokens: Vec<usize>,
    /// f64 reference rows Y[t, :] for `check_tokens`.
    reference: Vec<Vec<f64>>,
}

fn host_weights<T: Element>(out: usize, inn: usize, seed: u64) -> Res<(Vec<T>, Sparse24<T>)> {
    let w: Vec<T> = random_vec(out * inn, seed);
    let sparse = prune::prune_magnitude(&w, out, inn).map_err(e2s)?;
    let pruned = sparse.decompress();
    Ok((pruned, sparse))
}

fn host_case<T: Element>(
    tokens: usize,
    w_pruned: &[T],
    sparse: &Sparse24<T>,
    seed: u64,
) -> Host<T> {
    let (out, inn) = (sparse.rows(), sparse.cols());
    let x: Vec<T> = random_vec(tokens * inn, seed);
    let mut check_tokens = vec![0, tokens / 2, tokens - 1];
    check_tokens.dedup();
    let reference = check_tokens
        .iter()
        .map(|&t| {
            let xr: Vec<f64> = x[t * inn..(t + 1) * inn]
                .iter()
                .map(|v| v.to_f32() as f64)
                .collect();
            (0..out)
                .into_par_iter()
                .map(|o| {
                    w_pruned[o * inn..(o + 1) * inn]
                        .iter()
                        .zip(&xr)
                        .map(|(w, x)| w.to_f32() as f64 * x)
                        .sum()
                })
                .collect()
        })
        .collect();
    Host {
        tokens,
        out,
        inn,
        x,
        check_tokens,
        reference,
    }
}

/// ‖Y[t, :] − ref‖ / ‖ref‖ over the checked tokens of the output at `y` (dtype T).
fn check_output<T: Element>(stream: &Arc<CudaStream>, y: &CudaSlice<u8>, h: &Host<T>) -> Res<f64> {
    let row = h.out * T::DTYPE.size();
    let (mut num, mut den) = (0f64, 0f64);
    for (t, r) in h.check_tokens.iter().zip(&h.reference) {
        let bytes = stream
            .clone_dtoh(&y.slice(t * row..(t + 1) * row))
            .map_err(e2s)?;
        for (b, &r) in bytes.chunks_exact(2).zip(r) {
            let v = match T::DTYPE {
                DType::BF16 => bf16::from_le_bytes([b[0], b[1]]).to_f64(),
                _ => f16::from_le_bytes([b[0], b[1]]).to_f64(),
            };
            if v.is_nan() {
                return Ok(f64::INFINITY);
            }
            num += (v - r) * (v - r);
            den += r * r;
        }
    }
    Ok((num / den.max(f64::MIN_POSITIVE)).sqrt())
}

/// Token count rounded up to a multiple of 16.
fn padded_tokens(t: usize) -> usize {
    t.div_ceil(16) * 16
}

fn tolerance(d: DType) -> f64 {
    match d {
        DType::BF16 => 1e-2,
        _ => 2e-3,
    }
}

// ---------------------------------------------------------------- cuBLASLt dense

/// The dense baseline Y[tokens, out] = X · Wᵀ (TN, f32 compute) on the library's
/// cuBLASLt matmul: column-major view A = W as [in, out] (ld in), op T; B = X as
/// [in, tokens] (ld in); D = Y as [out, tokens] (ld out).
fn dense_lt(
    stream: &Arc<CudaStream>,
    dtype: DType,
    tokens: usize,
    out: usize,
    inn: usize,
) -> Res<LtMatmul> {
    if dtype == DType::F32 {
        return Err("cuBLASLt baseline: f16/bf16 only".into());
    }
    let l = |rows, cols| Layout {
        rows,
        cols,
        ld: rows,
    };
    LtMatmul::new(
        stream,
        dtype,
        true,
        l(inn, out),
        l(inn, tokens),
        l(out, tokens),
    )
    .map_err(e2s)
}

fn cublaslt_available() -> Res<()> {
    if blaslt::present() {
        Ok(())
    } else {
        Err("libcublasLt not found on the loader path".into())
    }
}

// ---------------------------------------------------------------- one case

/// One method's outcome in one case.
#[derive(Clone, Debug)]
enum Outcome {
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
    fn us(&self) -> Option<f64> {
        match self {
            Outcome::Timed { t, .. } => Some(t.median_us),
            _ => None,
        }
    }
    fn json(&self, flops: f64) -> Value {
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

fn finish(
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
            Outcome::Failed(e)
        }
    }
}

struct Bench {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    exec: CudaExecutor,
    dev: Device,
    reps: usize,
    target_ms: f64,
}

/// X and Y copies shared by every method of one case.
struct Io {
    copies: usize,
    x: Vec<CudaSlice<u8>>,
    y: Vec<CudaSlice<u8>>,
    x_bytes: usize,
    y_bytes: usize,
}

impl Bench {
    fn io<T: Element>(&self, h: &Host<T>, copies: usize) -> Res<Io> {
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
        )
        .map_err(e2s)?;
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
    fn poison(&self, io: &Io) -> Res<()> {
        memset(&self.stream, dptr(&self.stream, &io.y[0]), 0xFF, io.y_bytes)
    }

    /// sparse24 with the plan `SparseGemmPlan::choose` picks (`config` None) or with
    /// the given tile configuration and no split-K.
    fn ours<T: Element>(
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
            Err(e) => return Outcome::Failed(e.clone()),
        };
        match self.ours_inner(h, io, w, config) {
            Ok(o) => o,
            Err(e) => {
                let _ = self.stream.synchronize();
                Outcome::Failed(e)
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
            None => SparseGemmPlan::choose(h.tokens, h.out, h.inn, self.dev.sms),
            Some((c, splits)) => SparseGemmPlan::new(c, h.tokens, h.out, h.inn, splits),
        }
        .map_err(e2s)?;
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
                sparse_linear_launches(&plan, T::DTYPE, T::DTYPE, &bufs, &DeviceEpilogue::default())
                    .map_err(e2s)
            })
            .collect::<Res<_>>()?;
        self.poison(io)?;
        for l in &launches[0] {
            self.exec.launch(l).map_err(e2s)?;
        }
        s.synchronize().map_err(e2s)?;
        let err = check_output(s, &io.y[0], h)?;
        let note = format!("{} splits={}", plan.config.name(), plan.splits);
        let bytes = w_bytes + io.x_bytes + io.y_bytes;
        let copies = io.copies;
        Ok(finish(s, T::DTYPE, err, bytes, note, || {
            time_op(s, self.reps, self.target_ms, copies, &mut |i| {
                launches[i % copies]
                    .iter()
                    .try_for_each(|l| self.exec.launch(l).map_err(e2s))
            })
        }))
    }

    fn dense<T: Element>(&self, h: &Host<T>, io: &Io, w: &[CudaSlice<u8>]) -> Outcome {
        if let Err(e) = cublaslt_available() {
            return Outcome::NotAvailable(e);
        }
        let s = &self.stream;
        let run = || -> Res<Outcome> {
            let lt = dense_lt(s, T::DTYPE, h.tokens, h.out, h.inn)?;
            self.poison(io)?;
            lt.enqueue(s, dptr(s, &w[0]), dptr(s, &io.x[0]), dptr(s, &io.y[0]))
                .map_err(e2s)?;
            s.synchronize().map_err(e2s)?;
            let err = check_output(s, &io.y[0], h)?;
            let bytes = h.out * h.inn * T::DTYPE.size() + io.x_bytes + io.y_bytes;
            let c = io.copies;
            let ptrs: Vec<(u64, u64, u64)> = (0..c)
                .map(|i| {
                    (
                        dptr(s, &w[i % w.len()]),
                        dptr(s, &io.x[i]),
                        dptr(s, &io.y[i]),
                    )
                })
                .collect();
            Ok(finish(s, T::DTYPE, err, bytes, String::new(), || {
                time_op(s, self.reps, self.target_ms, c, &mut |i| {
                    let (a, b, y) = ptrs[i % c];
                    lt.enqueue(s, a, b, y).map_err(e2s)
                })
            }))
        };
        run().unwrap_or_else(|e| {
            let _ = s.synchronize();
            Outcome::Failed(e)
        })
    }

    /// cuSPARSELt with its default plan, then after its own search.
    fn sparselt<T: Element>(
        &self,
        h: &Host<T>,
        io: &Io,
        w_dense: &CudaSlice<u8>,
    ) -> (Outcome, Outcome) {
        let lib = match cusparselt::library() {
            Ok(l) => l,
            Err(e) => return (Outcome::NotAvailable(e.clone()), Outcome::NotAvailable(e)),
        };
        let s = &self.stream;
        match self.sparselt_inner(lib, h, io, w_dense) {
            Ok(r) => r,
            Err(e) => {
                let _ = s.synchronize();
                (Outcome::Failed(e.clone()), Outcome::Failed(e))
            }
        }
    }

    fn sparselt_inner<T: Element>(
        &self,
        lib: &'static cusparselt::CuSparseLt,
        h: &Host<T>,
        io: &Io,
        w_dense: &CudaSlice<u8>,
    ) -> Res<(Outcome, Outcome)> {
        let s = &self.stream;
        let first = self.sparselt_tokens(lib, h, io, w_dense, h.tokens);
        let padded = padded_tokens(h.tokens);
        let rejected = |o: &Outcome| match o {
            Outcome::Failed(w) => w.contains("NOT_SUPPORTED") || w.contains("INVALID_VALUE"),
            _ => false,
        };
        match first {
            // PyTorch pads the dense input to 16 rows for cuSPARSELt; do the same
            // when the library refuses the token count as it is.
            Err(e)
                if padded != h.tokens
                    && (e.contains("NOT_SUPPORTED") || e.contains("INVALID_VALUE")) =>
            {
                let _ = s.synchronize();
                self.sparselt_tokens(lib, h, io, w_dense, padded)
            }
            Ok((d, sr)) if padded != h.tokens && (rejected(&d) || rejected(&sr)) => {
                let _ = s.synchronize();
                self.sparselt_tokens(lib, h, io, w_dense, padded)
            }
            r => r,
        }
    }

    /// cuSPARSELt run as a problem of `tokens` rows (≥ h.tokens: padded with zero rows
    /// of X; only the first h.tokens rows of Y are checked; FLOPs count h.tokens).
    fn sparselt_tokens<T: Element>(
        &self,
        lib: &'static cusparselt::CuSparseLt,
        h: &Host<T>,
        io: &Io,
        w_dense: &CudaSlice<u8>,
        tokens: usize,
    ) -> Res<(Outcome, Outcome)> {
        let s = &self.stream;
        let pad_note = if tokens != h.tokens {
            format!(" (run as {tokens} tokens, zero-padded like PyTorch)")
        } else {
            String::new()
        };
        let mut m = SparseLtLinear::new(lib, T::DTYPE, tokens, h.out, h.inn).map_err(e2s)?;
        let dense_bytes = h.out * h.inn * T::DTYPE.size();
        // Its own prune (strip, magnitude) of our already 2:4 weight, its own check.
        let pruned = alloc(s, dense_bytes)?;
        m.prune(dptr(s, w_dense), dptr(s, &pruned), s)
            .map_err(e2s)?;
        let valid = alloc(s, 4)?;
        m.prune_check(dptr(s, &pruned), dptr(s, &valid), s)
            .map_err(e2s)?;
        let v = s.clone_dtoh(&valid).map_err(e2s)?;
        if v != [0, 0, 0, 0] {
            return Err(format!(
                "cusparseLtSpMMAPruneCheck says the pruned W is not valid ({v:?})"
            ));
        }
        let (csize, cbuf) = m.compressed_size().map_err(e2s)?;
        let scratch = alloc(s, cbuf)?;
        let comp0 = alloc(s, csize)?;
        m.compress(
            dptr(s, &pruned),
            dptr(s, &comp0),
            if cbuf > 0 { dptr(s, &scratch) } else { 0 },
            s,
        )
        .map_err(e2s)?;
        drop(pruned);
        let mut comp = vec![comp0];
        for _ in 1..io.copies {
            let c = alloc(s, csize)?;
            copy_dtod(s, dptr(s, &c), dptr(s, &comp[0]), csize)?;
            comp.push(c);
        }
        let bytes = csize + io.x_bytes + io.y_bytes;
        let c = io.copies;
        let ptrs: Vec<(u64, u64, u64)> = (0..c)
            .map(|i| (dptr(s, &comp[i]), dptr(s, &io.x[i]), dptr(s, &io.y[i])))
            .collect();
        let measure = |m: &mut SparseLtLinear, label: &str| -> Res<Outcome> {
            let wsz = m.workspace_size().map_err(e2s)?;
            let ws = alloc(s, wsz)?;
            let wp = if wsz > 0 { dptr(s, &ws) } else { 0 };
            self.poison(io)?;
            let (a, b, y) = ptrs[0];
            m.matmul(a, b, y, wp, s).map_err(e2s)?;
            s.synchronize().map_err(e2s)?;
            let err = check_output(s, &io.y[0], h)?;
            let note = format!(
                "{label} alg={} ws={}B{pad_note}",
                m.algorithm_id()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|e| e.to_string()),
                wsz
            );
            Ok(finish(s, T::DTYPE, err, bytes, note, || {
                time_op(s, self.reps, self.target_ms, c, &mut |i| {
                    let (a, b, y) = ptrs[i % c];
                    m.matmul(a, b, y, wp, s).map_err(e2s)
                })
            }))
        };
        let default = measure(&mut m, "default").unwrap_or_else(Outcome::Failed);
        let searched = (|| {
            let (a, b, y) = ptrs[0];
            // Room for the split-K configurations the search tries.
            let wsz = m.workspace_size().map_err(e2s)?.max(64 << 20);
            let ws = alloc(s, wsz)?;
            m.search(a, b, y, dptr(s, &ws), s).map_err(e2s)?;
            s.synchronize().map_err(e2s)?;
            measure(&mut m, "searched")
        })()
        .unwrap_or_else(Outcome::Failed);
        Ok((default, searched))
    }
}

// ---------------------------------------------------------------- case list

#[derive(Clone, Debug)]
struct Shape {
    label: &'static str,
    out: usize,
    inn: usize,
    tokens: Vec<usize>,
}

fn shapes(quick: bool) -> Vec<(DType, Shape)> {
    let layers: [(&str, usize, usize); 5] = [
        ("4096x4096", 4096, 4096),
        ("14336x4096", 14336, 4096),
        ("4096x14336", 4096, 14336),
        ("28672x8192", 28672, 8192),
        ("8192x28672", 8192, 28672),
    ];
    let mut v = Vec::new();
    if quick {
        for &(label, out, inn) in &layers {
            v.push((
                DType::BF16,
                Shape {
                    label,
                    out,
                    inn,
                    tokens: vec![1, 16, 2048],
                },
            ));
        }
        v.push((
            DType::F16,
            Shape {
                label: "14336x4096",
                out: 14336,
                inn: 4096,
                tokens: vec![16],
            },
        ));
        return v;
    }
    for dtype in [DType::BF16, DType::F16] {
        for &(label, out, inn) in &layers {
            v.push((
                dtype,
                Shape {
                    label,
                    out,
                    inn,
                    tokens: vec![1, 16, 128, 2048, 8192],
                },
            ));
        }
        v.push((
            dtype,
            Shape {
                label: "square 4096",
                out: 4096,
                inn: 4096,
                tokens: vec![4096],
            },
        ));
        v.push((
            dtype,
            Shape {
                label: "square 8192",
                out: 8192,
                inn: 8192,
                tokens: vec![8192],
            },
        ));
        v.push((
            dtype,
            Shape {
                label: "16384x8192",
                out: 16384,
                inn: 8192,
                tokens: vec![16384],
            },
        ));
    }
    v
}

// ---------------------------------------------------------------- report

/// sparse24 with one prefill tile in one case (`--prefill-tiles`).
struct TileRow {
    label: String,
    dtype: DType,
    tokens: usize,
    out: usize,
    inn: usize,
    config: GemmConfig,
    /// Split-K count (1 for the prefill tiles).
    splits: usize,
    ours: Outcome,
    /// cuBLASLt's median time in the same case.
    dense_us: Option<f64>,
}

impl TileRow {
    /// The tile's name, with the split count for the decode tile.
    fn tile(&self) -> String {
        match self.config {
            GemmConfig::Decode => format!("decode s={}", self.splits),
            c => c.tile_name().to_string(),
        }
    }
    fn flops(&self) -> f64 {
        2.0 * self.tokens as f64 * self.out as f64 * self.inn as f64
    }
    fn json(&self) -> Value {
        json!({"shape": self.label, "dtype": self.dtype.name(), "tokens": self.tokens,
        "out": self.out, "in": self.inn, "tile": self.tile(), "splits": self.splits,
        "config": self.config.name(), "sparse24": self.ours.json(self.flops()),
        "speedup_vs_cublaslt": match (self.dense_us, self.ours.us()) {
            (Some(d), Some(o)) => json!(d / o),
            _ => Value::Null,
        }})
    }
}

/// The `--prefill-tiles` table; the fastest tile of each case is marked.
fn tiles_markdown(tiles: &[TileRow]) -> String {
    let mut s = String::new();
    if tiles.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "\ntiles and split counts (sparse24, each checked against the f64 reference first; * = fastest of its case):\n"
    );
    let _ = writeln!(
        s,
        "| shape (out×in) | dtype | tokens | tile | µs | TFLOP/s | vs cuBLAS | rel err |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let key = |r: &TileRow| (r.label.clone(), r.dtype.name(), r.tokens);
    let mut best: BTreeMap<(String, &'static str, usize), f64> = BTreeMap::new();
    for r in tiles {
        if let Some(us) = r.ours.us() {
            let e = best.entry(key(r)).or_insert(us);
            *e = e.min(us);
        }
    }
    for r in tiles {
        let f = r.flops();
        let (us, tf, err) = match &r.ours {
            Outcome::Timed { t, rel_err, .. } => (
                format!("{:.1} ±{:.0}%", t.median_us, t.spread_pct() / 2.0),
                format!("{:.0}", f / t.median_us * 1e-6),
                format!("{rel_err:.1e}"),
            ),
            Outcome::NotAvailable(w) => (format!("not available: {w}"), "–".into(), "–".into()),
            Outcome::Failed(w) => (format!("FAILED: {w}"), "–".into(), "–".into()),
        };
        let vs = match (r.dense_us, r.ours.us()) {
            (Some(d), Some(o)) => format!("{:.2}×", d / o),
            _ => "–".into(),
        };
        let mark = match (r.ours.us(), best.get(&key(r))) {
            (Some(u), Some(&b)) if u == b => " *",
            _ => "",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {}{mark} | {us} | {tf} | {vs} | {err} |",
            r.label,
            r.dtype.name(),
            r.tokens,
            r.tile()
        );
    }
    s
}

struct Row {
    label: String,
    dtype: DType,
    tokens: usize,
    out: usize,
    inn: usize,
    ours: Outcome,
    dense: Outcome,
    lt_default: Outcome,
    lt_searched: Outcome,
}

impl Row {
    fn flops(&self) -> f64 {
        2.0 * self.tokens as f64 * self.out as f64 * self.inn as f64
    }
    fn json(&self) -> Value {
        let f = self.flops();
        let ratio = |b: &Outcome| match (b.us(), self.ours.us()) {
            (Some(b), Some(o)) => json!(b / o),
            _ => Value::Null,
        };
        json!({"shape": self.label, "dtype": self.dtype.name(), "tokens": self.tokens,
               "out": self.out, "in": self.inn, "flops": f,
               "sparse24": self.ours.json(f), "cublaslt": self.dense.json(f),
               "cusparselt_default": self.lt_default.json(f),
               "cusparselt_searched": self.lt_searched.json(f),
               "speedup_vs_cublaslt": ratio(&self.dense),
               "speedup_vs_cusparselt_default": ratio(&self.lt_default),
               "speedup_vs_cusparselt_searched": ratio(&self.lt_searched)})
    }
}

fn cell(o: &Outcome, flops: f64) -> String {
    match o {
        Outcome::Timed { t, .. } => format!(
            "{:.1} µs {:.0} TF/s ±{:.0}%",
            t.median_us,
            flops / t.median_us * 1e-6,
            t.spread_pct() / 2.0
        ),
        Outcome::NotAvailable(_) => "not available".into(),
        Outcome::Failed(_) => "FAILED".into(),
    }
}

fn ratio(b: &Outcome, o: &Outcome) -> String {
    match (b.us(), o.us()) {
        (Some(b), Some(o)) => format!("{:.2}×", b / o),
        _ => "–".into(),
    }
}

fn markdown(
    dev: &Device,
    cmd: &str,
    rows: &[Row],
    tiles: &[TileRow],
    extra: &[(String, String)],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "device: {} (sm_{}{}, {} SMs, L2 {} MiB, {} GiB), driver {}.{}\ncommand: {cmd}\n",
        dev.name,
        dev.cc.0,
        dev.cc.1,
        dev.sms,
        dev.l2 >> 20,
        dev.mem >> 30,
        dev.driver / 1000,
        (dev.driver % 1000) / 10
    );
    let _ = writeln!(
        s,
        "| shape (out×in) | dtype | tokens | sparse24 | GB/s | cuBLASLt | cuSPARSELt default | cuSPARSELt searched | vs cuBLAS | vs cSLt def | vs cSLt srch | rel err |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let f = r.flops();
        let gbps = match &r.ours {
            Outcome::Timed { t, bytes, .. } => format!("{:.0}", *bytes as f64 / t.median_us * 1e-3),
            _ => "–".into(),
        };
        let err = match &r.ours {
            Outcome::Timed { rel_err, .. } => format!("{rel_err:.1e}"),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.dtype.name(),
            r.tokens,
            cell(&r.ours, f),
            gbps,
            cell(&r.dense, f),
            cell(&r.lt_default, f),
            cell(&r.lt_searched, f),
            ratio(&r.dense, &r.ours),
            ratio(&r.lt_default, &r.ours),
            ratio(&r.lt_searched, &r.ours),
            err
        );
    }
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            [
                ("sparse24", &r.ours),
                ("cuBLASLt", &r.dense),
                ("cuSPARSELt default", &r.lt_default),
                ("cuSPARSELt searched", &r.lt_searched),
            ]
            .into_iter()
            .filter_map(move |(m, o)| match o {
                Outcome::Failed(w) | Outcome::NotAvailable(w) => Some(format!(
                    "- {} {} t={} {m}: {w}",
                    r.label,
                    r.dtype.name(),
                    r.tokens
                )),
                _ => None,
            })
        })
        .collect();
    s.push_str(&tiles_markdown(tiles));
    if !extra.is_empty() {
        let _ = writeln!(s, "\n| memory-bound | result |\n|---|---|");
        for (k, v) in extra {
            let _ = writeln!(s, "| {k} | {v} |");
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(s, "\nnot timed:");
        // Same reason repeated for every row (e.g. library absent): print it once.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for f in failures {
            let reason = f
                .split_once(": ")
                .map(|(_, w)| w.to_string())
                .unwrap_or_default();
            seen.entry(reason).or_insert(f);
        }
        for first in seen.values() {
            let _ = writeln!(s, "{first}");
        }
    }
    s
}

fn write_results(
    dir: &Option<PathBuf>,
    dev: &Device,
    cmd: &str,
    rows: &[Row],
    tiles: &[TileRow],
    extra: &[(String, String)],
    extra_json: &Value,
) -> Res<()> {
    let Some(dir) = dir else { return Ok(()) };
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let j = json!({
        "device": {"name": dev.name, "compute_capability": format!("{}.{}", dev.cc.0, dev.cc.1),
                   "sms": dev.sms, "l2_bytes": dev.l2, "memory_bytes": dev.mem, "driver": dev.driver},
        "command": cmd,
        "cusparselt": match cusparselt::library() {
            Ok(l) => json!({"path": l.path, "version": format!("{}.{}.{}", l.version.0, l.version.1, l.version.2)}),
            Err(e) => json!({"not_available": e}),
        },
        "gemm": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "tile_variants": tiles.iter().map(TileRow::json).collect::<Vec<_>>(),
        "memory_bound": extra_json,
    });
    let text = serde_json::to_string_pretty(&j).map_err(e2s)?;
    // Atomic: an interrupted run leaves the previous results, never half a file.
    sparse24::io::atomic::write_file(dir.join("bench.json"), text.as_bytes())
        .map_err(|e| format!("writing bench.json: {e}"))?;
    sparse24::io::atomic::write_file(
        dir.join("bench.md"),
        markdown(dev, cmd, rows, tiles, extra).as_bytes(),
    )
    .map_err(|e| format!("writing bench.md: {e}"))
}

// ---------------------------------------------------------------- memory-bound kernels

fn copy_bandwidth(b: &Bench, bytes: usize) -> Res<Timing> {
    let s = &b.stream;
    let c = copies_for(2 * bytes, b.dev.l2);
    let src: Vec<CudaSlice<u8>> = (0..c).map(|_| alloc(s, bytes)).collect::<Res<_>>()?;
    let dst: Vec<CudaSlice<u8>> = (0..c).map(|_| alloc(s, bytes)).collect::<Res<_>>()?;
    let p: Vec<(u64, u64)> = (0..c)
        .map(|i| (dptr(s, &dst[i]), dptr(s, &src[i])))
        .collect();
    time_op(s, b.reps, b.target_ms, c, &mut |i| {
        let (d, sr) = p[i % c];
        copy_dtod(s, d, sr, bytes)
    })
}

fn gbps(bytes: usize, t: &Timing) -> f64 {
    bytes as f64 / t.median_us * 1e-3
}

/// Prune + compress (magnitude) of a bf16 [rows, cols] weight: GB/s counting the
/// dense read and 0.5625× written, against a device copy of the same weight.
fn prune_bandwidth(b: &Bench, rows: usize, cols: usize) -> Res<(Timing, usize)> {
    use sparse24::ops::prune::{prune_compress_launches, Selection, STATUS_WORDS};
    let s = &b.stream;
    let dense_bytes = rows * cols * 2;
    let w: Vec<bf16> = random_vec(rows * cols, 7);
    let c = copies_for(dense_bytes, b.dev.l2);
    let dense: Vec<CudaSlice<u8>> = (0..c).map(|_| upload(s, &w)).collect::<Res<_>>()?;
    let values = alloc(s, dense_bytes / 2)?;
    let meta = alloc(s, rows * cols / 8)?;
    let status = alloc(s, STATUS_WORDS * 8)?;
    let launches: Vec<Vec<Launch>> = (0..c)
        .map(|i| {
            prune_compress_launches(
                DType::BF16,
                Selection::Magnitude,
                dptr(s, &dense[i]),
                dptr(s, &values),
                dptr(s, &meta),
                dptr(s, &status),
                rows,
                cols,
            )
            .map_err(e2s)
        })
        .collect::<Res<_>>()?;
    // Correctness first: the device result must equal the CPU's.
    for l in &launches[0] {
        b.exec.launch(l).map_err(e2s)?;
    }
    s.synchronize().map_err(e2s)?;
    let cpu = prune::prune_magnitude(&w, rows, cols).map_err(e2s)?;
    let gv = s.clone_dtoh(&values).map_err(e2s)?;
    let gm = s.clone_dtoh(&meta).map_err(e2s)?;
    if gv != bytemuck::cast_slice::<bf16, u8>(cpu.values())
        || gm != bytemuck::cast_slice::<u16, u8>(cpu.metadata())
    {
        return Err("device prune+compress differs from the CPU's".into());
    }
    let t = time_op(s, b.reps, b.target_ms, c, &mut |i| {
        launches[i % c]
            .iter()
            .try_for_each(|l| b.exec.launch(l).map_err(e2s))
    })?;
    Ok((t, dense_bytes + dense_bytes * 9 / 16))
}

/// Mask sampling forward (soft, bf16 weights, f32 logits): bytes = W read + logits
/// read (6 f32 per group of 4) + W_eff written.
fn mask_bandwidth(b: &Bench, rows: usize, cols: usize) -> Res<(Timing, usize)> {
    use sparse24::mask::{SampleParams, Sampling};
    use sparse24::ops::mask::forward_launches;
    let s = &b.stream;
    let n = rows * cols;
    let w: Vec<bf16> = random_vec(n, 9);
    let logits: Vec<f32> = random_vec::<f32>(n / 4 * 6, 10);
    let set = n * 2 * 2 + n / 4 * 6 * 4;
    let c = copies_for(set, b.dev.l2);
    let wd: Vec<CudaSlice<u8>> = (0..c).map(|_| upload(s, &w)).collect::<Res<_>>()?;
    let ld: Vec<CudaSlice<u8>> = (0..c).map(|_| upload(s, &logits)).collect::<Res<_>>()?;
    let out: Vec<CudaSlice<u8>> = (0..c).map(|_| alloc(s, n * 2)).collect::<Res<_>>()?;
    let p = SampleParams {
        seed: 1,
        step: 0,
        kappa: 100.0,
        tau: 4.0,
    };
    let launches: Vec<Vec<Launch>> = (0..c)
        .map(|i| {
            forward_launches(
                DType::BF16,
                dptr(s, &wd[i]),
                dptr(s, &ld[i]),
                dptr(s, &out[i]),
                None,
                rows,
                cols,
                &p,
                Sampling::Soft,
            )
            .map_err(e2s)
        })
        .collect::<Res<_>>()?;
    let t = time_op(s, b.reps, b.target_ms, c, &mut |i| {
        launches[i % c]
            .iter()
            .try_for_each(|l| b.exec.launch(l).map_err(e2s))
    })?;
    Ok((t, set))
}

// ---------------------------------------------------------------- main loop

fn run(args: &Args, ctx: Arc<CudaContext>) -> Res<()> {
    // One stream for everything and no cross-stream tracking: cudarc would otherwise
    // record events on every buffer use, which graph capture cannot take.
    // SAFETY: every allocation and launch below uses `stream` only.
    unsafe { ctx.disable_event_tracking() };
    let dev = device_info(&ctx)?;
    let exec = CudaExecutor::new(CodeChoice::Fatbin).map_err(e2s)?;
    let stream = exec.stream().clone();
    let cmd = std::env::args().collect::<Vec<_>>().join(" ");
    println!(
        "device: {} sm_{}{} {} SMs, L2 {} MiB, driver {}; cuBLASLt: {}; cuSPARSELt: {}",
        dev.name,
        dev.cc.0,
        dev.cc.1,
        dev.sms,
        dev.l2 >> 20,
        dev.driver,
        cublaslt_available()
            .map(|_| "found".to_string())
            .unwrap_or_else(|e| e),
        match cusparselt::library() {
            Ok(l) => format!(
                "{}.{}.{} ({})",
                l.version.0, l.version.1, l.version.2, l.path
            ),
            Err(e) => format!("not available ({e})"),
        }
    );
    let b = Bench {
        ctx: ctx.clone(),
        stream: stream.clone(),
        exec,
        dev,
        reps: args.reps,
        target_ms: if args.quick { 5.0 } else { 15.0 },
    };
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut tiles: Vec<TileRow> = Vec::new();
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut extra_json = json!({});

    // Memory-bound ceiling first: a plain device copy.
    let copy_mb = 256usize;
    match copy_bandwidth(&b, copy_mb << 20) {
        Ok(t) => {
            let g = gbps(2 * (copy_mb << 20), &t);
            println!(
                "device copy {copy_mb} MiB: {:.1} µs, {g:.0} GB/s (read + write)",
                t.median_us
            );
            extra.push((
                format!("device copy {copy_mb} MiB (read+write)"),
                format!("{g:.0} GB/s"),
            ));
            extra_json["copy"] = json!({"bytes": copy_mb << 20, "gbps": g, "timing": t.json()});
        }
        Err(e) => extra.push(("device copy".into(), format!("FAILED: {e}"))),
    }
    let copy_gbps = extra_json["copy"]["gbps"].as_f64();
    let mem_shapes: &[(usize, usize)] = if args.quick {
        &[(4096, 14336)]
    } else {
        &[(4096, 4096), (4096, 14336), (28672, 8192)]
    };
    for &(r, c) in mem_shapes {
        let of_copy = |g: f64| {
            copy_gbps
                .map(|cg| format!(" ({:.0}% of copy)", 100.0 * g / cg))
                .unwrap_or_default()
        };
        match prune_bandwidth(&b, r, c) {
            Ok((t, bytes)) => {
                let g = gbps(bytes, &t);
                println!(
                    "prune+compress bf16 {r}x{c}: {:.1} µs, {g:.0} GB/s{}",
                    t.median_us,
                    of_copy(g)
                );
                extra.push((
                    format!("prune+compress bf16 {r}x{c}"),
                    format!("{:.1} µs, {g:.0} GB/s{}", t.median_us, of_copy(g)),
                ));
                extra_json[format!("prune_{r}x{c}")] =
                    json!({"bytes": bytes, "gbps": g, "timing": t.json()});
            }
            Err(e) => extra.push((
                format!("prune+compress bf16 {r}x{c}"),
                format!("FAILED: {e}"),
            )),
        }
        match mask_bandwidth(&b, r, c) {
            Ok((t, bytes)) => {
                let g = gbps(bytes, &t);
                println!(
                    "mask forward (soft) bf16 {r}x{c}: {:.1} µs, {g:.0} GB/s{}",
                    t.median_us,
                    of_copy(g)
                );
                extra.push((
                    format!("mask sampling forward bf16 {r}x{c}"),
                    format!("{:.1} µs, {g:.0} GB/s{}", t.median_us, of_copy(g)),
                ));
                extra_json[format!("mask_forward_{r}x{c}")] =
                    json!({"bytes": bytes, "gbps": g, "timing": t.json()});
            }
            Err(e) => extra.push((
                format!("mask sampling forward bf16 {r}x{c}"),
                format!("FAILED: {e}"),
            )),
        }
    }
    write_results(&args.out, &b.dev, &cmd, &rows, &tiles, &extra, &extra_json)?;

    for (dtype, shape) in shapes(args.quick) {
        let any = shape.tokens.iter().any(|t| {
            let label = format!("{} {} t={t}", shape.label, dtype.name());
            args.only
                .as_ref()
                .is_none_or(|o| label.contains(o.as_str()))
        });
        if !any {
            continue;
        }
        let t0 = Instant::now();
        let res = match dtype {
            DType::BF16 => layer::<bf16>(&b, args, &shape, &mut rows, &mut tiles),
            _ => layer::<f16>(&b, args, &shape, &mut rows, &mut tiles),
        };
        if let Err(e) = res {
            println!("{} {}: FAILED to set up: {e}", shape.label, dtype.name());
        }
        println!(
            "  ({} {} took {:.1} s)",
            shape.label,
            dtype.name(),
            t0.elapsed().as_secs_f64()
        );
        write_results(&args.out, &b.dev, &cmd, &rows, &tiles, &extra, &extra_json)?;
    }
    let _ = &b.ctx;
    println!("\n{}", markdown(&b.dev, &cmd, &rows, &tiles, &extra));
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    let failed = rows.iter().any(|r| matches!(r.ours, Outcome::Failed(_)))
        || tiles.iter().any(|r| matches!(r.ours, Outcome::Failed(_)));
    if failed {
        return Err("a sparse24 result failed its check (see the table)".into());
    }
    Ok(())
}

fn layer<T: Element>(
    b: &Bench,
    args: &Args,
    shape: &Shape,
    rows: &mut Vec<Row>,
    tiles: &mut Vec<TileRow>,
) -> Res<()> {
    let s = &b.stream;
    let (out, inn) = (shape.out, shape.inn);
    let t0 = Instant::now();
    let (w_pruned, sparse) = host_weights::<T>(out, inn, 42 + out as u64 * 31 + inn as u64)?;
    let dense_bytes = out * inn * T::DTYPE.size();
    // Weight copies: enough that the weights alone exceed 3× L2 (X/Y rotate too).
    let wc = copies_for(dense_bytes * 9 / 16, b.dev.l2);
    let wd: Vec<CudaSlice<u8>> = (0..wc).map(|_| upload(s, &w_pruned)).collect::<Res<_>>()?;
    // sparse24's fragment-ordered weights, converted and uploaded once per layer.
    let ours_w: Res<Vec<DeviceSparse24<CudaExecutor, T>>> = if sparse24::kernels::compiled() {
        (0..wc)
            .map(|_| DeviceSparse24::upload(&b.exec, &sparse).map_err(e2s))
            .collect()
    } else {
        Err(Error::KernelsNotCompiled.to_string())
    };
    println!(
        "{} {}: weights ready in {:.1} s ({wc} copies)",
        shape.label,
        T::DTYPE.name(),
        t0.elapsed().as_secs_f64()
    );
    for &tokens in &shape.tokens {
        let label = format!("{} {} t={tokens}", shape.label, T::DTYPE.name());
        if !args
            .only
            .as_ref()
            .is_none_or(|o| label.contains(o.as_str()))
        {
            continue;
        }
        let h = host_case(tokens, &w_pruned, &sparse, 7 + tokens as u64);
        let io = b.io(&h, wc)?;
        let ours = b.ours(&h, &io, &ours_w, None);
        let dense = b.dense(&h, &io, &wd);
        let (lt_default, lt_searched) = b.sparselt(&h, &io, &wd[0]);
        let row = Row {
            label: shape.label.to_string(),
            dtype: T::DTYPE,
            tokens,
            out,
            inn,
            ours,
            dense,
            lt_default,
            lt_searched,
        };
        let f = row.flops();
        println!(
            "{label}: sparse24 {} | cuBLASLt {} | cuSPARSELt {} / searched {} | {} vs cuBLAS, {} vs searched",
            cell(&row.ours, f),
            cell(&row.dense, f),
            cell(&row.lt_default, f),
            cell(&row.lt_searched, f),
            ratio(&row.dense, &row.ours),
            ratio(&row.lt_searched, &row.ours)
        );
        for (m, o) in [
            ("sparse24", &row.ours),
            ("cuBLASLt", &row.dense),
            ("cuSPARSELt default", &row.lt_default),
            ("cuSPARSELt searched", &row.lt_searched),
        ] {
            if let Outcome::Failed(w) = o {
                println!("  {m} FAILED: {w}");
            }
        }
        if args.prefill_tiles && tokens >= LARGE_TILE_MIN_TOKENS {
            for config in GemmConfig::PREFILL {
                let o = b.ours(&h, &io, &ours_w, Some((config, 1)));
                println!(
                    "  tile {:>9}: {}{}",
                    config.tile_name(),
                    cell(&o, f),
                    match &o {
                        Outcome::Failed(w) => format!(" FAILED: {w}"),
                        _ => format!(" {} vs cuBLAS", ratio(&row.dense, &o)),
                    }
                );
                tiles.push(TileRow {
                    label: shape.label.to_string(),
                    dtype: T::DTYPE,
                    tokens,
                    out,
                    inn,
                    config,
                    splits: 1,
                    ours: o,
                    dense_us: row.dense.us(),
                });
            }
        }
        if args.decode_splits && tokens <= DECODE_MAX_TOKENS {
            for splits in [1, 2, 3, 4, 6, 8, 12, 16] {
                // Only the counts the plan accepts for this shape (no empty chunk).
                if SparseGemmPlan::new(GemmConfig::Decode, tokens, out, inn, splits).is_err() {
                    continue;
                }
                let o = b.ours(&h, &io, &ours_w, Some((GemmConfig::Decode, splits)));
                println!(
                    "  decode s={splits:>2}: {}{}",
                    cell(&o, f),
                    match &o {
                        Outcome::Failed(w) => format!(" FAILED: {w}"),
                        _ => format!(" {} vs cuBLAS", ratio(&row.dense, &o)),
                    }
                );
                tiles.push(TileRow {
                    label: shape.label.to_string(),
                    dtype: T::DTYPE,
                    tokens,
                    out,
                    inn,
                    config: GemmConfig::Decode,
                    splits,
                    ours: o,
                    dense_us: row.dense.us(),
                });
            }
        }
        rows.push(row);
        // Release this case's buffers before the next.
        drop(io);
        s.synchronize().map_err(e2s)?;
    }
    Ok(())
}

/// The CPU side of the selected cases, without a device: how long the host
/// preparation takes (it counts against the GPU check's time cap) and a check of the
/// f64 reference against the crate's CPU sparse reference on the first checked token.
fn host_only(args: &Args) -> Res<()> {
    for (dtype, shape) in shapes(args.quick) {
        let label = format!("{} {}", shape.label, dtype.name());
        if !args
            .only
            .as_ref()
            .is_none_or(|o| label.contains(o.as_str()))
        {
            continue;
        }
        match dtype {
            DType::BF16 => host_only_layer::<bf16>(&shape, &label)?,
            _ => host_only_layer::<f16>(&shape, &label)?,
        }
    }
    Ok(())
}

fn host_only_layer<T: Element>(shape: &Shape, label: &str) -> Res<()> {
    let t0 = Instant::now();
    let (w_pruned, sparse) = host_weights::<T>(shape.out, shape.inn, 1)?;
    let t_w = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let frag = sparse24::layout::to_fragment_order(&sparse);
    let t_f = t1.elapsed().as_secs_f64();
    for &tokens in &shape.tokens {
        let t2 = Instant::now();
        let h = host_case(tokens, &w_pruned, &sparse, 2);
        let t_r = t2.elapsed().as_secs_f64();
        let t = h.check_tokens[0];
        let x = &h.x[t * h.inn..(t + 1) * h.inn];
        let y = sparse24::reference::linear_sparse_f64(x, 1, &sparse, &Default::default())
            .map_err(e2s)?;
        let err = sparse24::reference::rel_error(&y, &h.reference[0]);
        if err.is_nan() || err > 1e-12 {
            return Err(format!(
                "{label} t={tokens}: f64 reference disagrees with the crate's ({err:e})"
            ));
        }
        println!(
            "{label} t={tokens}: weights {t_w:.1} s, fragment order {t_f:.1} s ({} values), \
             X + reference {t_r:.1} s, reference check {err:.0e}",
            frag.values.len()
        );
    }
    Ok(())
}
