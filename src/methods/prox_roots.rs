//! One-dimensional root finding for the 2:4 proximal operator
//! ([`proximal_group`](super::proximal_group)): bisection, the roots of a function
//! whose derivative is monotone, and the isolation of every root of a difference of
//! two nondecreasing functions. Each has a fixed budget (the constants of
//! `proximal_group`, passed to kernels/proximal.cu as launch arguments) and the same
//! floating-point operations in the same order as the kernel, so both give the same
//! bits.

/// A root of `f` in `[lo, hi]` where `f(lo)` has the sign of `flo` and `f(hi)` the
/// other (or is zero): bisection for at most `steps` halvings, or until the midpoint
/// equals an end (the bracket is two adjacent floats). Returns the end on `flo`'s side.
pub(crate) fn bisect(
    f: impl Fn(f64) -> f64,
    mut lo: f64,
    mut hi: f64,
    flo: f64,
    steps: u32,
) -> f64 {
    let low_negative = flo < 0.0;
    for _ in 0..steps {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        let fm = f(mid);
        if fm != 0.0 && (fm < 0.0) == low_negative {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Every root of `g` on `[lo, hi]` where `g` is convex (`convex`, so `dg` is
/// nondecreasing) or concave (`dg` nonincreasing): at most two, one on each side of
/// the extremum (itself found by bisection on `dg`). Each root goes to `found`.
pub(crate) fn roots_of_convex_or_concave(
    g: impl Fn(f64) -> f64,
    dg: impl Fn(f64) -> f64,
    lo: f64,
    hi: f64,
    convex: bool,
    steps: u32,
    mut found: impl FnMut(f64),
) {
    let nonempty = hi > lo; // false on NaN too
    if !nonempty {
        return;
    }
    // `slope` is nondecreasing in both cases; its zero is g's extremum.
    let slope = |t: f64| if convex { dg(t) } else { -dg(t) };
    let (d0, d1) = (slope(lo), slope(hi));
    let mut ends = [lo, hi, hi];
    let mut pieces = 1;
    if d0 < 0.0 && d1 > 0.0 {
        ends[1] = bisect(slope, lo, hi, d0, steps);
        pieces = 2;
    }
    for p in 0..pieces {
        let (a, b) = (ends[p], ends[p + 1]);
        let (ga, gb) = (g(a), g(b));
        if ga == 0.0 {
            found(a);
        } else if gb == 0.0 {
            found(b);
        } else if (ga < 0.0) != (gb < 0.0) {
            found(bisect(&g, a, b, ga, steps));
        }
    }
}

/// How the cell-by-cell isolation of the roots ended.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Isolation {
    /// Cells examined.
    pub visits: u32,
    /// The visit budget ran out before every cell was examined (a root may have been
    /// missed; the tests assert this never happens on their inputs).
    pub exhausted: bool,
}

/// Every root of `p − q` on `[lo, hi]`, `p` and `q` both nondecreasing: the interval
/// is halved depth first, and a cell `[x0, x1]` is dropped when `p(x0) > q(x1)` or
/// `p(x1) < q(x0)` (then `p − q` cannot vanish in it). A cell still open at `depth`
/// halvings hands its midpoint to `found`: within (hi − lo)·2^−depth−1 of a root.
/// No stack: the cell is (depth, index), its ends computed from `lo` and `hi` exactly
/// the same way on the device.
pub(crate) fn isolate(
    p: impl Fn(f64) -> f64,
    q: impl Fn(f64) -> f64,
    lo: f64,
    hi: f64,
    depth: u32,
    visits: u32,
    mut found: impl FnMut(f64),
) -> Isolation {
    let mut out = Isolation::default();
    let nonempty = hi > lo; // false on NaN too
    if !nonempty {
        return out;
    }
    let width = hi - lo;
    let (mut level, mut index) = (0u32, 0u64);
    loop {
        if out.visits == visits {
            out.exhausted = true;
            return out;
        }
        out.visits += 1;
        let cells = (1u64 << level) as f64;
        let x0 = lo + width * (index as f64 / cells);
        let x1 = lo + width * ((index + 1) as f64 / cells);
        let open = !(p(x0) - q(x1) > 0.0 || p(x1) - q(x0) < 0.0);
        if open {
            if level < depth {
                level += 1;
                index *= 2;
                continue;
            }
            found(0.5 * (x0 + x1));
        }
        // The next cell depth first: up while this one is a right half, then across.
        while index & 1 == 1 {
            index >>= 1;
            level -= 1;
        }
        if level == 0 {
            return out;
        }
        index += 1;
    }
}
