//! The op on CUDA tensors (the `cuda` feature): sparse24's kernels on candle's stream
//! against the same layer's f64 reference, for bf16 and f16 layers, an f32 output,
//! batched inputs and an input view at an offset that is not 16-byte aligned (which
//! sparse24 stages). Reported as skipped without a CUDA device.

use candle_core::{DType, Device, Module, Tensor};
use sparse24::linear::{Pruning, SparseLinear as Sparse24Linear};
use sparse24::reference::rel_error;
use sparse24::{bf16, f16, Activation, Element};
use sparse24_candle::SparseLinear;

fn device() -> Option<Device> {
    match Device::new_cuda(0) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            None
        }
    }
}

/// Deterministic values in [-2, 2) (a 32-bit LCG).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
        })
        .collect()
}

fn f64s(t: &Tensor) -> Vec<f64> {
    t.to_device(&Device::Cpu)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn check<T>(dev: &Device, output: sparse24::DType, act: Activation)
where
    T: Element + candle_core::WithDType,
    sparse24_candle::AnyLinear: From<Sparse24Linear<T>>,
{
    let (out, inn) = (96, 256);
    let w: Vec<T> = values(out * inn, 1).into_iter().map(T::from_f32).collect();
    let b: Vec<T> = values(out, 2).into_iter().map(T::from_f32).collect();
    let layer = Sparse24Linear::from_dense(&w, out, inn, Pruning::Magnitude)
        .unwrap()
        .with_bias(b)
        .unwrap()
        .with_activation(act)
        .with_output_dtype(output);
    let l = SparseLinear::new(layer).unwrap();
    let dtype = l.dtype();
    for (lead, offset) in [
        (vec![1usize], 0usize),
        (vec![3, 7], 0),
        (vec![2, 40], 1),
        (vec![130], 3),
    ] {
        let tokens: usize = lead.iter().product();
        let host: Vec<f32> = values(offset + tokens * inn, 3);
        // A view `offset` elements into a larger buffer: misaligned for offset > 0.
        let all = Tensor::from_vec(host, offset + tokens * inn, dev)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let mut dims = lead.clone();
        dims.push(inn);
        let x = all
            .narrow(0, offset, tokens * inn)
            .unwrap()
            .reshape(dims)
            .unwrap();
        let y = l.forward(&x).unwrap();
        assert_eq!(y.dtype(), sparse24_candle::candle_dtype(output));
        let xs: Vec<T> = x
            .to_device(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let reference = match l.layer() {
            sparse24_candle::AnyLinear::BF16(s) => s.forward_f64(bytemuck::cast_slice(&xs), tokens),
            sparse24_candle::AnyLinear::F16(s) => s.forward_f64(bytemuck::cast_slice(&xs), tokens),
            sparse24_candle::AnyLinear::F32(_) => unreachable!("the GPU layers are f16/bf16"),
        }
        .unwrap();
        let e = rel_error(&f64s(&y), &reference);
        assert!(
            e <= 1e-2,
            "{:?} layer, {lead:?} rows at offset {offset}: rel error {e}",
            <T as Element>::DTYPE
        );
        // The CPU path of the same layer agrees too.
        let y_cpu = l.forward(&x.to_device(&Device::Cpu).unwrap()).unwrap();
        let e = rel_error(&f64s(&y), &f64s(&y_cpu));
        assert!(e <= 1e-2, "GPU vs CPU op: {e}");
    }
}

#[test]
fn kernels_on_candles_stream_match_the_reference() {
    let Some(dev) = device() else { return };
    check::<bf16>(&dev, sparse24::DType::BF16, Activation::GeluErf);
    check::<bf16>(&dev, sparse24::DType::F32, Activation::None);
    check::<f16>(&dev, sparse24::DType::F16, Activation::Relu);
}

#[test]
fn f32_layers_say_how_to_run_on_the_gpu() {
    let Some(dev) = device() else { return };
    let w = Tensor::ones((16, 32), DType::F32, &Device::Cpu).unwrap();
    let l = SparseLinear::prune(&w, None, Pruning::Magnitude, Activation::None).unwrap();
    let x = Tensor::ones((2, 32), DType::F32, &dev).unwrap();
    let e = l.forward(&x).unwrap_err().to_string();
    assert!(e.contains("to_dtype"), "{e}");
    let y = l
        .to_dtype(DType::BF16)
        .unwrap()
        .forward(&x.to_dtype(DType::BF16).unwrap())
        .unwrap();
    assert_eq!(y.dims(), &[2, 16]);
}
