// The decode tiles' split-K reduction, deterministic and without a serial chain of L2
// round trips: every CTA writes its f32 partial tile to the workspace and bumps the
// tile's arrival counter after a fence (split_k.cuh's `arrive`); the last CTA to
// arrive issues the loads of a batch of BATCH partials (all of them when splits ≤
// BATCH) before it adds them, in split order 0..splits-1, starting from zero, so the
// bits do not depend on which CTA arrives last. It resets the counter for the next call.
#pragma once
#include "split_k.cuh"
#include "sparse24_abi.cuh"
#include "tile.cuh"

namespace s24::gemm {

template <class T>
struct DecodeSplitK {
    // Partials loaded before the adds: 16 float4 (64 registers) per thread.
    static constexpr int BATCH = 16 / T::ACC4;
    static_assert(BATCH >= 1, "a thread holds at most 16 float4 accumulators here");

    // Whether this CTA holds the tile's full sum in acc (it arrived last).
    __device__ static __forceinline__ bool reduce(const GemmParams& p, int tid, Acc<T>& acc,
                                                  const bool (&mt_ok)[T::MT],
                                                  const bool (&nt_ok)[T::NT]) {
        constexpr int MT = T::MT, NT = T::NT, ACC4 = T::ACC4, THREADS = T::THREADS;
        if (!SplitK<T>::arrive(p, tid, acc, mt_ok, nt_ok)) return false;
        const unsigned tile = blockIdx.y * gridDim.x + blockIdx.x;
        zero<T>(acc);
        const float4* all = p.ws + static_cast<size_t>(tile) * p.splits * ACC4 * THREADS + tid;
#pragma unroll 1
        for (unsigned z0 = 0; z0 < p.splits; z0 += BATCH) {
            float4 v[BATCH][MT][NT];
#pragma unroll
            for (int b = 0; b < BATCH; ++b)
#pragma unroll
                for (int i = 0; i < MT; ++i)
#pragma unroll
                    for (int j = 0; j < NT; ++j)
                        if (z0 + b < p.splits && mt_ok[i] && nt_ok[j])
                            v[b][i][j] = __ldcg(all + ((z0 + b) * ACC4 + i * NT + j) * THREADS);
#pragma unroll
            for (int b = 0; b < BATCH; ++b)
#pragma unroll
                for (int i = 0; i < MT; ++i)
#pragma unroll
                    for (int j = 0; j < NT; ++j)
                        if (z0 + b < p.splits && mt_ok[i] && nt_ok[j]) {
                            acc[i][j][0] += v[b][i][j].x;
                            acc[i][j][1] += v[b][i][j].y;
                            acc[i][j][2] += v[b][i][j].z;
                            acc[i][j][3] += v[b][i][j].w;
                        }
        }
        SplitK<T>::reset(p, tid);
        return true;
    }
};

}  // namespace s24::gemm
