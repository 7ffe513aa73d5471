//! Launch builders of the mask learner's kernels (kernels/learn.cu): the difference
//! D = W − W_eff, the tiled f32 product D·G, the loss partials and gradient, and Adam
//! on the logits. Pure functions from shapes and device addresses to launches; the
//! step that sequences them is [`crate::learn::DeviceLearnStep`].

use super::check_aligned;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::learn;
use crate::launch::{Arg, Launch};
use crate::learn::AdamConfig;
use crate::shape;
use crate::shape::check_shape;

use super::{groups_of, launch_1d as launch, THREADS};
const TILE: usize = crate::abi::GRAM_TILE as usize;

/// f32 elements of the partial-sum workspace of [`loss_grad_launches`].
pub fn partials_len(rows: usize, cols: usize) -> Result<usize> {
    Ok(shape::grid_x("groups", groups_of(rows, cols)?, THREADS)? as usize)
}

/// D = W − W_eff as f32 [rows, cols]; W and W_eff in `dtype`.
pub fn diff_launch(
    dtype: DType,
    w: u64,
    w_eff: u64,
    d: u64,
    rows: usize,
    cols: usize,
) -> Result<Launch> {
    let groups = groups_of(rows, cols)?;
    check_aligned("weights", w, 4 * dtype.size())?;
    check_aligned("effective weights", w_eff, 4 * dtype.size())?;
    check_aligned("difference", d, 16)?;
    Ok(launch(
        learn::learn_diff(dtype),
        [shape::grid_x("groups", groups, THREADS)?, 1, 1],
        vec![
            Arg::Ptr(w),
            Arg::Ptr(w_eff),
            Arg::Ptr(d),
            Arg::U64(groups as u64),
        ],
    ))
}

/// P = D·G (f32): D [rows, cols], G [cols, cols].
pub fn gram_product_launch(d: u64, gram: u64, p: u64, rows: usize, cols: usize) -> Result<Launch> {
    check_shape(rows, cols)?;
    for (what, a) in [("difference", d), ("gram", gram), ("product", p)] {
        check_aligned(what, a, 4)?;
    }
    let dim = |n: usize| -> Result<u32> {
        u32::try_from(n).map_err(|_| Error::Shape {
            what: "gram product",
            value: n,
            requirement: "rows and cols must fit in u32",
        })
    };
    Ok(launch(
        learn::LEARN_GRAM_PRODUCT,
        [
            shape::grid_x("cols", cols, TILE)?,
            shape::grid_yz("rows", rows, TILE)?,
            1,
        ],
        vec![
            Arg::Ptr(d),
            Arg::Ptr(gram),
            Arg::Ptr(p),
            Arg::U32(dim(rows)?),
            Arg::U32(dim(cols)?),
        ],
    ))
}

/// Σ D⊙P → `loss` (one f64: Σ/`norm`, partials in `partials`, [`partials_len`] f32)
/// and dW_eff = −2·P/`norm` in `dtype`.
#[allow(clippy::too_many_arguments)]
pub fn loss_grad_launches(
    dtype: DType,
    d: u64,
    p: u64,
    dw_eff: u64,
    partials: u64,
    loss: u64,
    rows: usize,
    cols: usize,
    norm: f64,
) -> Result<Vec<Launch>> {
    let groups = groups_of(rows, cols)?;
    if !(norm.is_finite() && norm > 0.0) {
        return Err(Error::InvalidArgument {
            what: "norm",
            why: format!("must be finite and > 0, got {norm}"),
        });
    }
    check_aligned("difference", d, 16)?;
    check_aligned("product", p, 16)?;
    check_aligned("gradient", dw_eff, 4 * dtype.size())?;
    check_aligned("partials", partials, 4)?;
    check_aligned("loss", loss, 8)?;
    let blocks = shape::grid_x("groups", groups, THREADS)?;
    Ok(vec![
        launch(
            learn::learn_loss_grad(dtype),
            [blocks, 1, 1],
            vec![
                Arg::Ptr(d),
                Arg::Ptr(p),
                Arg::Ptr(dw_eff),
                Arg::Ptr(partials),
                Arg::U64(groups as u64),
                Arg::F32((-2.0 / norm) as f32),
            ],
        ),
        launch(
            learn::LEARN_LOSS_FINISH,
            [1, 1, 1],
            vec![
                Arg::Ptr(partials),
                Arg::U32(blocks),
                Arg::U64((1.0 / norm).to_bits()),
                Arg::Ptr(loss),
            ],
        ),
    ])
}

/// Adam step `t` (from 1) of `n` f32 parameters along `grad`; moments `m`, `v` f32.
#[allow(clippy::too_many_arguments)]
pub fn adam_launch(
    params: u64,
    grad: u64,
    m: u64,
    v: u64,
    n: usize,
    cfg: &AdamConfig,
    t: u32,
) -> Result<Launch> {
    for (what, a) in [("params", params), ("grad", grad), ("m", m), ("v", v)] {
        check_aligned(what, a, 4)?;
    }
    if t == 0 {
        return Err(Error::InvalidArgument {
            what: "adam step",
            why: "steps count from 1".into(),
        });
    }
    Ok(launch(
        learn::LEARN_ADAM,
        [shape::grid_x("parameters", n, THREADS)?, 1, 1],
        vec![
            Arg::Ptr(params),
            Arg::Ptr(grad),
            Arg::Ptr(m),
            Arg::Ptr(v),
            Arg::U64(n as u64),
            Arg::F32(cfg.lr),
            Arg::F32(cfg.beta1),
            Arg::F32(cfg.beta2),
            Arg::F32(cfg.eps),
            Arg::U32(t),
        ],
    ))
}
