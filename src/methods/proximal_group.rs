//! The proximal operator of the 2:4 regulariser on one group of four weights
//! (Kübler et al., "A Proximal Operator for Inducing 2:4-Sparsity", arXiv 2501.18015).
//!
//! The regulariser of a group z is r(z) = Σ_{i<j<k} |z_i·z_j·z_k|, the sum of the
//! magnitudes of its four triple products: zero exactly when at most two entries are
//! nonzero, so it vanishes on 2:4-sparse weights and nowhere else. Its proximal
//! operator at strength s ≥ 0 is `argmin_z ½‖z − v‖² + s·r(z)`. (The paper's full
//! text was not at hand when this was written: the regulariser follows its published
//! description, a penalty that vanishes exactly on 2:4 groups with an efficiently
//! solvable per-group proximal operator; check its form against the paper's section 3
//! before quoting numbers as the paper's.)
//!
//! What the computation below does: r depends on the magnitudes only and the
//! quadratic rewards matching signs, so the minimiser keeps each sign of v and lies in
//! the box 0 ≤ |z_i| ≤ |v_i|; exchanging two entries shows it keeps the order of the
//! magnitudes, so its support is the k largest |v_i| for some k. For k ≤ 2 the
//! regulariser is zero and the best such point keeps the two largest entries as they
//! are. For k = 3 and 4 the minimiser is a point where every coordinate is optimal
//! given the others, and along one coordinate the objective is a convex quadratic
//! (`z_i = max(0, |v_i| − s·e₂(z without i))`, e₂ the sum of pairwise products);
//! exact coordinate descent runs from |v| (the largest point of the box) and from |v|
//! with its smallest entry zeroed, and the operator returns the best of the three
//! candidates. **Known bug (issue 20 open):** the objective is not convex on those
//! supports, and coordinate descent can stop at a coordinate-wise minimum that is not
//! the global one: at v = [1, 1, 0, 1.389], s = 0.728 it keeps two entries (cost 0.5)
//! where three cost 0.484 (tests/proximal.rs, `operator_matches_brute_force`,
//! ignored until fixed). An exact operator needs the stationary points of each
//! support solved globally (a 1-D equation for three nonzeros, 2-D for four).
//!
//! The same arithmetic, in the same order, runs on the GPU (kernels/proximal.cu): no
//! fused multiply-adds there, none here, so both give the same bits.

use crate::pattern::GROUP;

/// Coordinate-descent sweeps at most per candidate (each sweep updates the four
/// coordinates once). Shared with kernels/proximal.cu through `prox_launch`'s caller.
pub const MAX_SWEEPS: u32 = 200;

/// A sweep that moves no coordinate by more than this fraction of the group's largest
/// magnitude ends the descent.
pub const SWEEP_TOLERANCE: f64 = 1e-15;

/// `x·y + x·w + y·w`: the pairwise products of the three other entries.
#[inline]
fn e2(x: f64, y: f64, w: f64) -> f64 {
    x * y + x * w + y * w
}

/// ½‖z − a‖² + s·r(z) for z, a ≥ 0.
#[inline]
pub fn objective(z: [f64; GROUP], a: [f64; GROUP], s: f64) -> f64 {
    let d0 = z[0] - a[0];
    let d1 = z[1] - a[1];
    let d2 = z[2] - a[2];
    let d3 = z[3] - a[3];
    let quad = 0.5 * (d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3);
    let r = z[0] * z[1] * z[2] + z[0] * z[1] * z[3] + z[0] * z[2] * z[3] + z[1] * z[2] * z[3];
    quad + s * r
}

/// Exact coordinate descent from `z` on the magnitudes `a` until a sweep moves no
/// coordinate by more than `tol` (or [`MAX_SWEEPS`]).
fn descend(mut z: [f64; GROUP], a: [f64; GROUP], s: f64, tol: f64) -> [f64; GROUP] {
    for _ in 0..MAX_SWEEPS {
        let mut moved = 0f64;
        let n0 = (a[0] - s * e2(z[1], z[2], z[3])).max(0.0);
        moved = moved.max((n0 - z[0]).abs());
        z[0] = n0;
        let n1 = (a[1] - s * e2(z[0], z[2], z[3])).max(0.0);
        moved = moved.max((n1 - z[1]).abs());
        z[1] = n1;
        let n2 = (a[2] - s * e2(z[0], z[1], z[3])).max(0.0);
        moved = moved.max((n2 - z[2]).abs());
        z[2] = n2;
        let n3 = (a[3] - s * e2(z[0], z[1], z[2])).max(0.0);
        moved = moved.max((n3 - z[3]).abs());
        z[3] = n3;
        if moved <= tol {
            break;
        }
    }
    z
}

/// The indices of the two largest and the smallest of four magnitudes (ties: the
/// lower index counts as larger, as `prune::top_two`).
fn ranks(a: [f64; GROUP]) -> (usize, usize, usize) {
    let mut best = 0;
    for i in 1..GROUP {
        if a[i] > a[best] {
            best = i;
        }
    }
    let mut second = if best == 0 { 1 } else { 0 };
    for i in 0..GROUP {
        if i != best && a[i] > a[second] {
            second = i;
        }
    }
    let mut smallest = 3;
    for i in (0..GROUP).rev() {
        if a[i] < a[smallest] {
            smallest = i;
        }
    }
    (best, second, smallest)
}

/// The proximal operator of s·r at v: `argmin_z ½‖z − v‖² + s·r(z)`. `s` must be ≥ 0
/// and everything finite (the method checks; a NaN here gives NaN out).
pub fn prox_group(v: [f64; GROUP], s: f64) -> [f64; GROUP] {
    let a = [v[0].abs(), v[1].abs(), v[2].abs(), v[3].abs()];
    let (best, second, smallest) = ranks(a);
    // k ≤ 2: the two largest kept as they are.
    let mut two = [0f64; GROUP];
    two[best] = a[best];
    two[second] = a[second];
    let mut z = two;
    let mut cost = objective(two, a, s);
    let top = a[best];
    if s > 0.0 && top > 0.0 {
        let tol = SWEEP_TOLERANCE * top;
        let mut three = a;
        three[smallest] = 0.0;
        for start in [a, three] {
            let c = descend(start, a, s, tol);
            let f = objective(c, a, s);
            if f < cost {
                cost = f;
                z = c;
            }
        }
    } else if s == 0.0 {
        z = a;
    }
    [
        z[0].copysign(v[0]),
        z[1].copysign(v[1]),
        z[2].copysign(v[2]),
        z[3].copysign(v[3]),
    ]
}

/// [`prox_group`] on every group of four of `w` (its length a multiple of 4), in place.
pub fn prox_groups(w: &mut [f64], s: f64) {
    for g in w.chunks_exact_mut(GROUP) {
        let z = prox_group([g[0], g[1], g[2], g[3]], s);
        g.copy_from_slice(&z);
    }
}

/// The regulariser r of every group of `w`, summed.
pub fn regulariser(w: &[f64]) -> f64 {
    w.chunks_exact(GROUP)
        .map(|g| {
            let a = [g[0].abs(), g[1].abs(), g[2].abs(), g[3].abs()];
            objective(a, a, 1.0)
        })
        .sum()
}
