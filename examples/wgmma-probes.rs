//! The wgmma layout probes (issue 17, GPU check phase "wgmma-probes"): each one-warpgroup
//! kernel of `ptxsim/tests/kernels/wgmma.cu` (nvcc 13.0 `-arch=sm_90a` PTX, committed as
//! `wgmma.ptx`) runs on the same inputs on ptxsim and on the GPU, and both are compared
//! with the CPU reference of `ptxsim/tests/common/wgmma_case.rs` bit for bit (small
//! integers: every sum is exact in f32). Each line names the layout fact the case confirms
//! or refutes: a misunderstanding shared by ptxsim and its tests shows up here as a GPU
//! mismatch. Exit status 1 on any mismatch.
//!
//! ```text
//! cargo run --release --features sim --example wgmma-probes            # GPU vs ptxsim
//! cargo run --release --features sim --example wgmma-probes -- --sim-only
//! ```
//! The PTX is sm_90a: without a CUDA device, or on a device other than compute
//! capability 9.0, it runs the ptxsim side, prints "skipped: ..." and exits 0.

#[path = "../ptxsim/tests/common/wgmma_case.rs"]
mod wgmma_case;

use cudarc::driver::{CudaContext, CudaModule, CudaStream, DevicePtr, LaunchConfig, PushKernelArg};
use rand::{rngs::StdRng, SeedableRng};
use std::process::ExitCode;
use std::sync::Arc;
use wgmma_case::{host_data, probes, HostData};

const PTX: &str = include_str!("../ptxsim/tests/kernels/wgmma.ptx");

/// The GPU side: a stream and the probes' module.
type Gpu = (Arc<CudaStream>, Arc<CudaModule>);

/// The kernel's parameters: img, nvec, adesc, bdesc, areg, meta, out (C in, D out), and
/// `last`: scale-d, or the pipelined probe's iteration count.
fn sim_run(m: &ptxsim::Module, kernel: &str, h: &HostData, last: i32) -> Result<Vec<f32>, String> {
    use ptxsim::{Device, Param};
    let mut dev = Device::new();
    let e = |e: ptxsim::SimError| e.to_string();
    let up = |dev: &mut Device, b: &[u8]| -> Result<u64, String> {
        let p = dev.alloc(b.len().max(1)).map_err(e)?;
        dev.write(p, b).map_err(e)?;
        Ok(p)
    };
    let img = up(&mut dev, &h.img)?;
    let areg = up(&mut dev, bytemuck::cast_slice(&h.areg))?;
    let meta = up(&mut dev, bytemuck::cast_slice(&h.meta))?;
    let out = up(&mut dev, bytemuck::cast_slice(&h.cin))?;
    let params = [
        Param::U64(img),
        Param::I32(h.img.len() as i32 / 16),
        Param::U64(h.adesc),
        Param::U64(h.bdesc),
        Param::U64(areg),
        Param::U64(meta),
        Param::U64(out),
        Param::I32(last),
    ];
    dev.launch(m, kernel, &ptxsim::LaunchConfig::linear(1, 128), &params)
        .map_err(e)?;
    let b = dev.read(out, 4 * h.want.len()).map_err(e)?;
    Ok(bytemuck::cast_slice(&b).to_vec())
}

