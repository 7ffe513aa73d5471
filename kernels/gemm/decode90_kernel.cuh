// The sm_90 decode kernel body (tile `decode16c`): the decode tile of decode_kernel.cuh
// with W streamed by the bulk copy engine into a shared-memory ring on mbarriers
// (decode90_w_ring.cuh), split-K reduced across a thread-block cluster through
// distributed shared memory (decode90_split_k.cuh), and programmatic dependent launch:
// the first W stages are requested before `griddepcontrol.wait` (W is not the previous
// kernel's output), X, C and bias are read after it. X is resident per CTA as in
// decode_mainloop.cuh (restaged only when the CTA's k range is longer).
//
//   T      Tile<WM, 1, MT, NT, 8, STAGES>: STAGES 8-step stages of X resident
//   E      s24::F16 or s24::BF16
//   SLOTS  W ring slots (8-step stages in flight)
//
// Dynamic shared memory: [X stages / epilogue tile: T::SMEM_BYTES][W ring][mbarriers].
#pragma once
#include "../elem.cuh"
#include "../ptx.cuh"
#include "../ptx_sm90.cuh"
#include "decode90_split_k.cuh"
#include "decode90_w_ring.cuh"
#include "decode_w_ring.cuh"
#include "epilogue.cuh"
#include "mainloop.cuh"
#include "tile.cuh"
#include "x_pipeline.cuh"
#include "sparse24_abi.cuh"

namespace s24::gemm {

template <class T, class E, int SLOTS>
struct DecodeGemm90 {
    using Tile = T;
    using Ring = W90Ring<T, SLOTS>;
    static constexpr int THREADS = T::THREADS;
    static constexpr int SMEM_BYTES = T::SMEM_BYTES + Ring::BYTES + Ring::BAR_BYTES;
    static_assert(T::WN == 1, "a decode warp computes every token of the CTA");
    static_assert(T::SMEM_BYTES % 128 == 0, "the W ring starts 128-byte aligned");
    static_assert(ClusterSplitK<T>::BYTES <= Ring::BYTES, "the partial tile fits the drained ring");

    __device__ static void run(const GemmParams& p) {
        constexpr int STAGES = T::STAGES;
        sm90::griddep_launch_dependents();
        unsigned char* smem = DynamicSmem::template base<SMEM_BYTES>();
        const Ring ring(smem + T::SMEM_BYTES);
        const unsigned bx = RowFast::row_block();
        const unsigned by = RowFast::token_tile();
        const int tid = threadIdx.x;
        const int lane = tid & 31;
        const int wm = tid >> 5;
        const unsigned row_tiles = (p.out + 15) / 16;
        const unsigned rt_cta = bx * (T::WM * T::MT);
        const unsigned n_cta = by * T::BN;
        const unsigned s_begin = blockIdx.z * p.chunk_steps;
        const unsigned s_end = min(p.steps, s_begin + p.chunk_steps);
        const int nkb = static_cast<int>(s_end - s_begin) / 8;
        const unsigned long long pol = l2_evict_first_policy();

        if (tid == 0) ring.init(THREADS);
        __syncthreads();
        if (tid == 0)
            for (int s = 0; s < SLOTS && s < nkb; ++s) ring.issue(p, rt_cta, row_tiles, s_begin, s, pol);
        sm90::griddep_wait();

        const XStages<T> st(smem, 0, lane);
        const XCopyHoisted<T> xc(p, st, tid, nkb, n_cta, s_begin);
        auto stage_x = [&](int kb0) {
#pragma unroll
            for (int u = 0; u < STAGES; ++u) xc.load(kb0 + u);
            cp_async_wait<0>();
            __syncthreads();
        };
        Acc<T> acc;
        zero<T>(acc);
        stage_x(0);
#pragma unroll 1
        for (int kb = 0; kb < nkb; ++kb) {
            if (kb > 0 && kb % STAGES == 0) {
                __syncthreads();  // every warp is done with the X slots
                stage_x(kb);
            }
            AFrag<T::KS, T::MT> f;
            ring.read(kb, wm, lane, f);
            if (tid == 0) ring.refill(p, rt_cta, row_tiles, s_begin, kb, nkb, pol);
            mma_stage<T, E::kBf16>(acc, st, kb, f.a, f.m, 0);
        }

        if (p.splits > 1 && !ClusterSplitK<T>::reduce(smem + T::SMEM_BYTES, p.splits, tid, acc)) return;
        store_tile<T>(p, LinearEpilogue<E>{p}, smem, acc, tid, lane >> 2, lane & 3, wm, 0, bx, n_cta);
    }
};

}  // namespace s24::gemm

// The kernel entry of a DecodeGemm90 (dynamic shared memory: GEMM::SMEM_BYTES).
#define S24_DECODE90_KERNEL(NAME, GEMM, MIN_CTAS)                           \
    extern "C" __global__ void __launch_bounds__(GEMM::THREADS, MIN_CTAS)   \
        NAME(const __grid_constant__ GemmParams p) {                        \
        const GemmParams a = p;                                             \
        GEMM::run(a);                                                       \
    }
