//! `sparse24._sparse24`: the compiled half of the `sparse24` Python package. It reads
//! torch tensors through their `data_ptr()` after checking dtype, shape, strides and
//! device (src/tensor.rs), so it needs no libtorch; the Python half
//! (python/sparse24/) allocates every output with torch and registers the torch op.
//! Every sparse24 error becomes a `sparse24.Sparse24Error` carrying its message.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sparse24::error::Error;
use sparse24::learn::{Calibration, LearnConfig, MaskLearner, Prior};

mod layer;
mod tensor;

use layer::{by_dtype, Layer};
use tensor::TensorView;

create_exception!(
    sparse24,
    Sparse24Error,
    PyValueError,
    "An error from sparse24 (bad input, or a GPU call that cannot run), with its message."
);

/// A sparse24 error as the Python exception.
pub(crate) fn to_py(e: Error) -> PyErr {
    Sparse24Error::new_err(e.to_string())
}

/// Loads every layer of a sparse24 file (validated, checksums verified) as
/// `[(name, Layer)]`.
#[pyfunction]
fn load(path: std::path::PathBuf) -> PyResult<Vec<(String, Layer)>> {
    let layers = sparse24::io::load(&path).map_err(to_py)?;
    Ok(layers
        .into_iter()
        .map(|(n, s)| (n, Layer::from_any(s)))
        .collect())
}

/// Saves compressed weights as a sparse24 file (atomically). Biases and activations
/// are not part of the format.
#[pyfunction]
fn save(path: std::path::PathBuf, layers: Vec<(String, Py<Layer>)>) -> PyResult<()> {
    let weights: Vec<(String, sparse24::io::AnySparse24)> = layers
        .iter()
        .map(|(n, l)| (n.clone(), l.get().to_any()))
        .collect();
    let refs: Vec<(&str, &sparse24::io::AnySparse24)> =
        weights.iter().map(|(n, w)| (n.as_str(), w)).collect();
    sparse24::io::save(&path, &refs).map_err(to_py)
}

/// Learns a 2:4 mask of `w` [out, in] on activations `x` [tokens, in] (layer-wise
/// MaskLLM on the CPU), written into `out` (torch.bool [out, in]). Returns the
/// relative reconstruction loss of the prior mask and of the learned one.
#[pyfunction]
#[pyo3(signature = (w, x, out, steps=200, seed=0x5eed_2024, prior="wanda"))]
fn learn_mask(
    w: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    steps: usize,
    seed: u64,
    prior: &str,
) -> PyResult<(f64, f64)> {
    let wv = TensorView::read("w", w)?;
    let xv = TensorView::read("x", x)?;
    let ov = TensorView::read("out", out)?;
    let prior = match prior {
        "wanda" => Prior::Wanda,
        "magnitude" => Prior::Magnitude,
        p => {
            return Err(to_py(Error::InvalidArgument {
                what: "prior",
                why: format!("unknown prior {p:?}; one of [\"wanda\", \"magnitude\"]"),
            }))
        }
    };
    let cfg = LearnConfig {
        steps,
        seed,
        prior,
        eval_every: LearnConfig::default().eval_every.min(steps.max(1)),
        ..LearnConfig::default()
    };
    let wd = wv.float().map_err(to_py)?;
    if xv.float().map_err(to_py)? != wd {
        return Err(to_py(Error::InvalidArgument {
            what: "x",
            why: format!(
                "x is {} but w is {}",
                xv.float().map_err(to_py)?.name(),
                wd.name()
            ),
        }));
    }
    by_dtype!(wd, T => (|| {
        let [rows, cols] = wv.dims::<2>()?;
        let [tokens, xcols] = xv.dims::<2>()?;
        if xcols != cols {
            return Err(Error::InvalidArgument {
                what: "x",
                why: format!("x has {xcols} channels but w has {cols} columns"),
            });
        }
        // SAFETY: the tensors are held by the caller for the call, GIL held.
        let (ws, xs) = unsafe { (wv.host::<T>()?, xv.host::<T>()?) };
        let calib = Calibration::from_activations(xs, tokens, cols)?;
        let learned = MaskLearner::new(ws, rows, cols, &calib, cfg)?.run(|_| {})?;
        layer::write_mask(&learned.mask, &ov)?;
        Ok((learned.prior_loss, learned.best_loss))
    })().map_err(to_py))
}

/// Why the GPU path cannot run in this process (None when it can): no driver, no
/// device, a device older than sm_80, or a build without kernels.
#[pyfunction]
fn cuda_unavailable_reason() -> Option<String> {
    if !sparse24::kernels::compiled() {
        return Some(Error::KernelsNotCompiled.to_string());
    }
    sparse24::cuda::context().err().map(|e| e.to_string())
}

/// Frees sparse24's per-stream state (split-K workspace, staging buffer) of a
/// `CUstream` of device `device` that the op ran on: call it before destroying a
/// stream you created. Returns whether the stream had state.
#[pyfunction]
fn release_stream(device: usize, stream: usize) -> PyResult<bool> {
    let ctx = sparse24::cuda::context_on(device).map_err(to_py)?;
    Ok(sparse24::linear::gpu::release_raw_stream(&ctx, stream as _))
}

#[pymodule]
fn _sparse24(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Sparse24Error", m.py().get_type::<Sparse24Error>())?;
    m.add_class::<Layer>()?;
    m.add_function(wrap_pyfunction!(layer::compress, m)?)?;
    m.add_function(wrap_pyfunction!(layer::prune_compress, m)?)?;
    m.add_function(wrap_pyfunction!(layer::prune_mask, m)?)?;
    m.add_function(wrap_pyfunction!(layer::from_torch_semi_structured, m)?)?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(save, m)?)?;
    m.add_function(wrap_pyfunction!(learn_mask, m)?)?;
    m.add_function(wrap_pyfunction!(cuda_unavailable_reason, m)?)?;
    m.add_function(wrap_pyfunction!(release_stream, m)?)?;
    Ok(())
}