fn gpu_run(
    stream: &Arc<CudaStream>,
    module: &Arc<CudaModule>,
    kernel: &str,
    h: &HostData,
    last: i32,
) -> Result<Vec<f32>, String> {
    let e = |e: cudarc::driver::DriverError| e.to_string();
    let f = module.load_function(kernel).map_err(e)?;
    let img = stream.clone_htod(&h.img).map_err(e)?;
    let areg = stream.clone_htod(&h.areg).map_err(e)?;
    let meta = stream.clone_htod(&h.meta).map_err(e)?;
    let out = stream.clone_htod(&h.cin).map_err(e)?;
    let (img_p, areg_p, meta_p, out_p) = {
        let ptr = |p: (u64, _)| p.0;
        (
            ptr(img.device_ptr(stream)),
            ptr(areg.device_ptr(stream)),
            ptr(meta.device_ptr(stream)),
            ptr(out.device_ptr(stream)),
        )
    };
    let nvec = h.img.len() as i32 / 16;
    let mut b = stream.launch_builder(&f);
    b.arg(&img_p)
        .arg(&nvec)
        .arg(&h.adesc)
        .arg(&h.bdesc)
        .arg(&areg_p)
        .arg(&meta_p)
        .arg(&out_p)
        .arg(&last);
    let cfg = LaunchConfig {
        grid_dim: (1, 1, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: the arguments follow the probe kernels' signature (wgmma.cu): three device
    // addresses of buffers sized for 128 threads, the image's 16-byte vector count, two
    // descriptors relative to the kernel's own shared buffer, and an int.
    unsafe { b.launch(cfg) }.map_err(e)?;
    stream.clone_dtoh(&out).map_err(e)
}

/// "ok", or where the first of `got` differs from `want`.
fn diff(got: &[f32], want: &[f32], nd: usize) -> Option<String> {
    let bad = got
        .iter()
        .zip(want)
        .position(|(g, w)| g.to_bits() != w.to_bits())?;
    let n = got
        .iter()
        .zip(want)
        .filter(|(g, w)| g.to_bits() != w.to_bits())
        .count();
    Some(format!(
        "{n} of {} values differ; first: thread {} register {}: {} vs {}",
        want.len(),
        bad / nd,
        bad % nd,
        got[bad],
        want[bad]
    ))
}

fn main() -> ExitCode {
    let sim_only = std::env::args().any(|a| a == "--sim-only");
    let m = match ptxsim::Module::parse(PTX) {
        Ok(m) => m,
        Err(e) => {
            println!("FAIL parsing wgmma.ptx on ptxsim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let gpu: Option<Gpu> = if sim_only {
        None
    } else {
        match sparse24::cuda::context() {
            Err(e) => {
                println!("skipped (GPU side): no CUDA device ({e})");
                None
            }
            Ok(ctx) => match gpu_setup(&ctx) {
                Ok(g) => g,
                Err(e) => {
                    println!("FAIL loading wgmma.ptx on the GPU: {e}");
                    return ExitCode::FAILURE;
                }
            },
        }
    };
    let (mut ok, mut failed) = (0usize, 0usize);
    for p in probes() {
        let h = host_data(p.case, &mut StdRng::seed_from_u64(p.seed));
        let nd = p.case.n as usize / 2;
        let name = format!("{} (seed {})", p.kernel, p.seed);
        let mut problems = Vec::new();
        let want = p.expected(&h.want, &h.cin);
        match sim_run(&m, p.kernel, &h, p.last_param()) {
            Err(e) => problems.push(format!("ptxsim: {e}")),
            Ok(s) => {
                if let Some(d) = diff(&s, &want, nd) {
                    problems.push(format!("ptxsim vs reference: {d}"));
                }
                if let Some((stream, module)) = &gpu {
                    match gpu_run(stream, module, p.kernel, &h, p.last_param()) {
                        Err(e) => problems.push(format!("gpu: {e}")),
                        Ok(g) => {
                            if let Some(d) = diff(&g, &want, nd) {
                                problems
                                    .push(format!("GPU vs reference: {d} (REFUTES: {})", p.fact));
                            }
                            if let Some(d) = diff(&g, &s, nd) {
                                problems.push(format!("GPU vs ptxsim: {d}"));
                            }
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            ok += 1;
            let side = if gpu.is_some() {
                "GPU = ptxsim = reference: confirms"
            } else {
                "ptxsim = reference (GPU not run):"
            };
            println!("ok   {name}: {side} {}", p.fact);
        } else {
            failed += 1;
            println!("FAIL {name}: {}", problems.join("; "));
        }
    }
    println!(
        "wgmma probes: {ok} ok, {failed} failed{}",
        if gpu.is_none() {
            " (ptxsim side only)"
        } else {
            ""
        }
    );
    if gpu.is_none() && !sim_only {
        println!("skipped: the GPU side needs an sm_90 device");
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The stream and module for the probes, or None (with a line saying why) on a device
/// that cannot run sm_90a code.
fn gpu_setup(ctx: &Arc<CudaContext>) -> Result<Option<Gpu>, String> {
    use cudarc::driver::sys::CUdevice_attribute as A;
    let e = |e: cudarc::driver::DriverError| e.to_string();
    let major = ctx
        .attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
        .map_err(e)?;
    let minor = ctx
        .attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
        .map_err(e)?;
    if (major, minor) != (9, 0) {
        println!("skipped (GPU side): the probes are sm_90a code, the device is sm_{major}{minor}");
        return Ok(None);
    }
    let module = ctx
        .load_module(cudarc::nvrtc::Ptx::from_src(PTX))
        .map_err(e)?;
    let stream = ctx.new_stream().map_err(e)?;
    Ok(Some((stream, module)))
}
