//! The whole epilogue and engine-held buffers of a `SparseLinear`, on the PTX
//! emulator through the executor-generic core (`DeviceLinear` on a `StreamRuntime`
//! over `SimExecutor`), against the f64 reference (`forward_f64_with`) with the
//! project's tolerances by output dtype (relative Frobenius: bf16 ≤ 1e-2,
//! f16 ≤ 2e-3, f32 ≤ 1e-4), and against the CPU forward (`forward_cpu_with`).

use rand::{rngs::StdRng, Rng, SeedableRng};
use sparse24::launch::Executor;
use sparse24::linear::device::{DeviceLinear, StreamRuntime};
use sparse24::linear::{Pruning, SparseLinear};
use sparse24::ops::gemm::{output_to_f32, DeviceSlice};
use sparse24::reference::rel_error;
use sparse24::sim::{SimBuffer, SimExecutor};
use sparse24::{bf16, f16, Activation, DType, Element};

fn random<T: Element>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f32(rng.gen_range(-1.0f32..1.0)))
        .collect()
}

fn tolerance(out: DType) -> f64 {
    match out {
        DType::BF16 => 1e-2,
        DType::F16 => 2e-3,
        DType::F32 => 1e-4,
    }
}

fn layer<T: Element>(rng: &mut StdRng, out: usize, inn: usize, output: DType) -> SparseLinear<T> {
    let w: Vec<T> = random(rng, out * inn);
    SparseLinear::from_dense(&w, out, inn, Pruning::Magnitude)
        .unwrap()
        .with_bias(random(rng, out))
        .unwrap()
        .with_activation(Activation::Silu)
        .with_alpha(0.5)
        .with_residual(0.75)
        .with_output_dtype(output)
}

/// Uploads `data` at element offset `offset` of a fresh allocation (a view into an
/// arena); returns the allocation and the view.
fn at_offset<T: Element>(
    exec: &SimExecutor,
    data: &[T],
    offset: usize,
) -> (SimBuffer, DeviceSlice) {
    let mut padded = vec![T::default(); offset];
    padded.extend_from_slice(data);
    let buf = exec.upload(&padded).unwrap();
    let ptr = exec.ptr(&buf) + (offset * std::mem::size_of::<T>()) as u64;
    (
        buf,
        DeviceSlice {
            ptr,
            len: data.len(),
        },
    )
}

/// Runs one forward with X, Y and C at element offsets; returns Y as f32.
#[allow(clippy::too_many_arguments)]
fn run<T: Element>(
    exec: &SimExecutor,
    rt: &StreamRuntime<SimExecutor>,
    dev: &DeviceLinear<SimExecutor, T>,
    x: &[T],
    c: &[T],
    tokens: usize,
    offsets: [usize; 3],
) -> Vec<f32> {
    let out_dtype = dev.output_dtype();
    let y_len = tokens * dev.out_features();
    let (_xb, xs) = at_offset(exec, x, offsets[0]);
    let (_cb, cs) = at_offset(exec, c, offsets[2]);
    let yb = exec
        .alloc_zeroed((offsets[1] + y_len) * out_dtype.size())
        .unwrap();
    let ys = DeviceSlice {
        ptr: exec.ptr(&yb) + (offsets[1] * out_dtype.size()) as u64,
        len: y_len,
    };
    rt.forward(dev, tokens, xs, ys, Some(cs)).unwrap();
    let bytes = exec.download_bytes(&yb).unwrap();
    output_to_f32(&bytes[offsets[1] * out_dtype.size()..], out_dtype)
}

fn cpu_as_f32<T: Element>(l: &SparseLinear<T>, x: &[T], c: &[T], tokens: usize) -> Vec<f32> {
    fn widen<T: Element, O: Element>(l: &SparseLinear<T>, x: &[T], c: &[T], t: usize) -> Vec<f32> {
        let y: Vec<O> = l.forward_cpu_with(x, t, Some(c)).unwrap();
        y.iter().map(|v| v.to_f32()).collect()
    }
    match l.output_dtype() {
        DType::F32 => widen::<T, f32>(l, x, c, tokens),
        DType::F16 => widen::<T, f16>(l, x, c, tokens),
        DType::BF16 => widen::<T, bf16>(l, x, c, tokens),
    }
}

