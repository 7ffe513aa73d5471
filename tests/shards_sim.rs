//! Tensor-parallel shards on the PTX emulator: one column-parallel and one
//! row-parallel split of a small bf16 layer, each shard uploaded and run like any
//! layer (`DeviceLinear` on a `StreamRuntime` over `SimExecutor`); the shards'
//! outputs, concatenated or summed, match the whole layer's f64 reference within
//! the DESIGN.md tolerances (bf16 output ≤ 1e-2, f32 output ≤ 1e-4).
#![cfg(feature = "sim")]

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::launch::Executor;
use sparse24::linear::device::{DeviceLinear, StreamRuntime};
use sparse24::linear::{Pruning, SparseLinear};
use sparse24::ops::gemm::{output_to_f32, DeviceSlice};
use sparse24::reference::rel_error;
use sparse24::sim::SimExecutor;
use sparse24::{bf16, Activation, DType};

fn random(rng: &mut StdRng, n: usize) -> Vec<bf16> {
    (0..n)
        .map(|_| bf16::from_f32(rng.gen_range(-1.0f32..1.0)))
        .collect()
}

/// One forward of `layer` on a fresh emulated device, Y widened to f64.
fn forward_sim(
    layer: &SparseLinear<bf16>,
    x: &[bf16],
    tokens: usize,
    c: Option<&[bf16]>,
) -> Vec<f64> {
    let exec = SimExecutor::new();
    let dev = DeviceLinear::upload(&exec, layer).unwrap();
    let rt = StreamRuntime::new(exec);
    let exec = rt.executor();
    let xb = exec.upload(x).unwrap();
    let cb = c.map(|c| exec.upload(c).unwrap());
    let y_len = tokens * layer.out_features();
    let size = layer.output_dtype().size();
    let yb = exec.alloc_zeroed(y_len * size).unwrap();
    let slice = |b, len| DeviceSlice {
        ptr: exec.ptr(b),
        len,
    };
    let cs = cb.as_ref().map(|b| slice(b, y_len));
    rt.forward(&dev, tokens, slice(&xb, x.len()), slice(&yb, y_len), cs)
        .unwrap();
    let bytes = exec.download_bytes(&yb).unwrap();
    output_to_f32(&bytes, layer.output_dtype())
        .into_iter()
        .map(f64::from)
        .collect()
}

fn columns(m: &[bf16], width: usize, cols: std::ops::Range<usize>) -> Vec<bf16> {
    m.chunks_exact(width)
        .flat_map(|row| row[cols.clone()].iter().copied())
        .collect()
}

fn layer(rng: &mut StdRng, out: usize, inn: usize) -> SparseLinear<bf16> {
    let w = random(rng, out * inn);
    SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)
        .unwrap()
        .with_bias(random(rng, out))
        .unwrap()
        .with_alpha(0.75)
        .with_residual(0.5)
}

/// Output rows 0..16 and 16..40 of a GELU layer, bf16 out, with the residual: each
/// shard gets its columns of C; the concatenation is the layer.
#[test]
fn column_parallel_shards_concatenate_on_ptxsim() {
    let mut rng = StdRng::seed_from_u64(16);
    let (out, inn, tokens) = (40, 256, 3);
    let whole = layer(&mut rng, out, inn).with_activation(Activation::GeluErf);
    let bounds = [0, 16, out];
    let shards = whole.column_parallel_at(&bounds).unwrap();
    let x = random(&mut rng, tokens * inn);
    let c = random(&mut rng, tokens * out);
    let mut joined = vec![0f64; tokens * out];
    for (shard, f) in shards.iter().zip(bounds.windows(2)) {
        let y = forward_sim(shard, &x, tokens, Some(&columns(&c, out, f[0]..f[1])));
        let width = f[1] - f[0];
        for t in 0..tokens {
            joined[t * out + f[0]..t * out + f[1]].copy_from_slice(&y[t * width..(t + 1) * width]);
        }
    }
    let reference = whole.forward_f64_with(&x, tokens, Some(&c)).unwrap();
    let err = rel_error(&joined, &reference);
    assert!(err <= 1e-2, "rel error {err}");
}

/// Input columns 0..256 and 256..512, f32 partial sums: shard 0 adds bias and
/// residual, the sum is the layer.
#[test]
fn row_parallel_shards_sum_on_ptxsim() {
    let mut rng = StdRng::seed_from_u64(17);
    let (out, inn, tokens) = (24, 512, 2);
    let whole = layer(&mut rng, out, inn).with_output_dtype(DType::F32);
    let bounds = [0, 256, inn];
    let shards = whole.row_parallel_at(&bounds).unwrap();
    let x = random(&mut rng, tokens * inn);
    let c = random(&mut rng, tokens * out);
    let mut sum = vec![0f64; tokens * out];
    for (i, (shard, f)) in shards.iter().zip(bounds.windows(2)).enumerate() {
        let xs = columns(&x, inn, f[0]..f[1]);
        let y = forward_sim(shard, &xs, tokens, (i == 0).then_some(c.as_slice()));
        for (s, v) in sum.iter_mut().zip(y) {
            *s += v;
        }
    }
    let reference = whole.forward_f64_with(&x, tokens, Some(&c)).unwrap();
    let err = rel_error(&sum, &reference);
    assert!(err <= 1e-4, "rel error {err}");
}
