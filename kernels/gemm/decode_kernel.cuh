// The decode kernel body (tiles `decode8`, `decode16`): the SparseGemm of kernel.cuh
// with the parts that keep W bytes in flight at 1..16 tokens: the decode main loop
// (decode_mainloop.cuh: X resident per CTA, a ring of W register stages loaded
// evict-first) and the batched split-K reduction (decode_split_k.cuh). The tile shape,
// the W pointers, the X slots and fragments and the epilogue are kernel.cuh's.
//
//   T        Tile<WM, 1, MT, NT, 8, STAGES>: STAGES 8-step stages of X resident
//   E        s24::F16 or s24::BF16
//   MainLoop MainLoopDecode<APF>
#pragma once
#include "../elem.cuh"
#include "../ptx.cuh"
#include "decode_mainloop.cuh"
#include "decode_split_k.cuh"
#include "epilogue.cuh"
#include "tile.cuh"
#include "w_loader.cuh"
#include "x_pipeline.cuh"
#include "sparse24_abi.cuh"

namespace s24::gemm {

template <class T, class E, class MainLoop>
struct DecodeGemm {
    using Tile = T;
    static constexpr int THREADS = T::THREADS;
    static_assert(T::WN == 1, "a decode warp computes every token of the CTA");

    __device__ static void run(const GemmParams& p) {
        constexpr int MT = T::MT, NT = T::NT, KS = T::KS;
        unsigned char* smem = StaticSmem::template base<T::SMEM_BYTES>();
        const unsigned bx = RowFast::row_block();
        const unsigned by = RowFast::token_tile();
        const int tid = threadIdx.x;
        const int lane = tid & 31;
        const int wm = tid >> 5;
        const unsigned row_tiles = (p.out + 15) / 16;
        const unsigned rt0 = bx * (T::WM * MT) + wm * MT;
        const unsigned n_cta = by * T::BN;
        const unsigned s_begin = blockIdx.z * p.chunk_steps;
        const unsigned s_end = min(p.steps, s_begin + p.chunk_steps);
        const int nkb = static_cast<int>(s_end - s_begin) / KS;

        bool mt_ok[MT];
        const WLoader<T> w(p, row_tiles, p.steps / 8, rt0, s_begin, lane, mt_ok);
        bool nt_ok[NT];
#pragma unroll
        for (int j = 0; j < NT; ++j) nt_ok[j] = n_cta + 8 * j < p.tokens;
        const XStages<T> st(smem, 0, lane);

        Acc<T> acc;
        zero<T>(acc);
        MainLoop::template run<T, E::kBf16>(MainLoopCtx<T>{p, w, st, tid, nkb, n_cta, s_begin}, acc);

        if (p.splits > 1 && !DecodeSplitK<T>::reduce(p, tid, acc, mt_ok, nt_ok)) return;
        store_tile<T>(p, LinearEpilogue<E>{p}, smem, acc, tid, lane >> 2, lane & 3, wm, 0, bx, n_cta);
    }
};

}  // namespace s24::gemm
