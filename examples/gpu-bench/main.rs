//! The GPU benchmark (issue 6, part 1): sparse24's 2:4 GEMM against dense cuBLASLt and
//! NVIDIA's cuSPARSELt (default plan and its own searched plan), all in one process on
//! the same inputs, plus device-copy bandwidth and the memory-bound prune/compress and
//! mask-sampling kernels against it.
//!
//! ```text
//! cargo run --release --example gpu-bench -- [--quick] [--out DIR] [--only TEXT] [--reps N]
//!                                              [--prefill-tiles] [--decode-splits]
//!                                              [--host-only]
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
//! each prefill tile configuration (`GemmConfig::PREFILL`; without `--quick` also the
//! staged tiles' sweep, `GemmConfig::SWEEP`, in builds with `gemm-sweep`; checked against the
//! reference first like the main column) and adds a table "tile → µs, TFLOP/s, vs
//! cuBLAS" with the fastest tile of each case marked, so one run shows which tile
//! `SparseGemmPlan::choose` (or `SPARSE24_PREFILL_TILE`) should take.
//!
//! With `--token-sweep` (`--full-sweep`: every token count from 1 to 8192) the cases
//! are the five LLM layers over token counts instead, each timed with every kernel that
//! runs it (sweep.rs): DIR/sweep.md, sweep.json and sweep.svg plot the speed-up over
//! dense and over cuSPARSELt (its version named) against tokens, one line per kernel.
//!
//! Results are written (after every case, so a time cap keeps what finished) to
//! DIR/bench.json and DIR/bench.md; the compact table is printed last.
//!
//! The parts: `args` (the command line), `cases` (shapes, host data, the reference
//! check, `--host-only`), `device` (device description, raw buffers), `timing` (CUDA
//! graphs and events), `bench` (one case: sparse24's column and the shared inputs),
//! `baselines` (cuBLASLt, cuSPARSELt), `memory` (the memory-bound kernels), `report`
//! (tables, bench.json, bench.md), `sweep` (the token sweep and its plot) and `error`
//! (what can fail, typed).

// The parts name each other `super::...`, not `crate::...`: benches/gpu.rs includes
// this file as a module of its own crate.
mod args;
mod baselines;
mod bench;
mod cases;
mod device;
mod error;
mod memory;
mod report;
mod sweep;
mod timing;

use args::{parse_args, Args};
use baselines::cublaslt_available;
use bench::{Bench, Outcome};
use cases::{host_case, host_only, host_weights, shapes, Shape};
use cudarc::driver::{CudaContext, CudaSlice};
use device::{device_info, upload};
use error::{BenchError, Res};
use half::{bf16, f16};
use report::{cell, markdown, ratio, write_results, Row, TileRow};
use sparse24::cuda::{CodeChoice, CudaExecutor};
use sparse24::cusparselt;
use sparse24::ops::gemm::{
    DeviceSparse24, GemmConfig, SparseGemmPlan, DECODE_MAX_TOKENS, LARGE_TILE_MIN_TOKENS,
};
use sparse24::{DType, Element, Error};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use timing::copies_for;

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

// ---------------------------------------------------------------- main loop

