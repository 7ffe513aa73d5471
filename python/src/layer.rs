//! `Layer`: a `SparseLinear` of any float type behind one Python class, built from a
//! dense torch weight (already 2:4, or pruned here), from PyTorch's CUTLASS pair or a
//! sparse24 file, and run on the CPU path or on torch's CUDA stream.

use crate::tensor::{Device, FloatScalar, Scalar, TensorView};
use crate::to_py;
use pyo3::prelude::*;
use sparse24::error::{Error, Result};
use sparse24::io::torch::{from_torch, to_torch, TorchCutlass};
use sparse24::io::AnySparse24;
use sparse24::linear::{Pruning, SparseLinear};
use sparse24::{bf16, f16, prune, Activation, DType, Mask24, Sparse24};

/// A layer of one of the three float types.
pub enum AnyLinear {
    /// f32 (CPU path only).
    F32(SparseLinear<f32>),
    /// f16.
    F16(SparseLinear<f16>),
    /// bf16.
    BF16(SparseLinear<bf16>),
}

/// Runs `$body` with `$l` bound to the typed layer and `$t` to its element type.
macro_rules! dispatch {
    ($any:expr, $l:ident, $t:ident => $body:expr) => {
        match $any {
            AnyLinear::F32($l) => {
                #[allow(dead_code)]
                type $t = f32;
                $body
            }
            AnyLinear::F16($l) => {
                #[allow(dead_code)]
                type $t = ::sparse24::f16;
                $body
            }
            AnyLinear::BF16($l) => {
                #[allow(dead_code)]
                type $t = ::sparse24::bf16;
                $body
            }
        }
    };
}

/// Runs `$body` with `$t` bound to the element type of `$dtype`.
macro_rules! by_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            ::sparse24::DType::F32 => {
                type $t = f32;
                $body
            }
            ::sparse24::DType::F16 => {
                type $t = ::sparse24::f16;
                $body
            }
            ::sparse24::DType::BF16 => {
                type $t = ::sparse24::bf16;
                $body
            }
        }
    };
}
pub(crate) use by_dtype;

trait Wrap: FloatScalar {
    fn wrap_layer(l: SparseLinear<Self>) -> AnyLinear;
}
impl Wrap for f32 {
    fn wrap_layer(l: SparseLinear<f32>) -> AnyLinear {
        AnyLinear::F32(l)
    }
}
impl Wrap for f16 {
    fn wrap_layer(l: SparseLinear<f16>) -> AnyLinear {
        AnyLinear::F16(l)
    }
}
impl Wrap for bf16 {
    fn wrap_layer(l: SparseLinear<bf16>) -> AnyLinear {
        AnyLinear::BF16(l)
    }
}

/// torch's names of the activations: "gelu" is the exact one (torch's default),
/// "gelu_tanh" the tanh approximation (`approximate="tanh"`).
const ACTIVATIONS: [(&str, Activation); 5] = [
    ("none", Activation::None),
    ("relu", Activation::Relu),
    ("gelu", Activation::GeluErf),
    ("gelu_tanh", Activation::Gelu),
    ("silu", Activation::Silu),
];

fn parse_activation(name: &str) -> Result<Activation> {
    ACTIVATIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, a)| a)
        .ok_or_else(|| Error::InvalidArgument {
            what: "activation",
            why: format!(
                "unknown activation {name:?}; one of {:?}",
                ACTIVATIONS.map(|(n, _)| n)
            ),
        })
}

fn activation_name(a: Activation) -> &'static str {
    ACTIVATIONS
        .iter()
        .find(|(_, b)| *b == a)
        .map_or("none", |(n, _)| n)
}

