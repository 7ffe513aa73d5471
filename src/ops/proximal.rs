//! The launch of the 2:4 proximal operator on every group of four
//! (kernels/proximal.cu, one thread per group, f64 in place), and its runner: the
//! same bits as `methods::proximal_group::prox_groups` on the CPU.

use crate::error::{Error, Result};
use crate::launch::{Arg, Executor, Launch};
use crate::methods::proximal_group::{
    BISECTION_STEPS, ISOLATION_DEPTH, ISOLATION_VISITS, STRENGTH_LIMIT,
};
use crate::ops::{check_aligned, launch_1d, THREADS};
use crate::pattern::GROUP;

/// The operator at strength `s` (finite, ≥ 0) on `groups` groups of four f64 at `w`
/// (in place).
pub fn proximal_groups_launch(groups: usize, w: u64, s: f64) -> Result<Launch> {
    if !(s.is_finite() && s >= 0.0) {
        return Err(Error::InvalidArgument {
            what: "strength",
            why: format!("the proximal operator's strength must be finite and >= 0, got {s}"),
        });
    }
    let blocks = groups.div_ceil(THREADS);
    let grid_x = u32::try_from(blocks)
        .ok()
        .filter(|&b| b <= i32::MAX as u32)
        .ok_or(Error::Shape {
            what: "groups",
            value: groups,
            requirement: "at most (2^31 - 1) * 256 groups",
        })?;
    check_aligned("W", w, 8)?;
    Ok(launch_1d(
        crate::kernels::proximal::PROXIMAL_GROUPS,
        [grid_x.max(1), 1, 1],
        vec![
            Arg::Ptr(w),
            Arg::U64(groups as u64),
            Arg::U64(s.to_bits()),
            Arg::U64(STRENGTH_LIMIT.to_bits()),
            Arg::U32(BISECTION_STEPS),
            Arg::U32(ISOLATION_DEPTH),
            Arg::U32(ISOLATION_VISITS),
        ],
    ))
}

/// The operator on every group of `w` (length a multiple of 4) on `exec`'s device:
/// uploads, launches, downloads.
pub fn prox_groups_on<E: Executor>(exec: &E, w: &[f64], s: f64) -> Result<Vec<f64>> {
    if !w.len().is_multiple_of(GROUP) {
        return Err(Error::InvalidArgument {
            what: "weights",
            why: format!("{} values are not whole groups of four", w.len()),
        });
    }
    let buf = exec.upload(w)?;
    exec.launch(&proximal_groups_launch(w.len() / GROUP, exec.ptr(&buf), s)?)?;
    Ok(bytemuck::pod_collect_to_vec(&exec.download_bytes(&buf)?))
}
