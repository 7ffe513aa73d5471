//! The launch of SparseGPT's row sweep (kernels/sparsegpt.cu): one warp per row of W,
//! the row in dynamic shared memory as f64. The runner (H, its damping and the
//! Cholesky factor of H⁻¹ on the CPU, then this launch) is
//! `crate::methods::sparsegpt_on`.

use crate::error::{Error, Result};
use crate::launch::{Arg, Launch, NO_CLUSTER};
use crate::ops::check_aligned;

/// Dynamic shared memory per CTA on sm_90 (227 KiB): the kernel's row of f64 lives
/// there, so `in` ≤ 29,056. sm_80 allows 163 KiB (`in` ≤ 20,864): the runner passes
/// this figure, and a longer row on an sm_80-class device fails at launch with the
/// driver's error.
pub const MAX_SHARED_BYTES_SM90: usize = 227 * 1024;

/// The sweep over `rows` rows of `cols` columns: `w` ([rows, cols] f64, updated in
/// place), `u` ([cols, cols] f64, the upper Cholesky factor of H⁻¹, row-major),
/// `keep` ([rows, cols / 4] bytes: each group's keep bits, out). `max_shared_bytes`:
/// the device's limit of dynamic shared memory per CTA.
pub fn sparsegpt_rows_launch(
    rows: usize,
    cols: usize,
    w: u64,
    u: u64,
    keep: u64,
    max_shared_bytes: usize,
) -> Result<Launch> {
    let shape = crate::shape::check_shape(rows, cols)?;
    let shared = cols
        .checked_mul(8)
        .filter(|&b| b <= max_shared_bytes)
        .ok_or(Error::Shape {
            what: "in",
            value: cols,
            requirement: "SparseGPT on the GPU holds a row of `in` f64 in shared memory: \
                          in * 8 bytes must fit the device's shared memory per block",
        })?;
    let grid_x = u32::try_from(shape.rows())
        .ok()
        .filter(|&r| r <= i32::MAX as u32)
        .ok_or(Error::Shape {
            what: "rows",
            value: rows,
            requirement: "at most 2^31 - 1 rows (one CTA per row)",
        })?;
    check_aligned("W", w, 8)?;
    check_aligned("U", u, 8)?;
    let kernel = crate::kernels::sparsegpt::SPARSEGPT_ROWS;
    Ok(Launch {
        module: kernel.module,
        kernel: kernel.name,
        grid: [grid_x, 1, 1],
        block: [32, 1, 1],
        dynamic_shared_bytes: shared as u32,
        cluster: NO_CLUSTER,
        args: vec![
            Arg::Ptr(w),
            Arg::Ptr(u),
            Arg::Ptr(keep),
            Arg::U32(cols as u32),
        ],
    })
}