/// The 2:4 mask of dense `w` [out, in] by `method` ("magnitude" or "wanda", the
/// latter with `act_norms` [in] f32).
pub fn mask_of<T: FloatScalar>(
    w: &[T],
    out: usize,
    inn: usize,
    method: &str,
    act_norms: Option<&TensorView>,
) -> Result<Mask24> {
    match (method, act_norms) {
        ("magnitude", None) => prune::magnitude_mask(w, out, inn),
        ("wanda", Some(n)) => {
            n.shape_is(&[inn])?;
            // SAFETY: the tensor is held by the caller for the whole call (GIL held).
            let norms = unsafe { n.host::<f32>()? };
            prune::wanda_mask(w, out, inn, norms)
        }
        ("wanda", None) => Err(Error::InvalidArgument {
            what: "act_norms",
            why: "method \"wanda\" needs act_norms (the input channels' L2 norms, [in] f32)".into(),
        }),
        ("magnitude", Some(_)) => Err(Error::InvalidArgument {
            what: "act_norms",
            why: "method \"magnitude\" takes no act_norms (did you mean method=\"wanda\"?)".into(),
        }),
        (m, _) => Err(Error::InvalidArgument {
            what: "method",
            why: format!("unknown pruning method {m:?}; one of [\"magnitude\", \"wanda\"]"),
        }),
    }
}

/// A compressed 2:4 linear layer `Y = act(X·Wᵀ + bias)` (sparse24's `SparseLinear`).
#[pyclass(frozen, module = "sparse24._sparse24")]
pub struct Layer {
    inner: AnyLinear,
}

impl Layer {
    fn build<T: Wrap>(
        weight: Sparse24<T>,
        bias: Option<&Bound<'_, PyAny>>,
        activation: &str,
    ) -> PyResult<Layer> {
        let act = parse_activation(activation).map_err(to_py)?;
        let mut layer = SparseLinear::from_sparse(weight).with_activation(act);
        if let Some(b) = bias {
            let v = TensorView::read("bias", b)?;
            let values = (|| {
                v.shape_is(&[layer.out_features()])?;
                // SAFETY: `b` is borrowed for this call, the GIL is held.
                Ok::<_, Error>(unsafe { v.host::<T>()? }.to_vec())
            })()
            .map_err(to_py)?;
            layer = layer.with_bias(values).map_err(to_py)?;
        }
        Ok(Layer {
            inner: T::wrap_layer(layer),
        })
    }

    /// Wraps a loaded file layer.
    pub fn from_any(s: AnySparse24) -> Layer {
        Layer {
            inner: match s {
                AnySparse24::F32(s) => AnyLinear::F32(SparseLinear::from_sparse(s)),
                AnySparse24::F16(s) => AnyLinear::F16(SparseLinear::from_sparse(s)),
                AnySparse24::BF16(s) => AnyLinear::BF16(SparseLinear::from_sparse(s)),
            },
        }
    }

    /// The compressed weight, for files.
    pub fn to_any(&self) -> AnySparse24 {
        dispatch!(&self.inner, l, T => AnySparse24::from(l.weight().clone()))
    }

    fn dtype(&self) -> DType {
        dispatch!(&self.inner, _l, T => <T as sparse24::Element>::DTYPE)
    }
}

/// A dense weight [out, in] on the CPU, read without a copy.
fn dense<T: FloatScalar>(w: &TensorView) -> Result<(&[T], usize, usize)> {
    let [out, inn] = w.dims::<2>()?;
    // SAFETY: the caller holds the tensor for the call, GIL held.
    let data = unsafe { w.host::<T>()? };
    Ok((data, out, inn))
}

/// Compresses a dense weight that is already 2:4 (at most two nonzeros in every
/// group of four along `in`); a third nonzero is an error naming its row and group.
#[pyfunction]
#[pyo3(signature = (w, bias=None, activation="none"))]
pub fn compress(
    w: &Bound<'_, PyAny>,
    bias: Option<&Bound<'_, PyAny>>,
    activation: &str,
) -> PyResult<Layer> {
    let v = TensorView::read("w", w)?;
    by_dtype!(v.float().map_err(to_py)?, T => {
        let (data, out, inn) = dense::<T>(&v).map_err(to_py)?;
        Layer::build(Sparse24::compress(data, out, inn).map_err(to_py)?, bias, activation)
    })
}

