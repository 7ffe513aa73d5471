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
//! What the computation below does (exact, up to the bisection's last float): r
//! depends on the magnitudes only and the quadratic rewards matching signs, so the
//! minimiser keeps each sign of v and lies in the box 0 ≤ |z_i| ≤ |v_i|; exchanging
//! two entries shows it keeps the order of the magnitudes, so its support is the k
//! largest |v_i| for some k. The operator is scaled first (z = c·prox(v/c, s·c) with c
//! the largest magnitude), then the global minimum over each support is found among
//! its stationary points, all of them, by one-dimensional root finding whose
//! completeness follows from the shape of each equation:
//!
//! - **k ≤ 2:** r is zero; the two largest are kept as they are.
//! - **k = 3** (a ≥ b ≥ c the magnitudes): with the smallest coordinate t fixed, the
//!   other two minimise a quadratic with Hessian [[1, st], [st, 1]], convex wherever a
//!   minimum can be (st ≤ 1 is its second-order condition), so they are a closed form
//!   in t. The stationary points are the zeros of g(t) = t − c + s·z_a(t)·z_b(t) (the
//!   derivative of the reduced objective). With τ = st, d = (a − b)/2, m = (a + b)/2:
//!   z_a·z_b = m²/(1 + τ)² − d²/(1 − τ)², convex up to τ_c = (√m − √d)/(√m + √d) and
//!   concave after, so g has at most two zeros on each side of τ_c, found by bisection
//!   either side of its extremum.
//! - **k = 4:** the sum of the four stationarity equations fixes e₂(z) by e₁(z) = E,
//!   and then each z_i solves s·z² + (1 − sE)·z + (s·e₂ − a_i) = 0; with x = sE, its
//!   roots are (x − 1 ± √(x² + κ_i))/(2s), κ_i = 1 − 2s(Σa − 2a_i), and Σz_i = E is one
//!   equation in x. Two coordinates on the smaller root contradict the second-order
//!   condition (the 2×2 minor on them), and the one on the smaller root must be the
//!   smallest a_i (order), so there are two cases. All larger roots: Σ√(x² + κ_i) + 2x
//!   − 4 = 0, increasing in x, one zero by bisection. The smallest on the smaller
//!   root: P(x) − Q(x) = 0 with P = Σ_{i≠l}√(x² + κ_i) + 2x − 4 and Q = √(x² + κ_l)
//!   both increasing, every zero isolated cell by cell (`prox_roots::isolate`; x ∈ [1,
//!   s(Σa − 2a_l)], a strong-regularisation regime; rare, but it is the minimum on
//!   some groups).
//!
//! Every candidate is a feasible point; the operator returns the one with the least
//! objective (the two largest kept on ties). Checked against a brute-force grid search
//! and multi-start descent on random groups (tests/proximal.rs). The paper's full text
//! was not at hand when this was written: the regulariser follows its published
//! description (a penalty that vanishes exactly on 2:4 groups with an efficiently
//! solvable per-group proximal operator); the solution above is this project's.
//!
//! The same arithmetic, in the same order, runs on the GPU (kernels/proximal.cu): no
//! fused multiply-adds there, none here, so both give the same bits.

use super::prox_roots::{bisect, isolate, roots_of_convex_or_concave, Isolation};
use crate::pattern::GROUP;
use rayon::prelude::*;

/// Bisection halvings at most per root (each also stops at adjacent floats).
pub const BISECTION_STEPS: u32 = 64;

/// Halvings of the four-nonzero, smaller-root interval before a still-open cell's
/// midpoint is taken as a root (within 2^−49 of the interval's width).
pub const ISOLATION_DEPTH: u32 = 48;
// A cell's index converts to f64 exactly (on the device too) only below 2^53.
const _: () = assert!(ISOLATION_DEPTH < 53);

/// Cells the isolation may examine per group before giving up (never reached in the
/// tests; the report says so when it is).
pub const ISOLATION_VISITS: u32 = 20_000;

/// Above this strength × largest magnitude the operator returns its limit s → ∞, the
/// two largest kept (the arithmetic below would overflow near 1e154).
pub const STRENGTH_LIMIT: f64 = 1e100;

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

/// Which support the operator's value has, and what finding it took.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Face {
    /// Strength 0: v itself.
    Identity,
    /// At most two nonzeros: the two largest kept as they are.
    Two,
    /// Three nonzeros.
    Three,
    /// Four nonzeros, each on the larger root of its equation.
    Four,
    /// Four nonzeros, the smallest on the smaller root.
    FourSmallerRoot,
}

