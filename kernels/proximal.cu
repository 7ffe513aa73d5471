// proximal: the proximal operator of the 2:4 regulariser r(z) = Σ_{i<j<k} |z_i z_j z_k|
// on every group of four weights. src/methods/proximal_group.rs is the CPU version and
// the reference, and says why its candidates hold the global minimum;
// src/methods/prox_roots.rs has the root finders mirrored here.
//
// One thread per group: read four f64, scale by the largest magnitude, take the best
// of the two largest kept, the three-nonzero stationary points and the four-nonzero
// ones, write four f64 in place. Every product, quotient, sum and square root is an
// explicitly rounded intrinsic in the CPU version's order, so nvcc fuses nothing and
// the result is the CPU's bit for bit.
//
// Build (build.rs): nvcc -std=c++17 -O3 -fatbin -gencode sm_80/86/89/90 + compute_80.
#include <cstdint>

namespace {

__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double sub(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ double dvd(double a, double b) { return __ddiv_rn(a, b); }
// √max(y, 0).
__device__ __forceinline__ double root(double y) { return y > 0.0 ? __dsqrt_rn(y) : 0.0; }

struct Budget {
    uint32_t bisection_steps, isolation_depth, isolation_visits;
};

// prox_roots::bisect
template <class F>
__device__ double bisect(F f, double lo, double hi, double flo, uint32_t steps) {
    bool low_negative = flo < 0.0;
    for (uint32_t n = 0; n < steps; ++n) {
        double mid = mul(0.5, add(lo, hi));
        if (mid <= lo || mid >= hi) break;
        double fm = f(mid);
        if (fm != 0.0 && (fm < 0.0) == low_negative) lo = mid;
        else hi = mid;
    }
    return lo;
}

// prox_roots::roots_of_convex_or_concave
template <class G, class DG, class Found>
__device__ void roots_of_convex_or_concave(G g, DG dg, double lo, double hi, bool convex,
                                           uint32_t steps, Found found) {
    if (!(hi > lo)) return;
    auto slope = [&](double t) { return convex ? dg(t) : -dg(t); };
    double d0 = slope(lo), d1 = slope(hi);
    double ends[3] = {lo, hi, hi};
    int pieces = 1;
    if (d0 < 0.0 && d1 > 0.0) {
        ends[1] = bisect(slope, lo, hi, d0, steps);
        pieces = 2;
    }
    for (int p = 0; p < pieces; ++p) {
        double a = ends[p], b = ends[p + 1];
        double ga = g(a), gb = g(b);
        if (ga == 0.0) found(a);
        else if (gb == 0.0) found(b);
        else if ((ga < 0.0) != (gb < 0.0)) found(bisect(g, a, b, ga, steps));
    }
}

// prox_roots::isolate (depth-first halving without a stack).
template <class P, class Q, class Found>
__device__ void isolate(P p, Q q, double lo, double hi, uint32_t depth, uint32_t visits,
                        Found found) {
    if (!(hi > lo)) return;
    double width = sub(hi, lo);
    uint32_t level = 0, seen = 0;
    unsigned long long index = 0;
    for (;;) {
        if (seen == visits) return;
        ++seen;
        double cells = (double)(1ull << level);
        double x0 = add(lo, mul(width, dvd((double)index, cells)));
        double x1 = add(lo, mul(width, dvd((double)(index + 1), cells)));
        bool open = !(sub(p(x0), q(x1)) > 0.0 || sub(p(x1), q(x0)) < 0.0);
        if (open) {
            if (level < depth) {
                ++level;
                index *= 2;
                continue;
            }
            found(mul(0.5, add(x0, x1)));
        }
        while (index & 1) {
            index >>= 1;
            --level;
        }
        if (level == 0) return;
        ++index;
    }
}

__device__ __forceinline__ double objective(const double z[4], const double a[4], double s) {
    double d0 = sub(z[0], a[0]), d1 = sub(z[1], a[1]), d2 = sub(z[2], a[2]),
           d3 = sub(z[3], a[3]);
    double quad = mul(0.5, add(add(add(mul(d0, d0), mul(d1, d1)), mul(d2, d2)), mul(d3, d3)));
    double r = add(add(add(mul(mul(z[0], z[1]), z[2]), mul(mul(z[0], z[1]), z[3])),
                       mul(mul(z[0], z[2]), z[3])),
                   mul(mul(z[1], z[2]), z[3]));
    return add(quad, mul(s, r));
}

struct Best {
    double z[4];
    double cost;
    bool two;
    __device__ void consider(const double c[4], const double u[4], double s) {
        if (!(c[0] >= 0.0 && c[1] >= 0.0 && c[2] >= 0.0 && c[3] >= 0.0)) return;
        double f = objective(c, u, s);
        if (f < cost) {
            for (int n = 0; n < 4; ++n) z[n] = c[n];
            cost = f;
            two = false;
        }
    }
};

// proximal_group::three_nonzero
__device__ void three_nonzero(Best& best, const double u[4], double s, const int o[4],
                              Budget b) {
    int i = o[0], j = o[1], k = o[2];
    double d = mul(0.5, sub(u[i], u[j]));
    double m = mul(0.5, add(u[i], u[j]));
    auto zi = [&](double t) {
        double tau = mul(s, t);
        double common = dvd(m, add(1.0, tau));
        double split = d > 0.0 ? dvd(d, sub(1.0, tau)) : 0.0;
        return add(common, split);
    };
    auto zj = [&](double t) {
        double tau = mul(s, t);
        double common = dvd(m, add(1.0, tau));
        double split = d > 0.0 ? dvd(d, sub(1.0, tau)) : 0.0;
        return sub(common, split);
    };
    auto g = [&](double t) { return add(sub(t, u[k]), mul(s, mul(zi(t), zj(t)))); };
    auto dg = [&](double t) {
        double tau = mul(s, t);
        double p = add(1.0, tau), q = sub(1.0, tau);
        double du = dvd(-mul(mul(2.0, m), m), mul(mul(p, p), p));
        if (d > 0.0) du = sub(du, dvd(mul(mul(2.0, d), d), mul(mul(q, q), q)));
        return add(1.0, mul(mul(s, s), du));
    };
    double cap = dvd(u[j], mul(u[i], s));
    double top = u[k] < cap ? u[k] : cap;
    double rm = __dsqrt_rn(m), rd = __dsqrt_rn(d);
    double bend = dvd(dvd(sub(rm, rd), add(rm, rd)), s);
    auto take = [&](double t) {
        double z[4] = {0.0, 0.0, 0.0, 0.0};
        z[i] = zi(t);
        z[j] = zj(t);
        z[k] = t;
        best.consider(z, u, s);
    };
    double convex_end = bend < top ? bend : top;
    roots_of_convex_or_concave(g, dg, 0.0, convex_end, true, b.bisection_steps, take);
    if (bend < top)
        roots_of_convex_or_concave(g, dg, bend, top, false, b.bisection_steps, take);
}

// proximal_group::four_nonzero
__device__ void four_nonzero(Best& best, const double u[4], double s, const int o[4],
                             Budget b) {
    int l = o[3];
    double total = add(add(add(u[0], u[1]), u[2]), u[3]);
    double kappa[4];
    for (int q = 0; q < 4; ++q) kappa[q] = sub(1.0, mul(mul(2.0, s), sub(total, mul(2.0, u[q]))));
    auto r = [&](int q, double x) { return root(add(mul(x, x), kappa[q])); };
    double x_low = root(-kappa[l]);
    auto larger = [&](int q, double x, double e) {
        if (x < 1.0) return dvd(sub(add(add(u[q], u[q]), e), total), add(sub(1.0, x), r(q, x)));
        return dvd(add(sub(x, 1.0), r(q, x)), mul(2.0, s));
    };
    auto sum_minus_e = [&](double e) {
        double x = mul(s, e);
        return sub(add(add(add(larger(0, x, e), larger(1, x, e)), larger(2, x, e)),
                       larger(3, x, e)),
                   e);
    };
    double e_low = dvd(x_low, s), e_high = total;
    if (e_low <= e_high) {
        double f_low = sum_minus_e(e_low), f_high = sum_minus_e(e_high);
        if (f_low <= 0.0 && f_high >= 0.0) {
            double e = f_low == 0.0 ? e_low
                                    : bisect(sum_minus_e, e_low, e_high, f_low, b.bisection_steps);
            double x = mul(s, e);
            double z[4];
            for (int q = 0; q < 4; ++q) z[q] = larger(q, x, e);
            best.consider(z, u, s);
        }
    }
    double lo = x_low > 1.0 ? x_low : 1.0;
    double hi = mul(s, sub(total, mul(2.0, u[l])));
    auto p = [&](double x) {
        double acc = 0.0;
        for (int q = 0; q < 4; ++q)
            if (q != l) acc = add(acc, r(q, x));
        return sub(add(acc, add(x, x)), 4.0);
    };
    auto qf = [&](double x) { return r(l, x); };
    isolate(p, qf, lo, hi, b.isolation_depth, b.isolation_visits, [&](double x) {
        double z[4];
        for (int q = 0; q < 4; ++q) z[q] = dvd(add(sub(x, 1.0), r(q, x)), mul(2.0, s));
        z[l] = dvd(sub(hi, x), mul(s, add(sub(x, 1.0), r(l, x))));
        best.consider(z, u, s);
    });
}

}  // namespace

// w: [groups * 4] f64, replaced by the operator's value at strength s (f64 bits);
// limit (f64 bits): above s × the largest magnitude, the two largest kept (the
// s → ∞ value); the budgets: proximal_group's BISECTION_STEPS, ISOLATION_DEPTH,
// ISOLATION_VISITS.
extern "C" __global__ void proximal_groups(double* __restrict__ w, unsigned long long groups,
                                           unsigned long long s_bits,
                                           unsigned long long limit_bits,
                                           uint32_t bisection_steps, uint32_t isolation_depth,
                                           uint32_t isolation_visits) {
    unsigned long long g = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    double s = __longlong_as_double((long long)s_bits);
    double limit = __longlong_as_double((long long)limit_bits);
    Budget budget{bisection_steps, isolation_depth, isolation_visits};
    double* p = w + g * 4;
    double v[4] = {p[0], p[1], p[2], p[3]};
    if (s == 0.0) return;
    double a[4] = {fabs(v[0]), fabs(v[1]), fabs(v[2]), fabs(v[3])};
    // Largest first, the lower index first on ties (insertion sort, as the CPU's).
    int o[4] = {0, 1, 2, 3};
    for (int n = 1; n < 4; ++n)
        for (int q = n; q > 0 && a[o[q]] > a[o[q - 1]]; --q) {
            int t = o[q];
            o[q] = o[q - 1];
            o[q - 1] = t;
        }
    double top = a[o[0]];
    double two[4] = {0.0, 0.0, 0.0, 0.0};
    two[o[0]] = a[o[0]];
    two[o[1]] = a[o[1]];
    double scaled = mul(s, top);
    double z[4] = {two[0], two[1], two[2], two[3]};
    if (a[o[2]] > 0.0 && scaled < limit) {
        double u[4];
        Best best;
        for (int n = 0; n < 4; ++n) {
            u[n] = dvd(a[n], top);
            best.z[n] = dvd(two[n], top);
        }
        best.two = true;
        best.cost = objective(best.z, u, scaled);
        three_nonzero(best, u, scaled, o, budget);
        if (a[o[3]] > 0.0) four_nonzero(best, u, scaled, o, budget);
        if (!best.two)
            for (int n = 0; n < 4; ++n) z[n] = mul(best.z[n], top);
    }
    p[0] = copysign(z[0], v[0]);
    p[1] = copysign(z[1], v[1]);
    p[2] = copysign(z[2], v[2]);
    p[3] = copysign(z[3], v[3]);
}
