//! The wgmma.sp roofline probe (issue 18; GPU check phase `hopper-roofline`): the rate
//! of wgmma.mma_async.sp m64nNk32 with A from registers (RS: the Hopper GEMM's form)
//! against A from shared memory (SS: CUTLASS's and cuSPARSELt's), N = 128 and 256, with
//! and without the GEMM's W stream from global memory into the A registers, one CTA of
//! two warpgroups per SM, every SM busy. It answers, before the GEMM's own numbers,
//! which design the tensor cores and shared memory allow: HARDWARE.md's measured RS
//! peak (1931 dense-equivalent TFLOP/s on an H100) and its arithmetic that SS caps near
//! cuSPARSELt's level.
//!
//! ```text
//! cargo run --release --features sim --example hopper-roofline            # GPU
//! cargo run --release --features sim --example hopper-roofline -- --sim-only
//! ```
//! Without a compute capability 9.0 device it runs each kernel once on ptxsim (legal
//! wgmma, counts as the arithmetic says), prints "skipped: ..." and exits 0.

mod probe;

use cudarc::driver::{sys, CudaContext, DevicePtr, LaunchConfig, PushKernelArg};
use probe::{Probe, PROBES, THREADS, W_VECS};
use std::process::ExitCode;
use std::sync::Arc;

/// k32 steps per CTA per launch on the GPU (about a millisecond at the peak rate).
const ITERS: i32 = 8192;
const REPS: usize = 5;

fn sim_side() -> bool {
    let mut ok = true;
    for p in PROBES {
        for stream in [false, true] {
            if p.ss && stream {
                continue;
            }
            match probe::sim_run(&p, 4, stream) {
                Ok(s) => {
                    let want = p.wgmma_per_cta(4);
                    let got = s.wgmma_sp[p.n / 8 - 1];
                    let fine = got == want;
                    ok &= fine;
                    println!(
                        "{} {}{}: ptxsim {} wgmma.sp m64n{}k32 (expected {want})",
                        if fine { "ok  " } else { "FAIL" },
                        p.kernel,
                        if stream { " +W stream" } else { "" },
                        got,
                        p.n
                    );
                }
                Err(e) => {
                    ok = false;
                    println!("FAIL {} on ptxsim: {e}", p.kernel);
                }
            }
        }
    }
    ok
}

/// Median milliseconds of REPS launches of `p` on every SM.
fn time_probe(ctx: &Arc<CudaContext>, p: &Probe, stream_w: bool, sms: u32) -> Result<f64, String> {
    let e = |e: cudarc::driver::DriverError| e.to_string();
    let module = ctx
        .load_module(cudarc::nvrtc::Ptx::from_src(probe::PTX))
        .map_err(e)?;
    let f = module.load_function(p.kernel).map_err(e)?;
    let s = ctx.default_stream();
    let w = s.alloc_zeros::<u8>(W_VECS * 16).map_err(e)?;
    let out = s.alloc_zeros::<f32>((sms * THREADS) as usize).map_err(e)?;
    let (wp, op) = (w.device_ptr(&s).0, out.device_ptr(&s).0);
    let w_arg: u64 = if stream_w { wp } else { 0 };
    let mask = W_VECS as u32 - 1;
    let launch = || -> Result<(), String> {
        let mut b = s.launch_builder(&f);
        b.arg(&w_arg).arg(&mask).arg(&ITERS).arg(&op);
        let cfg = LaunchConfig {
            grid_dim: (sms, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: roofline.cu's signature (const uint4* w, unsigned w_mask, int iters,
        // float* out): w is 0 or a buffer of W_VECS 16-byte vectors (the kernel masks
        // its index with w_mask = W_VECS - 1), out holds one float per thread.
        unsafe { b.launch(cfg) }.map(|_| ()).map_err(e)
    };
    launch()?;
    s.synchronize().map_err(e)?;
    let mut times = Vec::new();
    for _ in 0..REPS {
        let a = ctx
            .new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(e)?;
        let b = ctx
            .new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(e)?;
        a.record(&s).map_err(e)?;
        launch()?;
        b.record(&s).map_err(e)?;
        times.push(a.elapsed_ms(&b).map_err(e)? as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn main() -> ExitCode {
    let sim_only = std::env::args().any(|a| a == "--sim-only");
    println!("# wgmma.sp roofline probe\n");
    let sim_ok = sim_side();
    if sim_only {
        return if sim_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let ctx = match sparse24::cuda::context() {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: no CUDA device ({e})");
            return if sim_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    let cc = ctx.compute_capability().unwrap_or((0, 0));
    if cc != (9, 0) {
        println!(
            "skipped: the probe is sm_90a code, the device is {}.{}",
            cc.0, cc.1
        );
        return if sim_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let sms = ctx
        .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .unwrap_or(0)
        .max(1) as u32;
    println!(
        "\n{} SMs, one CTA (2 warpgroups) per SM, {ITERS} k32 steps, median of {REPS}\n",
        sms
    );
    println!("| kernel | A from | N | W stream | ms | dense-equivalent TFLOP/s |");
    println!("|---|---|---|---|---|---|");
    let mut failed = !sim_ok;
    for p in PROBES {
        for stream in [false, true] {
            if p.ss && stream {
                continue;
            }
            match time_probe(&ctx, &p, stream, sms) {
                Ok(ms) => {
                    let tflops = p.flops_per_cta(ITERS as usize) * sms as f64 / (ms * 1e-3) / 1e12;
                    println!(
                        "| {} | {} | {} | {} | {ms:.3} | {tflops:.0} |",
                        p.kernel,
                        if p.ss { "shared memory" } else { "registers" },
                        p.n,
                        if stream { "yes" } else { "no" }
                    );
                }
                Err(e) => {
                    failed = true;
                    println!("| {} | FAILED: {e} | | | | |", p.kernel);
                }
            }
        }
    }
    // The host cost of a tensor map per launch (the Hopper GEMM encodes X's map at
    // every forward, as its address changes): the driver's encoder, timed on the CPU.
    let desc = sparse24::tensor_map::TensorMapDesc::matrix(
        sparse24::DType::BF16,
        0x7f00_0000_0000,
        [2048, 4096],
        4096 * 2,
        [128, 64],
        sparse24::tensor_map::TensorMapSwizzle::B128,
    );
    let n = 10_000;
    let t0 = std::time::Instant::now();
    let mut ok = true;
    for _ in 0..n {
        ok &= sparse24::cuda::encode_tensor_map(std::hint::black_box(&desc)).is_ok();
    }
    let ns = t0.elapsed().as_nanos() as f64 / n as f64;
    if ok {
        println!("
cuTensorMapEncodeTiled (X of 2048 x 4096 bf16, box 128 x 64, 128B swizzle): {ns:.0} ns per call on the host");
    } else {
        failed = true;
        println!(
            "
cuTensorMapEncodeTiled FAILED on the GEMM's map of X"
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
