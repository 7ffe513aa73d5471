// Shared helpers of the sparse24 kernels. The 2:4 code layout (first kept index in
// bits [1:0], second in [3:2], group j of a 16-column word at bits [4j+3:4j]) is
// defined in src/pattern.rs; these helpers implement exactly that.
#pragma once
#include <cstdint>

namespace s24 {

// The two kept positions of group j (0..3) of a 16-bit metadata word.
__device__ __forceinline__ void group_indices(unsigned word, int j, unsigned& a, unsigned& b) {
    unsigned code = (word >> (4 * j)) & 0xFu;
    a = code & 3u;
    b = code >> 2;
}

// Sum of one value per thread over a block of kThreads (a power of two), in a fixed
// tree order so results are bit-reproducible; every thread gets the total. `red` is
// kThreads values of shared memory.
template <int kThreads, typename T>
__device__ __forceinline__ T block_sum(T v, T* red) {
    red[threadIdx.x] = v;
    __syncthreads();
#pragma unroll
    for (int s = kThreads / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    return red[0];
}

// Σ partials[0..n) in f64 by one block: a strided sum per thread, then the tree of
// block_sum; the same order for any input, so the same bits on every run.
template <int kThreads>
__device__ __forceinline__ double ordered_sum_f64(const float* __restrict__ partials, unsigned n,
                                                  double* red) {
    double acc = 0.0;
    for (unsigned i = threadIdx.x; i < n; i += kThreads) acc += partials[i];
    return block_sum<kThreads>(acc, red);
}

}  // namespace s24
