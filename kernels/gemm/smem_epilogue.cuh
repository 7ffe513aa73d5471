// The CTA's output through shared memory in WN passes, one warp column (BN / WN
// tokens) each: the f32 tile of the warps with wn = pass is written as dt[n][m] (row
// stride BM + 4 floats) and stored by all threads through epilogue.cuh's store_dt
// (coalesced Y, C and bias). Passes keep the epilogue tile inside the pipeline's
// shared memory for the wide tiles (a whole 256 × 128 f32 tile is 130 KiB).
#pragma once
#include "epilogue.cuh"
#include "tile.cuh"

namespace s24::gemm {

template <class T, class Epi>
__device__ __forceinline__ void store_tile_by_passes(const GemmParams& p, const Epi& epi,
                                                     unsigned char* smem, const Acc<T>& acc,
                                                     int tid, int g, int t, int wm, int wn,
                                                     unsigned bx, unsigned n_cta) {
    constexpr int MT = T::MT, NT = T::NT, BM = T::BM, DT_STRIDE = T::DT_STRIDE;
    constexpr int PT = T::PASS_TOKENS;
    float* dt = reinterpret_cast<float*>(smem);
#pragma unroll 1
    for (int pass = 0; pass < T::WN; ++pass) {
        __syncthreads();  // the pipeline's (or the previous pass's) reads are done
        if (wn == pass) {
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int ml = (wm * MT + i) * 16 + g + 8 * (r >> 1);
                        const int nl = 8 * j + 2 * t + (r & 1);
                        dt[nl * DT_STRIDE + ml] = acc[i][j][r];
                    }
        }
        __syncthreads();
        store_dt<BM, PT, DT_STRIDE, T::THREADS>(p, epi, dt, tid, bx * BM, n_cta + pass * PT);
    }
}

}  // namespace s24::gemm
