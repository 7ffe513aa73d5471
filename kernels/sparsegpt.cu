// sparsegpt: SparseGPT's row sweep for the 2:4 pattern (src/methods/sparsegpt.rs is the
// CPU version and the reference; the host computes H = XᵀX + λI and the upper Cholesky
// factor U of H⁻¹ once, on the CPU, and uploads U).
//
// Rows are independent given U: one warp per row, the row in shared memory (f64, as
// the CPU version computes). Column by column, left to right: at the first column of
// each group of four, lane 0 keeps the two weights with the largest w² / U[i][i]²
// (the OBS saliency on the weights as already updated; ties as prune::top_two: the
// lowest index wins); the column is fixed (kept or zeroed) and its error
// (w − q) / U[i][i] is pushed onto every column to its right through row i of U, the
// lanes sharing those columns. This is the unblocked form of the CPU version's lazy
// block updates: the same arithmetic on each element, in another order.
//
// Build (build.rs): nvcc -std=c++17 -O3 -fatbin -gencode sm_80/86/89/90 + compute_80.
#include <cstdint>

namespace {

// prune::top_two on four saliencies: keep bits of the best two (lowest index on
// ties), on scalars so nothing is indexed at run time (no local memory).
__device__ __forceinline__ unsigned top_two_bits(double s0, double s1, double s2, double s3) {
    int best = 0;
    double bv = s0;
    if (s1 > bv) best = 1, bv = s1;
    if (s2 > bv) best = 2, bv = s2;
    if (s3 > bv) best = 3, bv = s3;
    int second = best == 0 ? 1 : 0;
    double sv = best == 0 ? s1 : s0;
    if (best != 0 && s0 > sv) second = 0, sv = s0;
    if (best != 1 && s1 > sv) second = 1, sv = s1;
    if (best != 2 && s2 > sv) second = 2, sv = s2;
    if (best != 3 && s3 > sv) second = 3, sv = s3;
    return (1u << best) | (1u << second);
}

}  // namespace

// w: [rows, n] f64, updated in place (pruned weights on exit, zero where pruned);
// u: [n, n] f64 row-major, upper triangular; keep: [rows, n / 4] keep bits per group.
// One warp per CTA, one CTA per row; dynamic shared memory n doubles.
extern "C" __global__ void __launch_bounds__(32) sparsegpt_rows(double* __restrict__ w,
                                                                const double* __restrict__ u,
                                                                unsigned char* __restrict__ keep,
                                                                unsigned n) {
    extern __shared__ double row[];
    __shared__ unsigned s_bits;
    const unsigned lane = threadIdx.x;
    double* wr = w + static_cast<size_t>(blockIdx.x) * n;
    for (unsigned j = lane; j < n; j += 32) row[j] = wr[j];
    __syncwarp();
    unsigned bits = 0;
    for (unsigned i = 0; i < n; ++i) {
        if (i % 4 == 0) {
            if (lane == 0) {
                auto sal = [&](unsigned k) {
                    const double d = u[static_cast<size_t>(i + k) * n + i + k];
                    return row[i + k] * row[i + k] / (d * d);
                };
                s_bits = top_two_bits(sal(0), sal(1), sal(2), sal(3));
                keep[static_cast<size_t>(blockIdx.x) * (n / 4) + i / 4] = static_cast<unsigned char>(s_bits);
            }
            __syncwarp();
            bits = s_bits;
        }
        const double wi = row[i];
        const double q = (bits >> (i % 4)) & 1u ? wi : 0.0;
        const double* ui = u + static_cast<size_t>(i) * n;
        const double err = (wi - q) / ui[i];
        __syncwarp();  // every lane has read row[i] (and s_bits)
        if (lane == 0) row[i] = q;
        for (unsigned j = i + 1 + lane; j < n; j += 32) row[j] -= err * ui[j];
        __syncwarp();
    }
    for (unsigned j = lane; j < n; j += 32) wr[j] = row[j];
}