fn run(args: &Args, ctx: Arc<CudaContext>) -> Res<()> {
    // One stream for everything and no cross-stream tracking: cudarc would otherwise
    // record events on every buffer use, which graph capture cannot take.
    // SAFETY: every allocation and launch below uses `stream` only.
    unsafe { ctx.disable_event_tracking() };
    let dev = device_info(&ctx)?;
    let exec = CudaExecutor::new(CodeChoice::Fatbin)?;
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
            .unwrap_or_else(|e| e.to_string()),
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

    // Memory-bound ceiling first: a plain device copy.
    let memory = memory::measure(&b, args.quick);
    let (extra, extra_json) = (&memory.rows, &memory.json);
    write_results(&args.out, &b.dev, &cmd, &rows, &tiles, extra, extra_json)?;

    let shape_set = if args.token_sweep {
        sweep::shapes(args.full_sweep)
    } else {
        shapes(args.quick)
    };
    let mut points: Vec<sweep::Point> = Vec::new();
    let lt_version = match cusparselt::library() {
        Ok(l) => format!("{}.{}.{}", l.version.0, l.version.1, l.version.2),
        Err(_) => "(not available)".to_string(),
    };
    for (dtype, shape) in shape_set {
        let any = shape.tokens.iter().any(|t| {
            let label = format!("{} {} t={t}", shape.label, dtype.name());
            args.selects(&label)
        });
        if !any {
            continue;
        }
        let t0 = Instant::now();
        let res = match dtype {
            DType::BF16 => layer::<bf16>(&b, args, &shape, &mut rows, &mut tiles, &mut points),
            _ => layer::<f16>(&b, args, &shape, &mut rows, &mut tiles, &mut points),
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
        write_results(&args.out, &b.dev, &cmd, &rows, &tiles, extra, extra_json)?;
        if let (Some(dir), true) = (&args.out, args.token_sweep) {
            sweep::write(dir, &points, &lt_version)?;
        }
    }
    let _ = &b.ctx;
    if args.token_sweep {
        println!("{}", sweep::markdown(&points, &lt_version));
    }
    println!("\n{}", markdown(&b.dev, &cmd, &rows, &tiles, extra));
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    let failed = rows.iter().any(|r| matches!(r.ours, Outcome::Failed(_)))
        || tiles.iter().any(|r| matches!(r.ours, Outcome::Failed(_)));
    if failed {
        return Err(BenchError::ResultFailed);
    }
    Ok(())
}

fn layer<T: Element>(
    b: &Bench,
    args: &Args,
    shape: &Shape,
    rows: &mut Vec<Row>,
    tiles: &mut Vec<TileRow>,
    points: &mut Vec<sweep::Point>,
) -> Res<()> {
    let s = &b.stream;
    let (out, inn) = (shape.out, shape.inn);
    let t0 = Instant::now();
    let (w_pruned, sparse) = host_weights::<T>(out, inn, 42 + out as u64 * 31 + inn as u64)?;
    let dense_bytes = out * inn * T::DTYPE.size();
    // Weight copies: enough that the weights alone exceed 3× L2 (X/Y rotate too).
    let wc = copies_for(dense_bytes * 9 / 16, b.dev.l2);
    let wd: Vec<CudaSlice<u8>> = (0..wc).map(|_| upload(s, &w_pruned)).collect::<Res<_>>()?;
    // sparse24's fragment-ordered weights, converted and uploaded once per layer; with
    // the `hopper-ss` feature on a Hopper GPU also row-major, for the SS tile's rows.
    let with_rows = cfg!(feature = "hopper-ss") && b.dev.gemm_device().runs_sm90a();
    let ours_w: Res<Vec<DeviceSparse24<CudaExecutor, T>>> = if sparse24::kernels::compiled() {
        (0..wc)
            .map(|_| {
                Ok(if with_rows {
                    DeviceSparse24::upload_for(&b.exec, &sparse, GemmConfig::Wgmma256x128Ss)?
                } else {
                    DeviceSparse24::upload(&b.exec, &sparse)?
                })
            })
            .collect()
    } else {
        Err(Error::KernelsNotCompiled.into())
    };
    println!(
        "{} {}: weights ready in {:.1} s ({wc} copies)",
        shape.label,
        T::DTYPE.name(),
        t0.elapsed().as_secs_f64()
    );
    for &tokens in &shape.tokens {
        let label = format!("{} {} t={tokens}", shape.label, T::DTYPE.name());
        if !args.selects(&label) {
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
        // sparse24 with each prefill tile (--prefill-tiles), or with the decode tile at
        // each split count the plan accepts for this shape (--decode-splits).
        let mut variants: Vec<(GemmConfig, usize, String)> = Vec::new();
        if args.prefill_tiles && tokens >= LARGE_TILE_MIN_TOKENS {
            // The prefill tiles (the staged ones included), then in the full set the
            // staged pipeline's sweep where this build has it (feature `gemm-sweep`),
            // each where the device's shared memory per CTA holds it.
            let smem =
                sparse24::ops::gemm::max_shared_per_block(b.dev.gemm_device().compute_capability);
            let sweep: &[GemmConfig] = if args.quick { &[] } else { &GemmConfig::SWEEP };
            for config in GemmConfig::PREFILL.into_iter().chain(sweep.iter().copied()) {
                if config.kernel(T::DTYPE).is_ok() && config.tile().shared_bytes() <= smem {
                    variants.push((config, 1, format!("tile {:>10}", config.tile_name())));
                }
            }
        }
        // The Hopper tiles (sm_90a code: on compute capability 9.0 only), from 64 tokens
        // (where the plan starts taking them), so one run compares them with the
        // mma.sp tiles and with cuBLASLt / cuSPARSELt on the same inputs.
        if args.prefill_tiles
            && tokens >= sparse24::ops::gemm::WGMMA_MIN_TOKENS
            && b.dev.gemm_device().runs_sm90a()
        {
            for config in GemmConfig::WGMMA {
                variants.push((config, 1, format!("tile {:>9}", config.tile_name())));
            }
            // The SS form, where compiled (feature `hopper-ss`): RS against SS.
            for config in GemmConfig::WGMMA_SS {
                if config.kernel(T::DTYPE).is_ok() {
                    variants.push((config, 1, format!("tile {:>9}", config.tile_name())));
                }
            }
        }
        if args.decode_splits && tokens <= DECODE_MAX_TOKENS {
            for splits in [1, 2, 3, 4, 6, 8, 12, 16] {
                // Only the counts the plan accepts for this shape (no empty chunk).
                if SparseGemmPlan::new(GemmConfig::Decode, tokens, out, inn, splits).is_ok() {
                    variants.push((GemmConfig::Decode, splits, format!("decode s={splits:>2}")));
                }
            }
            // The decode tiles around their heuristic's count (what tunes it); the
            // bulk-copy tile on compute capability 9.x only (its splits clamp at the
            // cluster size).
            let sm90 = b.dev.gemm_device().runs_sm90();
            let decode90 = GemmConfig::DECODE_SM90.into_iter().filter(|_| sm90);
            for c in GemmConfig::DECODE.into_iter().chain(decode90) {
                let sms = b.dev.gemm_device().sm_count;
                if let Ok(p) = SparseGemmPlan::decode(c, tokens, out, inn, sms) {
                    let mut counts = vec![p.splits.div_ceil(2), p.splits, 2 * p.splits];
                    counts.dedup();
                    for s in counts {
                        if let Ok(q) = SparseGemmPlan::new(c, tokens, out, inn, s) {
                            variants.push((
                                c,
                                q.splits,
                                format!("{} s={:>2}", c.tile_name(), q.splits),
                            ));
                        }
                    }
                }
            }
        }
        // The token sweep: every kernel that runs this shape (sweep.rs).
        if args.token_sweep {
            for (name, c, s) in
                sweep::kernels(tokens, out, inn, b.dev.gemm_device(), args.full_sweep)
            {
                variants.push((c, s, name));
            }
        }
        if args.token_sweep {
            points.push(sweep::Point::new(
                shape.label,
                T::DTYPE,
                tokens,
                "plan",
                &row.ours,
                &row.dense,
                &row.lt_searched,
            ));
        }
        for (config, splits, name) in variants {
            let o = b.ours(&h, &io, &ours_w, Some((config, splits)));
            if args.token_sweep {
                points.push(sweep::Point::new(
                    shape.label,
                    T::DTYPE,
                    tokens,
                    name.trim(),
                    &o,
                    &row.dense,
                    &row.lt_searched,
                ));
            }
            println!(
                "  {name}: {}{}",
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
                splits,
                ours: o,
                dense_us: row.dense.us(),
            });
        }
        rows.push(row);
        // Release this case's buffers before the next.
        drop(io);
        s.synchronize()?;
    }
    Ok(())
}
