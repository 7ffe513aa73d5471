//! Prune + compress and the 2:4 check on the device (kernels/prune.cu): dense →
//! logical values + metadata, bit for bit what [`Sparse24::compress_masked`] makes
//! from the matching CPU mask ([`crate::prune`]).
//!
//! Faults (NaN or ±Inf, a group with more than two nonzeros, an illegal code in a caller's
//! mask) land in a small status buffer on the device; [`decode_status`] turns it into
//! the crate's typed error after the caller's stream has finished.

use super::check_aligned;
use crate::dtype::{non_finite_at, DType, Element};
use crate::error::{Error, Result};
use crate::format::{Mask24, Sparse24};
use crate::kernels::{self, Kernel};
use crate::launch::{Arg, Executor, Launch};
use crate::pattern::GROUP;
use crate::shape;
use crate::shape::{check_len, check_shape};

use super::{launch_1d, THREADS};
/// u64 words of the status buffer.
pub const STATUS_WORDS: usize = 4;
const NONE: u64 = u64::MAX;

/// How the kept pair of each group is chosen (device addresses where needed).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The two largest |w| ([`crate::prune::magnitude_mask`]).
    Magnitude,
    /// The two highest of a f32 score matrix [rows, cols] ([`crate::prune::score_mask`]).
    Scores(u64),
    /// A caller's mask as logical metadata words [rows, cols/16].
    Mask(u64),
    /// The pattern already present; more than two nonzeros is an error
    /// ([`crate::Mask24::detect`]).
    Detect,
}

impl Selection {
    fn mode(self) -> u32 {
        match self {
            Selection::Magnitude => 0,
            Selection::Scores(_) => 1,
            Selection::Mask(_) => 2,
            Selection::Detect => 3,
        }
    }
}

/// The launch that sets the status buffer to "no fault".
pub fn status_reset_launch(status: u64) -> Result<Launch> {
    check_aligned("status", status, 8)?;
    const RESET: Kernel = kernels::prune::PRUNE_STATUS_RESET;
    Ok(Launch {
        module: RESET.module,
        kernel: RESET.name,
        grid: [1, 1, 1],
        block: [32, 1, 1],
        dynamic_shared_bytes: 0,
        cluster: crate::launch::NO_CLUSTER,
        args: vec![Arg::Ptr(status), Arg::U32(STATUS_WORDS as u32)],
    })
}

#[allow(clippy::too_many_arguments)]
fn prune_launch(
    dtype: DType,
    sel: Selection,
    dense: u64,
    values: u64,
    meta: u64,
    status: u64,
    rows: usize,
    cols: usize,
) -> Result<Launch> {
    check_aligned("dense matrix", dense, 4 * dtype.size())?;
    check_aligned("status", status, 8)?;
    if values != 0 {
        check_aligned("values", values, 2 * dtype.size())?;
        check_aligned("metadata", meta, 2)?;
    }
    let (scores, mask) = match sel {
        Selection::Scores(p) => {
            check_aligned("scores", p, 16)?;
            (p, 0)
        }
        Selection::Mask(p) => {
            check_aligned("mask metadata", p, 2)?;
            (0, p)
        }
        _ => (0, 0),
    };
    let groups = check_shape(rows, cols)?.groups();
    let kernel = kernels::prune::prune_compress(dtype);
    Ok(launch_1d(
        kernel,
        [shape::grid_x("groups", groups, THREADS)?, 1, 1],
        vec![
            Arg::Ptr(dense),
            Arg::Ptr(scores),
            Arg::Ptr(mask),
            Arg::Ptr(values),
            Arg::Ptr(meta),
            Arg::Ptr(status),
            Arg::U64(groups as u64),
            Arg::U32(sel.mode()),
        ],
    ))
}

/// Launches (in order, on one stream) that prune and compress the dense [rows, cols]
/// matrix at `dense` into `values` [rows, cols/2] and `meta` [rows, cols/16], noting
/// faults in `status` (u64 × [`STATUS_WORDS`]).
#[allow(clippy::too_many_arguments)]
pub fn prune_compress_launches(
    dtype: DType,
    sel: Selection,
    dense: u64,
    values: u64,
    meta: u64,
    status: u64,
    rows: usize,
    cols: usize,
) -> Result<Vec<Launch>> {
    if values == 0 || meta == 0 {
        return Err(Error::InvalidArgument {
            what: "values/metadata",
            why: "prune_compress needs both output buffers".into(),
        });
    }
    Ok(vec![
        status_reset_launch(status)?,
        prune_launch(dtype, sel, dense, values, meta, status, rows, cols)?,
    ])
}