/// What [`prox_group_report`] found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ProxReport {
    /// The support of the value returned.
    pub face: Face,
    /// The isolation of the four-nonzero, smaller-root case.
    pub isolation: Isolation,
}

/// The indices of the four magnitudes from largest to smallest (ties: the lower
/// index counts as larger, as `prune::top_two`).
fn order(a: [f64; GROUP]) -> [usize; GROUP] {
    let mut o = [0, 1, 2, 3];
    for n in 1..GROUP {
        let mut p = n;
        while p > 0 && a[o[p]] > a[o[p - 1]] {
            o.swap(p, p - 1);
            p -= 1;
        }
    }
    o
}

/// √max(y, 0).
#[inline]
fn root(y: f64) -> f64 {
    if y > 0.0 {
        y.sqrt()
    } else {
        0.0
    }
}

/// The least-objective candidate so far (normalised magnitudes).
struct Best {
    z: [f64; GROUP],
    cost: f64,
    face: Face,
}

impl Best {
    /// Takes `z` if it is feasible (every entry ≥ 0, so no NaN) and strictly better.
    fn consider(&mut self, z: [f64; GROUP], u: [f64; GROUP], s: f64, face: Face) {
        if !(z[0] >= 0.0 && z[1] >= 0.0 && z[2] >= 0.0 && z[3] >= 0.0) {
            return;
        }
        let cost = objective(z, u, s);
        if cost < self.cost {
            *self = Best { z, cost, face };
        }
    }
}

/// The three-nonzero stationary points on the support o[0..3] (module docs).
fn three_nonzero(best: &mut Best, u: [f64; GROUP], s: f64, o: [usize; GROUP]) {
    let (i, j, k) = (o[0], o[1], o[2]);
    let d = 0.5 * (u[i] - u[j]);
    let m = 0.5 * (u[i] + u[j]);
    let pair = |t: f64| {
        let tau = s * t;
        let common = m / (1.0 + tau);
        let split = if d > 0.0 { d / (1.0 - tau) } else { 0.0 };
        (common + split, common - split)
    };
    let g = |t: f64| {
        let (zi, zj) = pair(t);
        (t - u[k]) + s * (zi * zj)
    };
    let dg = |t: f64| {
        let tau = s * t;
        let p = 1.0 + tau;
        let q = 1.0 - tau;
        let du = if d > 0.0 {
            -(2.0 * m * m) / (p * p * p) - (2.0 * d * d) / (q * q * q)
        } else {
            -(2.0 * m * m) / (p * p * p)
        };
        1.0 + (s * s) * du
    };
    // t ≤ c (z ≤ a) and z_b(t) ≥ 0 (τ ≤ b/a).
    let cap = u[j] / (u[i] * s);
    let top = if u[k] < cap { u[k] } else { cap };
    let (rm, rd) = (m.sqrt(), d.sqrt());
    let bend = ((rm - rd) / (rm + rd)) / s;
    let mut take = |t: f64| {
        let (zi, zj) = pair(t);
        let mut z = [0.0; GROUP];
        z[i] = zi;
        z[j] = zj;
        z[k] = t;
        best.consider(z, u, s, Face::Three);
    };
    let convex_end = if bend < top { bend } else { top };
    roots_of_convex_or_concave(g, dg, 0.0, convex_end, true, BISECTION_STEPS, &mut take);
    if bend < top {
        roots_of_convex_or_concave(g, dg, bend, top, false, BISECTION_STEPS, &mut take);
    }
}

