// The epilogue: Y = act(alpha · D + beta · C + bias) in the output dtype, as a functor
// on one output element, and the CTA-level store that feeds it through shared memory.
// ACT_* and OUT_* come from sparse24_abi.cuh, generated from src/abi.rs.
#pragma once
#include "../elem.cuh"
#include "sparse24_abi.cuh"
#include "tile.cuh"

namespace s24::gemm {

__device__ __forceinline__ float activate(float v, unsigned act) {
    switch (act) {
        case ACT_RELU:
            return fmaxf(v, 0.0f);
        case ACT_GELU:
            return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        case ACT_SILU:
            return v / (1.0f + expf(-v));
        case ACT_GELU_ERF:
            return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
        default:
            return v;
    }
}

// The runtime epilogue of GemmParams (alpha, beta·C, bias, activation, output dtype)
// for inputs (C, bias) of element type E (s24::F16 or s24::BF16).
template <class E>
struct LinearEpilogue {
    const GemmParams& p;

    // Output element o = (token n, feature m) from the f32 product d.
    __device__ __forceinline__ void operator()(float d, size_t o, unsigned m) const {
        float v = p.alpha * d;
        if (p.c != nullptr) v += p.beta * load_elem<E>(p.c + o);
        if (p.bias != nullptr) v += load_elem<E>(p.bias + m);
        v = activate(v, p.act);
        if (p.out_dtype == OUT_F32) {
            static_cast<float*>(p.y)[o] = v;
        } else if (p.out_dtype == OUT_F16) {
            static_cast<unsigned short*>(p.y)[o] = static_cast<unsigned short>(F16::from_f(v));
        } else {
            static_cast<unsigned short*>(p.y)[o] = BF16::from_f_cvt(v);
        }
    }
};

// The f32 tile dt[n][m] (BN tokens × BM outputs, row stride STRIDE floats) of the
// outputs from (m0, n0) on, through the epilogue: consecutive threads (THREADS of them,
// tid from 0) take consecutive outputs m of one token n, so Y, C and bias accesses are
// coalesced; outputs past `out` or `tokens` are skipped.
template <int BM, int BN, int STRIDE, int THREADS, class Epi>
__device__ __forceinline__ void store_dt(const GemmParams& p, const Epi& epi, const float* dt, int tid,
                                         unsigned m0, unsigned n0) {
#pragma unroll 1
    for (int idx = tid; idx < BM * BN; idx += THREADS) {
        const unsigned ml = idx % BM;
        const unsigned nl = idx / BM;
        const unsigned m = m0 + ml;
        const unsigned n = n0 + nl;
        if (m >= p.out || n >= p.tokens) continue;
        epi(dt[nl * STRIDE + ml], static_cast<size_t>(n) * p.out + m, m);
    }
}

// The CTA's tile through shared memory: the f32 tile D[m][n] is stored as dt[n][m]
// (row stride BM + 4 floats: conflict-free for the fragment writes and the row
// reads), then consecutive threads handle consecutive outputs m of one token n, so Y,
// C and bias accesses are coalesced and the epilogue code is one small loop instead
// of an unrolled copy per accumulator. (g, t): the lane's place in the accumulator
// fragment (lane / 4, lane % 4).
template <class T, class Epi>
__device__ __forceinline__ void store_tile(const GemmParams& p, const Epi& epi, unsigned char* smem,
                                           const Acc<T>& acc, int tid, int g,
                                           int t, int wm, int wn, unsigned bx, unsigned n_cta) {
    constexpr int MT = T::MT, NT = T::NT, BM = T::BM, BN = T::BN, DT_STRIDE = T::DT_STRIDE;
    __syncthreads();  // every warp is done reading xs
    float* dt = reinterpret_cast<float*>(smem);
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
                const int ml = (wm * MT + i) * 16 + g + 8 * (r >> 1);
                const int nl = wn * NT * 8 + 8 * j + 2 * t + (r & 1);
                dt[nl * DT_STRIDE + ml] = acc[i][j][r];
            }
    __syncthreads();
    store_dt<BM, BN, DT_STRIDE, T::THREADS>(p, epi, dt, tid, bx * BM, n_cta);
}

}  // namespace s24::gemm
