//! `decompress` on the device: logical 2:4 form → dense (kernels/decompress.cu).

use super::check_aligned;
use crate::dtype::{DType, Element};
use crate::error::Result;
use crate::format::Sparse24;
use crate::kernels;
use crate::launch::{Arg, Executor, Launch};
use crate::shape;
use crate::shape::check_shape;

use super::{launch_1d, THREADS};

/// The launch that decompresses a [rows, cols] matrix of `dtype` whose values and
/// metadata (logical layout) sit at `values` and `meta`, into `dense`.
pub fn decompress_launch(
    dtype: DType,
    values: u64,
    meta: u64,
    dense: u64,
    rows: usize,
    cols: usize,
) -> Result<Launch> {
    let shape = check_shape(rows, cols)?;
    check_aligned("values", values, 8)?;
    check_aligned("metadata", meta, 2)?;
    check_aligned("dense output", dense, 16)?;
    // One thread per 16-byte chunk of the dense output.
    let chunks = shape.elements() * dtype.size() / 16;
    let kernel = kernels::decompress::decompress(dtype);
    Ok(launch_1d(
        kernel,
        [shape::grid_x("16-byte chunks", chunks, THREADS)?, 1, 1],
        vec![
            Arg::Ptr(values),
            Arg::Ptr(meta),
            Arg::Ptr(dense),
            Arg::U64(chunks as u64),
        ],
    ))
}

/// Uploads `s`, decompresses it on `exec` and returns the dense matrix.
pub fn decompress_on<E: Executor, T: Element>(exec: &E, s: &Sparse24<T>) -> Result<Vec<T>> {
    let values = exec.upload(s.values())?;
    let meta = exec.upload(s.metadata())?;
    let shape = check_shape(s.rows(), s.cols())?;
    let dense = exec.alloc_zeroed(shape.elements() * std::mem::size_of::<T>())?;
    let launch = decompress_launch(
        T::DTYPE,
        exec.ptr(&values),
        exec.ptr(&meta),
        exec.ptr(&dense),
        s.rows(),
        s.cols(),
    )?;
    exec.launch(&launch)?;
    exec.download(&dense)
}
