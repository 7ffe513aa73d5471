//! The engine-facing GPU API (the GPU twins of tests/engine_memory.rs and
//! tests/linear_engine_sim.rs): one module load per context and one workspace per
//! stream for a stack of layers on two streams, the whole epilogue on views into an
//! arena (odd offsets staged), the raw-pointer forward on the caller's `CUstream`,
//! and layers on every device (another device's stream is an error).

use super::GpuTest;
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};
use libtest_mimic::Failed;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::launch::Executor;
use sparse24::linear::gpu::{release_raw_stream, release_stream, reserve, stream_runtime};
use sparse24::linear::{Pruning, SparseLinear};
use sparse24::reference::rel_error;
use sparse24::{bf16, Activation, DType, Element, Error};

pub fn tests() -> Vec<(&'static str, GpuTest)> {
    vec![
        ("engine_shared_module_and_workspace", shared),
        ("engine_epilogue_on_views", views),
        ("engine_forward_raw", raw),
        ("engine_every_device", devices),
    ]
}

fn random<T: Element>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f32(rng.gen_range(-1.0f32..1.0)))
        .collect()
}

fn layer(rng: &mut StdRng, out: usize, inn: usize) -> Result<SparseLinear<bf16>, Error> {
    let w: Vec<bf16> = random(rng, out * inn);
    Ok(SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)?
        .with_bias(random(rng, out))?
        .with_activation(Activation::Gelu))
}

fn check(got: &[f64], reference: &[f64], tol: f64, what: &str) -> Result<(), Failed> {
    let err = rel_error(got, reference);
    if err > tol {
        return Err(format!("{what}: rel error {err} > {tol}").into());
    }
    Ok(())
}

fn shared() -> Result<(), Failed> {
    let ctx = sparse24::cuda::context()?;
    let streams = [
        ctx.new_stream().map_err(Error::from)?,
        ctx.new_stream().map_err(Error::from)?,
    ];
    let mut rng = StdRng::seed_from_u64(5);
    let layers: Vec<SparseLinear<bf16>> = (0..16)
        .map(|i| layer(&mut rng, 256 + 64 * (i % 3), 1024))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&SparseLinear<bf16>> = layers.iter().collect();
    for s in &streams {
        let bytes = reserve(s, &refs, 16)?;
        let rt = stream_runtime(s)?;
        if rt.workspace_bytes() != bytes || bytes == 0 {
            return Err(format!(
                "reserve returned {bytes}, the stream holds {}",
                rt.workspace_bytes()
            )
            .into());
        }
    }
    for (i, l) in layers.iter().enumerate() {
        let s = &streams[i % 2];
        for tokens in [1usize, 5, 16] {
            let x: Vec<bf16> = random(&mut rng, tokens * 1024);
            let xd = s.clone_htod(&x).map_err(Error::from)?;
            let mut yd = s
                .alloc_zeros::<bf16>(tokens * l.out_features())
                .map_err(Error::from)?;
            l.forward_into(s, &xd, tokens, &mut yd)?;
            let y: Vec<bf16> = s.clone_dtoh(&yd).map_err(Error::from)?;
            let got: Vec<f64> = y.iter().map(|v| v.to_f64()).collect();
            check(&got, &l.forward_f64(&x, tokens)?, 1e-2, "stack layer")?;
        }
    }
    let (a, b) = (stream_runtime(&streams[0])?, stream_runtime(&streams[1])?);
    let loads = a.executor().module_loads();
    if loads != b.executor().module_loads() || loads == 0 || loads > 8 {
        return Err(format!(
            "the two streams' executors report {loads} and {} module loads (one cache per \
             context, one load per module expected)",
            b.executor().module_loads()
        )
        .into());
    }
    for s in &streams {
        if rt_bytes(s)? > a.workspace_bytes().max(b.workspace_bytes()) {
            return Err("a forward grew a reserved workspace".into());
        }
        release_stream(s);
    }
    Ok(())
}

fn rt_bytes(s: &std::sync::Arc<cudarc::driver::CudaStream>) -> Result<usize, Error> {
    Ok(stream_runtime(s)?.workspace_bytes())
}

