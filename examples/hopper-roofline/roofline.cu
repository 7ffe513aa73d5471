// The wgmma.sp roofline probe (issue 18; the GPU check's hopper-roofline phase): how
// fast wgmma.mma_async.sp m64nNk32 runs with nothing else in the way, A from registers
// (RS, the form of the Hopper GEMM) or from shared memory (SS, the form CUTLASS and
// cuSPARSELt use), N = 128 or 256, with or without the GEMM's W stream (16 bytes per
// lane per 64-row block per k32 step from global memory into the A registers).
//
// One CTA of two consumer warpgroups per SM; each warpgroup issues per k32 step the
// m64 blocks that make 128 rows × 128 tokens or 64 rows × 256 tokens (the same
// multiply-adds), one step's group kept in flight, as the GEMM does. B (and A for SS)
// is a fixed shared-memory tile (128B-swizzled K-major B; unswizzled K-major A):
// values do not matter here, only the rate; each thread writes the sum of its
// accumulators so nothing is optimised away.
//
// Build (pinned nvcc 13.0, from the repository root; roofline.ptx is committed and
// tests/hopper_roofline_sim.rs checks it is current):
//   nvcc -arch=sm_90a -std=c++17 -O3 -I kernels --ptx examples/hopper-roofline/roofline.cu \
//        -o examples/hopper-roofline/roofline.ptx
#include <cstdint>

#include "ptx_sm90.cuh"

using namespace s24::sm90;