fn epilogue_case<T: Element>(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    // (64, 1024) at 1 and 3 tokens splits K (decode); 20 tokens is a prefill tile.
    let (out, inn) = (64, 1024);
    for output in [DType::F32, DType::F16, DType::BF16] {
        let lin = layer::<T>(&mut rng, out, inn, output);
        let exec = SimExecutor::new();
        let dev = DeviceLinear::upload(&exec, &lin).unwrap();
        let rt = StreamRuntime::new(exec);
        let exec = rt.executor();
        for tokens in [1usize, 3, 20] {
            let x: Vec<T> = random(&mut rng, tokens * inn);
            let c: Vec<T> = random(&mut rng, tokens * out);
            let got = run(exec, &rt, &dev, &x, &c, tokens, [0, 0, 0]);
            let reference = lin.forward_f64_with(&x, tokens, Some(&c)).unwrap();
            let got64: Vec<f64> = got.iter().map(|&v| v as f64).collect();
            let err = rel_error(&got64, &reference);
            let tol = tolerance(output);
            assert!(
                err <= tol,
                "{:?} -> {output:?}, {tokens} tokens: rel error {err} > {tol}",
                T::DTYPE
            );
            let cpu: Vec<f64> = cpu_as_f32(&lin, &x, &c, tokens)
                .iter()
                .map(|&v| v as f64)
                .collect();
            assert!(rel_error(&cpu, &reference) <= tol);
        }
    }
}

#[test]
fn bf16_layer_whole_epilogue_every_output_dtype() {
    epilogue_case::<bf16>(1);
}

#[test]
fn f16_layer_whole_epilogue_every_output_dtype() {
    epilogue_case::<f16>(2);
}

/// X at an odd element offset (2-byte aligned: staged into the aligned scratch),
/// Y and C at odd offsets (read and written in place): the same bits as aligned
/// buffers.
#[test]
fn views_at_odd_offsets_match_aligned_buffers() {
    let mut rng = StdRng::seed_from_u64(9);
    let (out, inn) = (64, 1024);
    let lin = layer::<bf16>(&mut rng, out, inn, DType::BF16);
    let exec = SimExecutor::new();
    let dev = DeviceLinear::upload(&exec, &lin).unwrap();
    let rt = StreamRuntime::new(exec);
    let exec = rt.executor();
    for tokens in [3usize, 20] {
        let x: Vec<bf16> = random(&mut rng, tokens * inn);
        let c: Vec<bf16> = random(&mut rng, tokens * out);
        let before = rt.staging_bytes();
        let aligned = run(exec, &rt, &dev, &x, &c, tokens, [0, 0, 0]);
        assert_eq!(rt.staging_bytes(), before, "an aligned X was staged");
        let odd = run(exec, &rt, &dev, &x, &c, tokens, [1, 3, 5]);
        assert_eq!(rt.staging_bytes(), tokens * inn * 2);
        assert_eq!(aligned, odd, "{tokens} tokens");
        // 16-byte-aligned views (offset 8 elements) are read in place.
        let staged = rt.staging_bytes();
        let view = run(exec, &rt, &dev, &x, &c, tokens, [8, 8, 8]);
        assert_eq!(aligned, view);
        assert_eq!(rt.staging_bytes(), staged);
    }
}

/// A layer on an emulated H100 (compute capability 9.0): from 64 tokens on its plan is
/// the Hopper kernel (wgmma.sp, split-K where its tiles do not fill the SMs), below it
/// the sm_90 bulk-copy decode tile (split-K across a thread-block cluster); both with the whole epilogue against the f64 reference, X
/// at an odd offset (staged to the 16-byte alignment the bulk tensor copy needs) too.
#[test]
fn layer_on_an_emulated_h100_runs_the_hopper_kernel() {
    use sparse24::ops::gemm::GemmConfig;
    let mut rng = StdRng::seed_from_u64(12);
    let (out, inn) = (72, 1024);
    let lin = layer::<bf16>(&mut rng, out, inn, DType::F32);
    let exec = SimExecutor::new().with_compute_capability((9, 0));
    let dev = DeviceLinear::upload(&exec, &lin).unwrap();
    assert_eq!(dev.gemm_device().compute_capability, (9, 0));
    let rt = StreamRuntime::new(exec);
    let exec = rt.executor();
    for (tokens, want) in [
        (70usize, GemmConfig::Wgmma256x128),
        (3, GemmConfig::Decode16Sm90),
    ] {
        let plan = *dev.launch_for(tokens).unwrap().plan();
        assert_eq!(plan.config, want, "{tokens} tokens");
        let x: Vec<bf16> = random(&mut rng, tokens * inn);
        let c: Vec<bf16> = random(&mut rng, tokens * out);
        let reference = lin.forward_f64_with(&x, tokens, Some(&c)).unwrap();
        for offsets in [[0, 0, 0], [1, 3, 5]] {
            let got = run(exec, &rt, &dev, &x, &c, tokens, offsets);
            let got64: Vec<f64> = got.iter().map(|&v| v as f64).collect();
            let err = rel_error(&got64, &reference);
            assert!(
                err <= tolerance(DType::F32),
                "{tokens} tokens, offsets {offsets:?}, plan {plan:?}: rel error {err}"
            );
        }
    }
}