/// Prunes a dense weight to 2:4 by `method` and compresses it.
#[pyfunction]
#[pyo3(signature = (w, method="magnitude", act_norms=None, bias=None, activation="none"))]
pub fn prune_compress(
    w: &Bound<'_, PyAny>,
    method: &str,
    act_norms: Option<&Bound<'_, PyAny>>,
    bias: Option<&Bound<'_, PyAny>>,
    activation: &str,
) -> PyResult<Layer> {
    let v = TensorView::read("w", w)?;
    let norms = act_norms
        .map(|n| TensorView::read("act_norms", n))
        .transpose()?;
    by_dtype!(v.float().map_err(to_py)?, T => {
        let (data, out, inn) = dense::<T>(&v).map_err(to_py)?;
        let mask = mask_of(data, out, inn, method, norms.as_ref()).map_err(to_py)?;
        let layer = SparseLinear::from_dense(data, out, inn, Pruning::Mask(&mask)).map_err(to_py)?;
        Layer::build(layer.weight().clone(), bias, activation)
    })
}

/// Writes the 2:4 mask of `w` by `method` into `out` (torch.bool, [out, in]).
#[pyfunction]
#[pyo3(signature = (w, out, method="magnitude", act_norms=None))]
pub fn prune_mask(
    w: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    method: &str,
    act_norms: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let v = TensorView::read("w", w)?;
    let o = TensorView::read("out", out)?;
    let norms = act_norms
        .map(|n| TensorView::read("act_norms", n))
        .transpose()?;
    by_dtype!(v.float().map_err(to_py)?, T => {
        let (data, rows, cols) = dense::<T>(&v).map_err(to_py)?;
        let mask = mask_of(data, rows, cols, method, norms.as_ref()).map_err(to_py)?;
        write_mask(&mask, &o).map_err(to_py)
    })
}

/// Writes a mask as 0/1 bytes into a torch.bool tensor of its shape.
pub fn write_mask(mask: &Mask24, out: &TensorView) -> Result<()> {
    out.shape_is(&[mask.rows(), mask.cols()])?;
    // SAFETY: `out` was allocated by the Python caller for this call, GIL held.
    let dst = unsafe { out.host_mut::<u8>()? };
    for (d, keep) in dst.iter_mut().zip(mask.to_dense()) {
        *d = keep as u8;
    }
    Ok(())
}

/// Imports PyTorch's CUTLASS semi-structured pair (`packed` [M, K/2], `meta`
/// [M, K/16] int16), bit-exact with `sparse24::io::torch`.
#[pyfunction]
#[pyo3(signature = (packed, meta, bias=None, activation="none"))]
pub fn from_torch_semi_structured(
    packed: &Bound<'_, PyAny>,
    meta: &Bound<'_, PyAny>,
    bias: Option<&Bound<'_, PyAny>>,
    activation: &str,
) -> PyResult<Layer> {
    let p = TensorView::read("packed", packed)?;
    let m = TensorView::read("meta", meta)?;
    by_dtype!(p.float().map_err(to_py)?, T => {
        let t = (|| {
            let [rows, half] = p.dims::<2>()?;
            let cols = half.checked_mul(2).ok_or_else(|| Error::InvalidArgument {
                what: "packed",
                why: "K overflows".into(),
            })?;
            m.shape_is(&[rows, cols / sparse24::pattern::WORD_COLS])?;
            // SAFETY: both tensors are held by the caller for the call, GIL held.
            let (pv, mv) = unsafe { (p.host::<T>()?, m.host::<i16>()?) };
            from_torch(&TorchCutlass { rows, cols, packed: pv.to_vec(), meta: mv.to_vec() })
        })()
        .map_err(to_py)?;
        Layer::build(t, bias, activation)
    })
}