/// alpha, beta·C, bias, SiLU, f32 output, on views at odd offsets of arenas.
fn views() -> Result<(), Failed> {
    let ctx = sparse24::cuda::context()?;
    let s = ctx.new_stream().map_err(Error::from)?;
    let mut rng = StdRng::seed_from_u64(6);
    let (out, inn) = (384, 1536);
    for output in [DType::F32, DType::BF16] {
        let l = layer(&mut rng, out, inn)?
            .with_activation(Activation::Silu)
            .with_alpha(0.5)
            .with_residual(0.75)
            .with_output_dtype(output);
        for (tokens, off) in [(3usize, 1usize), (40, 8), (40, 3)] {
            let x: Vec<bf16> = random(&mut rng, tokens * inn);
            let c: Vec<bf16> = random(&mut rng, tokens * out);
            let mut xa = vec![bf16::ZERO; off];
            xa.extend_from_slice(&x);
            let mut ca = vec![bf16::ZERO; off];
            ca.extend_from_slice(&c);
            let xd = s.clone_htod(&xa).map_err(Error::from)?;
            let cd = s.clone_htod(&ca).map_err(Error::from)?;
            let xv = xd.slice(off..);
            let cv = cd.slice(off..);
            let n = tokens * out;
            let got: Vec<f64> = match output {
                DType::F32 => {
                    let mut yd: CudaSlice<f32> = s.alloc_zeros(n + off).map_err(Error::from)?;
                    let mut yv = yd.slice_mut(off..);
                    l.forward_with(&s, &xv, tokens, &mut yv, Some(&cv))?;
                    let y: Vec<f32> = s.clone_dtoh(&yd).map_err(Error::from)?;
                    y[off..].iter().map(|&v| v as f64).collect()
                }
                _ => {
                    let mut yd: CudaSlice<bf16> = s.alloc_zeros(n + off).map_err(Error::from)?;
                    let mut yv = yd.slice_mut(off..);
                    l.forward_with(&s, &xv, tokens, &mut yv, Some(&cv))?;
                    let y: Vec<bf16> = s.clone_dtoh(&yd).map_err(Error::from)?;
                    y[off..].iter().map(|v| v.to_f64()).collect()
                }
            };
            let tol = if output == DType::F32 { 1e-4 } else { 1e-2 };
            check(
                &got,
                &l.forward_f64_with(&x, tokens, Some(&c))?,
                tol,
                &format!("{output:?} out, {tokens} tokens, offset {off}"),
            )?;
        }
    }
    release_stream(&s);
    Ok(())
}

fn raw() -> Result<(), Failed> {
    let ctx = sparse24::cuda::context()?;
    let s = ctx.new_stream().map_err(Error::from)?;
    let mut rng = StdRng::seed_from_u64(7);
    let (out, inn, tokens) = (256, 1024, 7);
    let l = layer(&mut rng, out, inn)?;
    l.to_device(&s)?;
    let x: Vec<bf16> = random(&mut rng, tokens * inn);
    let xd = s.clone_htod(&x).map_err(Error::from)?;
    let mut yd = s.alloc_zeros::<bf16>(tokens * out).map_err(Error::from)?;
    {
        let (xp, _gx) = xd.device_ptr(&s);
        let (yp, _gy) = yd.device_ptr_mut(&s);
        // SAFETY: X and Y are live allocations of the layer's context with the
        // lengths the forward reads and writes, ordered on `s` (their guards live
        // until after the enqueue); `s` outlives the call and is released below.
        unsafe { l.forward_raw(s.cu_stream(), xp, yp, None, tokens) }?;
    }
    let y: Vec<bf16> = s.clone_dtoh(&yd).map_err(Error::from)?;
    let got: Vec<f64> = y.iter().map(|v| v.to_f64()).collect();
    check(&got, &l.forward_f64(&x, tokens)?, 1e-2, "forward_raw")?;
    if !release_raw_stream(&ctx, s.cu_stream()) {
        return Err("forward_raw left no stream state to release".into());
    }
    Ok(())
}

/// Each device runs its own layer; a layer refuses another device's stream.
fn devices() -> Result<(), Failed> {
    let n = sparse24::cuda::device_count();
    let mut rng = StdRng::seed_from_u64(8);
    let (out, inn, tokens) = (128, 512, 2);
    let mut layers = Vec::new();
    for d in 0..n {
        let Ok(ctx) = sparse24::cuda::context_on(d) else {
            continue;
        };
        let s = ctx.default_stream();
        let l = layer(&mut rng, out, inn)?;
        let x: Vec<bf16> = random(&mut rng, tokens * inn);
        let xd = s.clone_htod(&x).map_err(Error::from)?;
        let y: Vec<bf16> = s
            .clone_dtoh(&l.forward(&s, &xd, tokens)?)
            .map_err(Error::from)?;
        let got: Vec<f64> = y.iter().map(|v| v.to_f64()).collect();
        check(
            &got,
            &l.forward_f64(&x, tokens)?,
            1e-2,
            &format!("device {d}"),
        )?;
        if l.device_ordinal() != Some(d) {
            return Err(
                format!("the layer reports device {:?}, not {d}", l.device_ordinal()).into(),
            );
        }
        layers.push((l, s));
    }
    if layers.len() >= 2 {
        let (l0, _) = &layers[0];
        let (_, s1) = &layers[1];
        let xd = s1.alloc_zeros::<bf16>(tokens * inn).map_err(Error::from)?;
        if !matches!(
            l0.forward(s1, &xd, tokens),
            Err(Error::InvalidArgument { what: "stream", .. })
        ) {
            return Err("a stream of another device was not refused".into());
        }
    }
    if sparse24::cuda::context_on(n).is_ok() {
        return Err(format!("device {n} (past the last) gave a context").into());
    }
    Ok(())
}
