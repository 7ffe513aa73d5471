// The split-K reduction (grid.z > 1), deterministic: every CTA writes its f32 partial
// tile to the workspace, bumps a per-tile arrival counter after a fence; the last CTA
// to arrive sums the partials in split order 0..splits-1 (then applies the epilogue),
// and resets the counter to 0 so the workspace needs no memset between calls.
#pragma once
#include "sparse24_abi.cuh"
#include "tile.cuh"

namespace s24::gemm {

template <class T>
struct SplitK {
    // Every CTA: its partial into the workspace, then its arrival on the tile's counter
    // after a fence. Returns whether it arrived last (and then must sum the partials,
    // after zeroing acc, and reset the counter). Only the tiles this warp computed
    // (rows and tokens in range) go through the workspace: at 1..8 tokens that halves
    // the partial traffic. Shared by the decode tiles' batched sum (decode_split_k.cuh).
    __device__ static __forceinline__ bool arrive(const GemmParams& p, int tid, const Acc<T>& acc,
                                                  const bool (&mt_ok)[T::MT],
                                                  const bool (&nt_ok)[T::NT]) {
        constexpr int MT = T::MT, NT = T::NT, ACC4 = T::ACC4, THREADS = T::THREADS;
        __shared__ unsigned s_last;
        const unsigned tile = blockIdx.y * gridDim.x + blockIdx.x;
        float4* part = p.ws + (static_cast<size_t>(tile) * p.splits + blockIdx.z) * ACC4 * THREADS;
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j)
                if (mt_ok[i] && nt_ok[j])
                    part[(i * NT + j) * THREADS + tid] =
                        make_float4(acc[i][j][0], acc[i][j][1], acc[i][j][2], acc[i][j][3]);
        __threadfence();
        __syncthreads();
        if (tid == 0) {
            const unsigned prev = atomicAdd(&p.counters[tile], 1u);
            s_last = prev == p.splits - 1;
        }
        __syncthreads();
        if (!s_last) return false;
        __threadfence();
        return true;
    }

    // The last CTA, after its sum: the counter back to 0 for the next call.
    __device__ static __forceinline__ void reset(const GemmParams& p, int tid) {
        if (tid == 0) atomicExch(&p.counters[blockIdx.y * gridDim.x + blockIdx.x], 0u);
    }

    // Returns whether this CTA holds the tile's full sum in acc (it arrived last);
    // the others are done.
    __device__ static __forceinline__ bool reduce(const GemmParams& p, int tid,
                                                  Acc<T>& acc,
                                                  const bool (&mt_ok)[T::MT],
                                                  const bool (&nt_ok)[T::NT]) {
        constexpr int MT = T::MT, NT = T::NT, ACC4 = T::ACC4, THREADS = T::THREADS;
        if (!arrive(p, tid, acc, mt_ok, nt_ok)) return false;
        const unsigned tile = blockIdx.y * gridDim.x + blockIdx.x;
        zero<T>(acc);
        const float4* all = p.ws + static_cast<size_t>(tile) * p.splits * ACC4 * THREADS;
#pragma unroll 1
        for (unsigned z = 0; z < p.splits; ++z) {
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j) {
                    if (!(mt_ok[i] && nt_ok[j])) continue;
                    const float4 v = __ldcg(all + (z * ACC4 + i * NT + j) * THREADS + tid);
                    acc[i][j][0] += v.x;
                    acc[i][j][1] += v.y;
                    acc[i][j][2] += v.z;
                    acc[i][j][3] += v.w;
                }
        }
        reset(p, tid);
        return true;
    }
};

}  // namespace s24::gemm