namespace s24::roofline {

constexpr unsigned kMeta = 0x44444444u;  // every group keeps elements 0 and 1: legal

// N / 2 accumulators per m64 block; MB blocks per warpgroup (N = 128: 2, N = 256: 1).
template <int N>
struct Shape {
    static constexpr int MB = 256 / N, ND = N / 2;
    static constexpr int B_BYTES = N * 128;  // N token rows of 128 bytes (k 64)
    static constexpr int A_BYTES = MB * 64 * 32;  // MB × 64 rows × 16 stored elements
};

__device__ __forceinline__ uint64_t desc_a_kmajor(uint32_t addr) {
    // K-major, no swizzle: core matrices of 8 rows × 16 bytes; LBO (the K direction) 128
    // bytes, SBO (the next 8 rows) 256 bytes.
    return static_cast<uint64_t>((addr >> 4) & 0x3FFF) | (static_cast<uint64_t>(128 >> 4) << 16) |
           (static_cast<uint64_t>(256 >> 4) << 32);
}

template <int N, bool SS>
__device__ __forceinline__ void issue(float (&acc)[Shape<N>::MB][Shape<N>::ND], const uint4 (&a)[Shape<N>::MB],
                                      unsigned e, uint64_t adesc, uint64_t bdesc) {
#pragma unroll
    for (int h = 0; h < Shape<N>::MB; ++h) {
        if constexpr (SS) {
            const uint64_t ad = adesc + static_cast<uint64_t>(h * (64 * 32 >> 4));
            if constexpr (N == 128) {
                wgmma_sp_ss_m64n128k32<true, 0>(acc[h], ad, bdesc, e);
            } else {
                wgmma_sp_ss_m64n256k32<true, 0>(acc[h], ad, bdesc, e);
            }
        } else {
            if constexpr (N == 128) {
                wgmma_sp_rs_m64n128k32<true, 0>(acc[h], a[h], bdesc, e);
            } else {
                wgmma_sp_rs_m64n256k32<true, 0>(acc[h], a[h], bdesc, e);
            }
        }
    }
}

// Keeps a buffer's A and metadata registers unmoved (and not rematerialised) until the
// wgmma reading them has retired: in flight, no instruction may name them.
template <int N>
__device__ __forceinline__ void hold(uint4 (&a)[Shape<N>::MB], unsigned& e) {
#pragma unroll
    for (int h = 0; h < Shape<N>::MB; ++h) asm volatile("" : "+r"(a[h].x), "+r"(a[h].y), "+r"(a[h].z), "+r"(a[h].w)::"memory");
    asm volatile("" : "+r"(e)::"memory");
}

// The metadata word as a value the compiler cannot re-create with a `mov` while a wgmma
// naming its register is in flight.
__device__ __forceinline__ unsigned opaque(unsigned v) {
    asm volatile("" : "+r"(v));
    return v;
}

// w: the W stream (nullptr: none), w_mask + 1 uint4 (a power of two) wrapped around.
template <int N, bool SS>
__device__ void roofline(const uint4* w, unsigned w_mask, int iters, float* out) {
    using S = Shape<N>;
    __shared__ __align__(1024) unsigned char b_tile[S::B_BYTES];
    __shared__ __align__(128) unsigned char a_tile[S::A_BYTES];
    const int tid = threadIdx.x;
    // Small integers through the generic proxy, then made visible to the async proxy.
    for (int i = tid; i < S::B_BYTES / 4; i += blockDim.x)
        reinterpret_cast<uint32_t*>(b_tile)[i] = 0x3f803f80u;  // bf16 1.0, 1.0
    for (int i = tid; i < S::A_BYTES / 4; i += blockDim.x) reinterpret_cast<uint32_t*>(a_tile)[i] = 0x3f003f00u;
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();

    const uint64_t b0 = desc_kmajor_sw128(smem_u32(b_tile));
    const uint64_t adesc = desc_a_kmajor(smem_u32(a_tile));
    float acc[S::MB][S::ND];
#pragma unroll
    for (int h = 0; h < S::MB; ++h)
#pragma unroll
        for (int i = 0; i < S::ND; ++i) acc[h][i] = 0.0f;
    uint4 a0[S::MB], a1[S::MB];
    unsigned e0 = opaque(kMeta), e1 = opaque(kMeta);
#pragma unroll
    for (int h = 0; h < S::MB; ++h) a0[h] = a1[h] = make_uint4(0x3f803f80u, 0x3f803f80u, 0x3f803f80u, tid);
    const unsigned lane_vec = (blockIdx.x * blockDim.x + tid) * S::MB;
#pragma unroll 1
    for (int it = 0; it < iters; it += 2) {
        // Step it on a0 (and B row offset 0), step it + 1 on a1 (offset 64 bytes); each
        // reloads the other buffer once the wait retired the group that read it.
        fence_operands(acc[0]);
        wgmma_fence();
        issue<N, SS>(acc, a0, e0, adesc, b0);
        wgmma_commit();
        wgmma_wait<1>();
        hold<N>(a1, e1);
        if (w != nullptr)
#pragma unroll
            for (int h = 0; h < S::MB; ++h) a1[h] = __ldg(w + ((lane_vec + (it + 1) * 4096 + h) & w_mask));
        wgmma_fence();
        issue<N, SS>(acc, a1, e1, adesc, b0 + (64 >> 4));
        wgmma_commit();
        wgmma_wait<1>();
        hold<N>(a0, e0);
        if (w != nullptr)
#pragma unroll
            for (int h = 0; h < S::MB; ++h) a0[h] = __ldg(w + ((lane_vec + (it + 2) * 4096 + h) & w_mask));
    }
    wgmma_wait<0>();
    float sum = 0.0f;
#pragma unroll
    for (int h = 0; h < S::MB; ++h) {
        fence_operands(acc[h]);
#pragma unroll
        for (int i = 0; i < S::ND; ++i) sum += acc[h][i];
    }
    out[blockIdx.x * blockDim.x + tid] = sum;
}

}  // namespace s24::roofline

using namespace s24::roofline;

#define ROOFLINE(NAME, N, SS)                                                                       \
    extern "C" __global__ void __launch_bounds__(256, 1)                                            \
        NAME(const uint4* w, unsigned w_mask, int iters, float* out) {                              \
        roofline<N, SS>(w, w_mask, iters, out);                                                     \
    }

ROOFLINE(roofline_rs_n128, 128, false)
ROOFLINE(roofline_rs_n256, 256, false)
ROOFLINE(roofline_ss_n128, 128, true)
ROOFLINE(roofline_ss_n256, 256, true)