/// The four-nonzero stationary points (module docs); returns the isolation's record.
fn four_nonzero(best: &mut Best, u: [f64; GROUP], s: f64, o: [usize; GROUP]) -> Isolation {
    let l = o[3];
    let total = ((u[0] + u[1]) + u[2]) + u[3];
    let kappa = [0, 1, 2, 3].map(|q| 1.0 - (2.0 * s) * (total - 2.0 * u[q]));
    let r = |q: usize, x: f64| root(x * x + kappa[q]);
    let x_low = root(-kappa[l]);
    // All on the larger root, as a function of E (stable forms: no cancellation for
    // small s below x = 1, none above).
    let larger = |q: usize, x: f64, e: f64| {
        if x < 1.0 {
            ((u[q] + u[q] + e) - total) / ((1.0 - x) + r(q, x))
        } else {
            ((x - 1.0) + r(q, x)) / (2.0 * s)
        }
    };
    let sum_minus_e = |e: f64| {
        let x = s * e;
        (((larger(0, x, e) + larger(1, x, e)) + larger(2, x, e)) + larger(3, x, e)) - e
    };
    let (e_low, e_high) = (x_low / s, total);
    if e_low <= e_high {
        let (f_low, f_high) = (sum_minus_e(e_low), sum_minus_e(e_high));
        if f_low <= 0.0 && f_high >= 0.0 {
            let e = if f_low == 0.0 {
                e_low
            } else {
                bisect(sum_minus_e, e_low, e_high, f_low, BISECTION_STEPS)
            };
            let x = s * e;
            let z = [0, 1, 2, 3].map(|q| larger(q, x, e));
            best.consider(z, u, s, Face::Four);
        }
    }
    // The smallest on the smaller root: x ≥ 1 and z_l ≥ 0 (x ≤ s(Σa − 2a_l)).
    let lo = if x_low > 1.0 { x_low } else { 1.0 };
    let hi = s * (total - 2.0 * u[l]);
    let p = |x: f64| {
        let mut acc = 0.0;
        for q in 0..GROUP {
            if q != l {
                acc += r(q, x);
            }
        }
        (acc + (x + x)) - 4.0
    };
    let q = |x: f64| r(l, x);
    isolate(p, q, lo, hi, ISOLATION_DEPTH, ISOLATION_VISITS, |x| {
        let mut z = [0, 1, 2, 3].map(|q| ((x - 1.0) + r(q, x)) / (2.0 * s));
        z[l] = (hi - x) / (s * ((x - 1.0) + r(l, x)));
        best.consider(z, u, s, Face::FourSmallerRoot);
    })
}

/// The proximal operator of s·r at v: `argmin_z ½‖z − v‖² + s·r(z)`, and which
/// support it has. `s` must be ≥ 0 and everything finite (the method checks; a NaN
/// here gives NaN out).
pub fn prox_group_report(v: [f64; GROUP], s: f64) -> ([f64; GROUP], ProxReport) {
    let mut report = ProxReport {
        face: Face::Two,
        isolation: Isolation::default(),
    };
    if s == 0.0 {
        report.face = Face::Identity;
        return (v, report);
    }
    let a = [v[0].abs(), v[1].abs(), v[2].abs(), v[3].abs()];
    let o = order(a);
    let top = a[o[0]];
    let sign = |z: [f64; GROUP]| {
        [
            z[0].copysign(v[0]),
            z[1].copysign(v[1]),
            z[2].copysign(v[2]),
            z[3].copysign(v[3]),
        ]
    };
    let mut two = [0.0; GROUP];
    two[o[0]] = a[o[0]];
    two[o[1]] = a[o[1]];
    let scaled = s * top;
    // A third nonzero needs one; beyond the limit the value is the s → ∞ one.
    let third = a[o[2]] > 0.0;
    let finite_regime = scaled < STRENGTH_LIMIT; // false on NaN too
    if !third || !finite_regime {
        return (sign(two), report);
    }
    let u = a.map(|x| x / top);
    let mut best = Best {
        z: two.map(|x| x / top),
        cost: 0.0,
        face: Face::Two,
    };
    best.cost = objective(best.z, u, scaled);
    three_nonzero(&mut best, u, scaled, o);
    if a[o[3]] > 0.0 {
        report.isolation = four_nonzero(&mut best, u, scaled, o);
    }
    report.face = best.face;
    let z = if best.face == Face::Two {
        two
    } else {
        best.z.map(|x| x * top)
    };
    (sign(z), report)
}

/// The proximal operator of s·r at v: `argmin_z ½‖z − v‖² + s·r(z)`. `s` must be ≥ 0
/// and everything finite (the method checks; a NaN here gives NaN out).
pub fn prox_group(v: [f64; GROUP], s: f64) -> [f64; GROUP] {
    prox_group_report(v, s).0
}

/// [`prox_group`] on every group of four of `w` (its length a multiple of 4), in place.
pub fn prox_groups(w: &mut [f64], s: f64) {
    w.par_chunks_exact_mut(GROUP).for_each(|g| {
        let z = prox_group([g[0], g[1], g[2], g[3]], s);
        g.copy_from_slice(&z);
    });
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