#[pymethods]
impl Layer {
    /// Output features (rows of W).
    #[getter]
    fn out_features(&self) -> usize {
        dispatch!(&self.inner, l, _T => l.out_features())
    }

    /// Input features (columns of W).
    #[getter]
    fn in_features(&self) -> usize {
        dispatch!(&self.inner, l, _T => l.in_features())
    }

    /// torch's name of the weight's dtype ("torch.bfloat16", ...).
    #[getter(dtype)]
    fn dtype_name(&self) -> &'static str {
        Scalar::Float(self.dtype()).torch_name()
    }

    /// The activation, by torch's name.
    #[getter]
    fn activation(&self) -> &'static str {
        dispatch!(&self.inner, l, _T => activation_name(l.activation()))
    }

    /// Whether the layer has a bias.
    #[getter]
    fn has_bias(&self) -> bool {
        dispatch!(&self.inner, l, _T => l.bias().is_some())
    }

    /// The CUDA device the weights were uploaded to (None before the first CUDA call).
    #[getter]
    fn device_index(&self) -> Option<usize> {
        dispatch!(&self.inner, l, _T => l.device_ordinal())
    }

    /// Bytes of the compressed weight (values and metadata).
    #[getter]
    fn weight_bytes(&self) -> usize {
        dispatch!(&self.inner, l, _T => l.weight().bytes())
    }

    /// The same weight with another bias and activation.
    #[pyo3(signature = (bias=None, activation="none"))]
    fn with_epilogue(&self, bias: Option<&Bound<'_, PyAny>>, activation: &str) -> PyResult<Layer> {
        dispatch!(&self.inner, l, T => Layer::build::<T>(l.weight().clone(), bias, activation))
    }

    /// Writes the dense (decompressed) weight into `out` ([out, in], the layer's dtype, CPU).
    fn decompress_into(&self, out: &Bound<'_, PyAny>) -> PyResult<()> {
        let o = TensorView::read("out", out)?;
        dispatch!(&self.inner, l, T => (|| {
            o.shape_is(&[l.out_features(), l.in_features()])?;
            // SAFETY: allocated by the caller for this call, GIL held.
            unsafe { o.host_mut::<T>()? }.copy_from_slice(&l.weight().decompress());
            Ok(())
        })().map_err(to_py))
    }

    /// Writes the bias into `out` ([out], the layer's dtype, CPU); an error without one.
    fn bias_into(&self, out: &Bound<'_, PyAny>) -> PyResult<()> {
        let o = TensorView::read("out", out)?;
        dispatch!(&self.inner, l, T => (|| {
            let b = l.bias().ok_or_else(|| Error::InvalidArgument {
                what: "bias",
                why: "the layer has no bias".into(),
            })?;
            o.shape_is(&[b.len()])?;
            // SAFETY: allocated by the caller for this call, GIL held.
            unsafe { o.host_mut::<T>()? }.copy_from_slice(b);
            Ok(())
        })().map_err(to_py))
    }

    /// Writes PyTorch's CUTLASS pair: `packed` [M, K/2] of the layer's dtype and
    /// `meta` [M, K/16] int16 (M and K multiples of 32), CPU tensors.
    fn to_torch_semi_structured(
        &self,
        packed: &Bound<'_, PyAny>,
        meta: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let p = TensorView::read("packed", packed)?;
        let m = TensorView::read("meta", meta)?;
        dispatch!(&self.inner, l, T => (|| {
            let t = to_torch(l.weight())?;
            p.shape_is(&[t.rows, t.cols / 2])?;
            m.shape_is(&[t.rows, t.cols / sparse24::pattern::WORD_COLS])?;
            // SAFETY: allocated by the caller for this call, GIL held.
            unsafe {
                p.host_mut::<T>()?.copy_from_slice(&t.packed);
                m.host_mut::<i16>()?.copy_from_slice(&t.meta);
            }
            Ok(())
        })().map_err(to_py))
    }

    /// `y = act(x·Wᵀ + bias)` on the CPU path: `x` [..., in] and `y` [..., out]
    /// contiguous CPU tensors of the layer's dtype (y allocated by the caller).
    fn forward_cpu(&self, x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>) -> PyResult<()> {
        let xv = TensorView::read("x", x)?;
        let yv = TensorView::read("y", y)?;
        dispatch!(&self.inner, l, T => (|| {
            let tokens = tokens_of(&xv, &yv, l.in_features(), l.out_features())?;
            // SAFETY: both held by the caller for the call, GIL held; y is its own
            // fresh allocation (no overlap with x).
            let xs = unsafe { xv.host::<T>()? };
            let ys = unsafe { yv.host_mut::<T>()? };
            // An empty batch has nothing to compute (sparse24 refuses 0 tokens).
            if tokens > 0 {
                ys.copy_from_slice(&l.forward_cpu(xs, tokens)?);
            }
            Ok(())
        })().map_err(to_py))
    }

    /// The same on a CUDA device, enqueued on `stream` (a `CUstream` address,
    /// torch's current stream): no host synchronisation, x read in place, y written
    /// in place. The first call uploads the weights to x's device.
    fn forward_cuda(
        &self,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        stream: usize,
    ) -> PyResult<()> {
        let xv = TensorView::read("x", x)?;
        let yv = TensorView::read("y", y)?;
        let dtype = self.dtype();
        dispatch!(&self.inner, l, _T => (|| {
            let Device::Cuda(ordinal) = xv.device else {
                return Err(Error::InvalidArgument {
                    what: "x",
                    why: format!("forward_cuda needs a CUDA tensor, x is on {}", xv.device),
                });
            };
            let tokens = tokens_of(&xv, &yv, l.in_features(), l.out_features())?;
            let xp = xv.device_ptr(Scalar::Float(dtype), ordinal)?;
            let yp = yv.device_ptr(Scalar::Float(dtype), ordinal)?;
            match l.device_ordinal() {
                Some(home) if home != ordinal => {
                    return Err(Error::InvalidArgument {
                        what: "x",
                        why: format!(
                            "x is on cuda:{ordinal} but the layer's weights live on \
                             cuda:{home}; build one layer per device"
                        ),
                    })
                }
                Some(_) => {}
                // The upload runs on sparse24's own stream of the device; the first
                // forward on torch's stream waits for it through an event.
                None => l.to_device(&sparse24::cuda::context_on(ordinal)?.default_stream())?,
            }
            if tokens == 0 {
                return Ok(());
            }
            // SAFETY: x and y were checked to be contiguous tensors of the layer's
            // dtype on the weights' device with tokens·in and tokens·out elements;
            // torch keeps them alive until the caller returns and orders their other
            // uses on `stream` (torch's current stream, the same one torch's caching
            // allocator records for them); y is a fresh allocation. The stream
            // belongs to the primary context torch and sparse24 share.
            unsafe { l.forward_raw(stream as _, xp, yp, None, tokens) }
        })().map_err(to_py))
    }
}

/// Tokens of x [..., in] and y [..., out] (same leading dimensions).
fn tokens_of(x: &TensorView, y: &TensorView, inn: usize, out: usize) -> Result<usize> {
    let (Some((&xk, xl)), Some((&yn, yl))) = (x.shape.split_last(), y.shape.split_last()) else {
        return Err(Error::InvalidArgument {
            what: "x",
            why: "x and y need at least one dimension".into(),
        });
    };
    if xk != inn {
        return Err(Error::InvalidArgument {
            what: "x",
            why: format!(
                "x has {xk} features (shape {:?}) but the layer takes {inn}",
                x.shape
            ),
        });
    }
    if yn != out || xl != yl {
        return Err(Error::InvalidArgument {
            what: "y",
            why: format!("y has shape {:?}, expected {:?} + [{out}]", y.shape, xl),
        });
    }
    Ok(x.numel()? / inn.max(1))
}
