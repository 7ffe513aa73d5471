// The sm_90 decode tile's split-K reduction across a thread-block cluster, through
// distributed shared memory, deterministic and without a workspace: the cluster is
// the plan's splits along z (rank r holds split r). Ranks 1.. write their f32 partial
// tile to their own shared memory (each thread its accumulators, float4-strided so the
// writes are conflict-free), a cluster barrier publishes them, rank 0 loads every
// rank's partial (all loads issued before the adds) and adds them to its own in rank
// order; a second cluster barrier keeps the other CTAs (and their shared memory) alive
// until rank 0 has read them.
#pragma once
#include "../ptx_sm90.cuh"
#include "tile.cuh"

namespace s24::gemm {

// The most CTAs in a portable cluster (and so the most splits of the tile).
constexpr int kMaxClusterSplits = 8;

template <class T>
struct ClusterSplitK {
    static constexpr int ACC4 = T::ACC4, THREADS = T::THREADS;
    static constexpr int BYTES = ACC4 * THREADS * 16;  // one CTA's partial tile

    // Whether this CTA (rank 0) holds the full sum in acc. `buf`: BYTES of this CTA's
    // shared memory not in use (the drained W ring).
    __device__ static __forceinline__ bool reduce(unsigned char* buf, unsigned splits, int tid, Acc<T>& acc) {
        constexpr int MT = T::MT, NT = T::NT;
        float4* part = reinterpret_cast<float4*>(buf);
        const unsigned rank = sm90::cluster_ctarank();
        __syncthreads();  // every warp is done reading the W ring the partial overwrites
        if (rank != 0) {
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j)
                    part[(i * NT + j) * THREADS + tid] =
                        make_float4(acc[i][j][0], acc[i][j][1], acc[i][j][2], acc[i][j][3]);
        }
        sm90::cluster_sync();
        if (rank == 0) {
            const uint32_t mine = sm90::smem_u32(part + tid);
            float4 v[kMaxClusterSplits - 1][MT][NT];
#pragma unroll
            for (int r = 1; r < kMaxClusterSplits; ++r)
                if (r < static_cast<int>(splits)) {
                    const uint32_t theirs = sm90::mapa_shared(mine, r);
#pragma unroll
                    for (int i = 0; i < MT; ++i)
#pragma unroll
                        for (int j = 0; j < NT; ++j)
                            v[r - 1][i][j] = sm90::ld_shared_cluster_f4(theirs + (i * NT + j) * THREADS * 16);
                }
#pragma unroll
            for (int r = 1; r < kMaxClusterSplits; ++r)
                if (r < static_cast<int>(splits)) {
#pragma unroll
                    for (int i = 0; i < MT; ++i)
#pragma unroll
                        for (int j = 0; j < NT; ++j) {
                            acc[i][j][0] += v[r - 1][i][j].x;
                            acc[i][j][1] += v[r - 1][i][j].y;
                            acc[i][j][2] += v[r - 1][i][j].z;
                            acc[i][j][3] += v[r - 1][i][j].w;
                        }
                }
        }
        sm90::cluster_sync();
        return rank == 0;
    }
};

}  // namespace s24::gemm
