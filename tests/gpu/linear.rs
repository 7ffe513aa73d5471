//! `SparseLinear` on a GPU: forward and forward_into on the caller's stream against
//! the f64 reference, on two streams, with every token count class (decode with
//! split-K, prefill), plus typed errors for mismatched buffers and f32.

use super::GpuTest;
use libtest_mimic::Failed;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::linear::{Pruning, SparseLinear};
use sparse24::reference::rel_error;
use sparse24::{bf16, f16, Activation, Element, Error};

pub fn tests() -> Vec<(&'static str, GpuTest)> {
    vec![
        ("linear_bf16_forward", || run::<bf16>(1e-2)),
        ("linear_f16_forward", || run::<f16>(2e-3)),
        ("linear_errors", errors),
    ]
}

fn random<T: Element>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f32(rng.gen_range(-1.0f32..1.0)))
        .collect()
}

fn run<T: Element + cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    tol: f64,
) -> Result<(), Failed> {
    let ctx = sparse24::cuda::context()?;
    let s1 = ctx.new_stream().map_err(Error::from)?;
    let s2 = ctx.new_stream().map_err(Error::from)?;
    let mut rng = StdRng::seed_from_u64(17);
    for &(out, inn) in &[(96, 272), (384, 1536), (1536, 384)] {
        let w: Vec<T> = random(&mut rng, out * inn);
        let bias: Vec<T> = random(&mut rng, out);
        let layer = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)?
            .with_bias(bias)?
            .with_activation(Activation::Gelu);
        layer.to_device(&s1)?;
        for (i, &tokens) in [1usize, 7, 16, 17, 100].iter().enumerate() {
            let stream = if i % 2 == 0 { &s1 } else { &s2 };
            let x: Vec<T> = random(&mut rng, tokens * inn);
            let xd = stream.clone_htod(&x).map_err(Error::from)?;
            let yd = layer.forward(stream, &xd, tokens)?;
            let mut yd2 = stream.alloc_zeros::<T>(tokens * out).map_err(Error::from)?;
            layer.forward_into(stream, &xd, tokens, &mut yd2)?;
            let y: Vec<T> = stream.clone_dtoh(&yd).map_err(Error::from)?;
            let y2: Vec<T> = stream.clone_dtoh(&yd2).map_err(Error::from)?;
            if y != y2 {
                return Err(format!(
                    "{out}x{inn}, {tokens} tokens: forward and forward_into differ"
                )
                .into());
            }
            let reference = layer.forward_f64(&x, tokens)?;
            let got: Vec<f64> = y.iter().map(|v| v.to_f64()).collect();
            let err = rel_error(&got, &reference);
            if err > tol {
                return Err(
                    format!("{out}x{inn}, {tokens} tokens: rel error {err} > {tol}").into(),
                );
            }
        }
    }
    Ok(())
}

fn errors() -> Result<(), Failed> {
    let ctx = sparse24::cuda::context()?;
    let stream = ctx.default_stream();
    let mut rng = StdRng::seed_from_u64(3);
    let (out, inn) = (32, 64);
    let w: Vec<bf16> = random(&mut rng, out * inn);
    let layer = SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)?;
    let x = stream
        .alloc_zeros::<bf16>(2 * inn + 1)
        .map_err(Error::from)?;
    if !matches!(
        layer.forward(&stream, &x, 2),
        Err(Error::Length { what: "X", .. })
    ) {
        return Err("a short X was not a Length error".into());
    }
    let x = stream.alloc_zeros::<bf16>(2 * inn).map_err(Error::from)?;
    let mut y = stream
        .alloc_zeros::<bf16>(2 * out - 1)
        .map_err(Error::from)?;
    if !matches!(
        layer.forward_into(&stream, &x, 2, &mut y),
        Err(Error::Length { what: "Y", .. })
    ) {
        return Err("a short Y was not a Length error".into());
    }
    let wf: Vec<f32> = random(&mut rng, out * inn);
    let lf = SparseLinear::from_dense(&wf, out, inn, Pruning::Magnitude)?;
    let xf = stream.alloc_zeros::<f32>(2 * inn).map_err(Error::from)?;
    if !matches!(
        lf.forward(&stream, &xf, 2),
        Err(Error::InvalidArgument { what: "dtype", .. })
    ) {
        return Err("an f32 layer was not a dtype error".into());
    }
    Ok(())
}
