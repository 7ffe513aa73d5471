// The shared-memory-staged sparse GEMM (the CUTLASS sm_80 tradition), composed from
// the smem_* parts:  Y[tokens, out] = act(alpha · X[tokens, in] · Wᵀ + beta · C + bias)
// on mma.sp::ordered_metadata m16n8k32, D = W · Xᵀ written transposed (as kernel.cuh).
//
//   smem_tile.cuh      the tile shape and its shared-memory map
//   smem_copy.cuh      each thread's cp.async share of a stage: X, W values, metadata
//   smem_mainloop.cuh  the pipeline and the warp's MMAs from shared-memory fragments
//   smem_epilogue.cuh  the output through shared memory, one warp column per pass
//   split_k.cuh        the deterministic split-K reduction (grid.z > 1), shared
//
// Unlike kernel.cuh's kernel, W is not loaded global → registers by every warp: the
// CTA copies each W chunk once per stage and the warps of a row block share it, and
// the loads the warps wait on are shared-memory loads of data copied STAGES - 1 stages
// earlier (bench/RESULTS.md: long-scoreboard stalls on the register path).
#pragma once
#include "../elem.cuh"
#include "../ptx.cuh"
#include "epilogue.cuh"
#include "smem_copy.cuh"
#include "smem_epilogue.cuh"
#include "smem_mainloop.cuh"
#include "smem_tile.cuh"
#include "sparse24_abi.cuh"
#include "split_k.cuh"
#include "tile.cuh"

namespace s24::gemm {

template <class T, class E, class Raster>
struct SmemGemm {
    using Tile = T;
    static constexpr int THREADS = T::THREADS;

    __device__ static void run(const GemmParams& p) {
        constexpr int MT = T::MT, NT = T::NT, KS = T::KS;
        unsigned char* smem = DynamicSmem::template base<T::SMEM_BYTES>();
        const unsigned bx = Raster::row_block();
        const unsigned by = Raster::token_tile();
        const int tid = threadIdx.x;
        const int lane = tid & 31;
        const int warp = tid >> 5;
        const int wm = warp % T::WM;
        const int wn = warp / T::WM;
        const unsigned row_tiles = (p.out + 15) / 16;
        const unsigned rt_cta = bx * T::RT;
        const unsigned rt0 = rt_cta + wm * MT;
        const unsigned n_cta = by * T::BN;
        const unsigned n_warp = n_cta + wn * NT * 8;
        const unsigned s_begin = blockIdx.z * p.chunk_steps;
        const unsigned s_end = min(p.steps, s_begin + p.chunk_steps);
        const int nkb = static_cast<int>(s_end - s_begin) / KS;

        // Tiles past the last row or token are computed (on row tile 0's W and the
        // zeros cp.async wrote for X) and only their stores are skipped, as in
        // kernel.cuh.
        bool mt_ok[MT];
#pragma unroll
        for (int i = 0; i < MT; ++i) mt_ok[i] = rt0 + i < row_tiles;
        bool nt_ok[NT];
#pragma unroll
        for (int j = 0; j < NT; ++j) nt_ok[j] = n_warp + 8 * j < p.tokens;

        const SmemCopy<T> cp(p, smem_u32(smem), tid, nkb, n_cta, rt_cta, row_tiles, s_begin);
        const SmemFragments<T> f(smem, wm, wn, lane);
        Acc<T> acc;
        zero<T>(acc);
        SmemMainLoop::template run<T, E::kBf16>(cp, f, nkb, acc);
        cp_async_wait<0>();

        if (p.splits > 1 && !SplitK<T>::reduce(p, tid, acc, mt_ok, nt_ok)) return;
        store_tile_by_passes<T>(p, LinearEpilogue<E>{p}, smem, acc, tid, lane >> 2, lane & 3, wm,
                                wn, bx, n_cta);
    }
};

}  // namespace s24::gemm
