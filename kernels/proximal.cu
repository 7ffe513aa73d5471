// proximal: the proximal operator of the 2:4 regulariser r(z) = Σ_{i<j<k} |z_i z_j z_k|
// on every group of four weights (src/methods/proximal_group.rs is the CPU version and
// the reference; the reasoning for its three candidates is written there).
//
// One thread per group: read four f64, pick the best of (the two largest kept), exact
// coordinate descent from |v|, and from |v| with its smallest entry zeroed; write four
// f64 in place. Every product and sum is an explicitly rounded intrinsic (__dmul_rn,
// __dadd_rn, __dsub_rn) in the CPU version's order, so nvcc fuses nothing and the
// result is the CPU's bit for bit.
//
// Build (build.rs): nvcc -std=c++17 -O3 -fatbin -gencode sm_80/86/89/90 + compute_80.
#include <cstdint>

namespace {

__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double sub(double a, double b) { return __dsub_rn(a, b); }

__device__ __forceinline__ double e2(double x, double y, double w) {
    return add(add(mul(x, y), mul(x, w)), mul(y, w));
}

struct Group {
    double z0, z1, z2, z3;
};

__device__ __forceinline__ double objective(Group z, Group a, double s) {
    double d0 = sub(z.z0, a.z0), d1 = sub(z.z1, a.z1), d2 = sub(z.z2, a.z2),
           d3 = sub(z.z3, a.z3);
    double quad = mul(0.5, add(add(add(mul(d0, d0), mul(d1, d1)), mul(d2, d2)), mul(d3, d3)));
    double r = add(add(add(mul(mul(z.z0, z.z1), z.z2), mul(mul(z.z0, z.z1), z.z3)),
                       mul(mul(z.z0, z.z2), z.z3)),
                   mul(mul(z.z1, z.z2), z.z3));
    return add(quad, mul(s, r));
}

__device__ __forceinline__ Group descend(Group z, Group a, double s, double tol,
                                         uint32_t sweeps) {
    for (uint32_t k = 0; k < sweeps; ++k) {
        double moved = 0.0;
        double n0 = fmax(sub(a.z0, mul(s, e2(z.z1, z.z2, z.z3))), 0.0);
        moved = fmax(moved, fabs(sub(n0, z.z0)));
        z.z0 = n0;
        double n1 = fmax(sub(a.z1, mul(s, e2(z.z0, z.z2, z.z3))), 0.0);
        moved = fmax(moved, fabs(sub(n1, z.z1)));
        z.z1 = n1;
        double n2 = fmax(sub(a.z2, mul(s, e2(z.z0, z.z1, z.z3))), 0.0);
        moved = fmax(moved, fabs(sub(n2, z.z2)));
        z.z2 = n2;
        double n3 = fmax(sub(a.z3, mul(s, e2(z.z0, z.z1, z.z2))), 0.0);
        moved = fmax(moved, fabs(sub(n3, z.z3)));
        z.z3 = n3;
        if (moved <= tol) break;
    }
    return z;
}

__device__ __forceinline__ double at(Group g, int i) {
    return i == 0 ? g.z0 : i == 1 ? g.z1 : i == 2 ? g.z2 : g.z3;
}

__device__ __forceinline__ Group with(Group g, int i, double v) {
    if (i == 0) g.z0 = v;
    else if (i == 1) g.z1 = v;
    else if (i == 2) g.z2 = v;
    else g.z3 = v;
    return g;
}

}  // namespace

// w: [groups * 4] f64, replaced by the operator's value at strength s (f64 bits);
// tol_frac (f64 bits): a sweep moving no coordinate by more than tol_frac × the
// group's largest magnitude ends the descent; sweeps: at most this many.
extern "C" __global__ void proximal_groups(double* __restrict__ w, unsigned long long groups,
                                           unsigned long long s_bits,
                                           unsigned long long tol_bits, uint32_t sweeps) {
    unsigned long long g = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    double s = __longlong_as_double((long long)s_bits);
    double tol_frac = __longlong_as_double((long long)tol_bits);
    double* p = w + g * 4;
    Group v{p[0], p[1], p[2], p[3]};
    Group a{fabs(v.z0), fabs(v.z1), fabs(v.z2), fabs(v.z3)};
    // The two largest (lower index wins ties) and the smallest (lower index wins).
    int best = 0;
    for (int i = 1; i < 4; ++i)
        if (at(a, i) > at(a, best)) best = i;
    int second = best == 0 ? 1 : 0;
    for (int i = 0; i < 4; ++i)
        if (i != best && at(a, i) > at(a, second)) second = i;
    int smallest = 3;
    for (int i = 3; i >= 0; --i)
        if (at(a, i) < at(a, smallest)) smallest = i;
    Group two{0.0, 0.0, 0.0, 0.0};
    two = with(two, best, at(a, best));
    two = with(two, second, at(a, second));
    Group z = two;
    double cost = objective(two, a, s);
    double top = at(a, best);
    if (s > 0.0 && top > 0.0) {
        double tol = mul(tol_frac, top);
        Group c = descend(a, a, s, tol, sweeps);
        double f = objective(c, a, s);
        if (f < cost) cost = f, z = c;
        Group c3 = descend(with(a, smallest, 0.0), a, s, tol, sweeps);
        f = objective(c3, a, s);
        if (f < cost) cost = f, z = c3;
    } else if (s == 0.0) {
        z = a;
    }
    p[0] = copysign(z.z0, v.z0);
    p[1] = copysign(z.z1, v.z1);
    p[2] = copysign(z.z2, v.z2);
    p[3] = copysign(z.z3, v.z3);
}