/// Launches that check whether the dense matrix at `dense` is 2:4 (no outputs).
pub fn check_launches(
    dtype: DType,
    dense: u64,
    status: u64,
    rows: usize,
    cols: usize,
) -> Result<Vec<Launch>> {
    Ok(vec![
        status_reset_launch(status)?,
        prune_launch(dtype, Selection::Detect, dense, 0, 0, status, rows, cols)?,
    ])
}

/// Turns a downloaded status buffer into the first fault as a typed error: a
/// non-finite score first (the CPU looks at them before the weights), then a
/// non-finite weight, then a group that is not 2:4, then an illegal code in the
/// caller's mask.
pub fn decode_status(status: &[u64], cols: usize) -> Result<()> {
    check_len("status", STATUS_WORDS, status.len())?;
    let groups = cols / GROUP;
    if status[1] != NONE {
        return Err(non_finite_at("scores", status[1] as usize, cols));
    }
    if status[2] != NONE {
        return Err(non_finite_at("weights", status[2] as usize, cols));
    }
    if status[0] != NONE {
        let g = (status[0] >> 3) as usize;
        return Err(Error::NotTwoFour {
            row: g / groups,
            group: g % groups,
            nonzeros: (status[0] & 7) as usize,
        });
    }
    if status[3] != NONE {
        let g = (status[3] >> 4) as usize;
        return Err(Error::IllegalCode {
            row: g / groups,
            group: g % groups,
            code: (status[3] & 0xF) as u8,
        });
    }
    Ok(())
}

/// A selection with host data, for [`prune_compress_on`].
#[derive(Copy, Clone, Debug)]
pub enum HostSelection<'a> {
    /// Keep the two largest magnitudes of each group.
    Magnitude,
    /// Keep the two highest scores of each group (one score per weight).
    Scores(&'a [f32]),
    /// Keep what this mask keeps.
    Mask(&'a Mask24),
    /// The weight is already 2:4: keep its nonzeros (refused if a group has more than two).
    Detect,
}

fn run_all<E: Executor>(exec: &E, launches: &[Launch]) -> Result<()> {
    launches.iter().try_for_each(|l| exec.launch(l))
}

/// Uploads `w`, prunes and compresses it on `exec` and returns the result (or the
/// first fault as an error).
pub fn prune_compress_on<E: Executor, T: Element>(
    exec: &E,
    w: &[T],
    rows: usize,
    cols: usize,
    sel: HostSelection<'_>,
) -> Result<Sparse24<T>> {
    let shape = check_shape(rows, cols)?;
    check_len("weights", shape.elements(), w.len())?;
    let dense = exec.upload(w)?;
    // Keeps the uploaded selection alive until the launches ran.
    let aux = match sel {
        HostSelection::Scores(s) => {
            check_len("scores", shape.elements(), s.len())?;
            Some(exec.upload(s)?)
        }
        HostSelection::Mask(m) => {
            if (m.rows(), m.cols()) != (rows, cols) {
                return Err(Error::InvalidArgument {
                    what: "mask",
                    why: format!("{}x{} mask for a {rows}x{cols} matrix", m.rows(), m.cols()),
                });
            }
            Some(exec.upload(&m.metadata())?)
        }
        _ => None,
    };
    let dsel = match (sel, &aux) {
        (HostSelection::Scores(_), Some(b)) => Selection::Scores(exec.ptr(b)),
        (HostSelection::Mask(_), Some(b)) => Selection::Mask(exec.ptr(b)),
        (HostSelection::Detect, _) => Selection::Detect,
        _ => Selection::Magnitude,
    };
    let values = exec.alloc_zeroed(shape.values() * T::DTYPE.size())?;
    let meta = exec.alloc_zeroed(shape.meta_words() * 2)?;
    let status = exec.alloc_zeroed(STATUS_WORDS * 8)?;
    run_all(
        exec,
        &prune_compress_launches(
            T::DTYPE,
            dsel,
            exec.ptr(&dense),
            exec.ptr(&values),
            exec.ptr(&meta),
            exec.ptr(&status),
            rows,
            cols,
        )?,
    )?;
    decode_status(&exec.download::<u64>(&status)?, cols)?;
    Sparse24::from_parts(rows, cols, exec.download(&values)?, exec.download(&meta)?)
}

/// Uploads `w` and checks on `exec` that it is 2:4; `Err` names the first violation.
pub fn check_on<E: Executor, T: Element>(
    exec: &E,
    w: &[T],
    rows: usize,
    cols: usize,
) -> Result<()> {
    let shape = check_shape(rows, cols)?;
    check_len("dense matrix", shape.elements(), w.len())?;
    let dense = exec.upload(w)?;
    let status = exec.alloc_zeroed(STATUS_WORDS * 8)?;
    run_all(
        exec,
        &check_launches(T::DTYPE, exec.ptr(&dense), exec.ptr(&status), rows, cols)?,
    )?;
    decode_status(&exec.download::<u64>(&status)?, cols)
}
