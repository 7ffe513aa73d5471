// The decode tiles' main loop: keep W bytes in flight. W runs APF 8-step stages ahead
// of the MMAs in a ring of APF + 1 register stages (the loop unrolled APF + 1 times so
// every ring index is a constant); X is not a per-stage ring: the CTA stages up to
// T::STAGES stages of it at once (its whole k range when the plan's split fits) with
// one wait and one barrier, and restages only when its k range is longer. The W loads
// of the first stages are issued before the X copy, so the two latencies overlap.
#pragma once
#include "../ptx.cuh"
#include "decode_w_ring.cuh"
#include "mainloop.cuh"
#include "x_pipeline.cuh"

namespace s24::gemm {

template <int APF>
struct MainLoopDecode {
    static_assert(APF >= 1, "W is loaded at least one stage ahead");

    template <class T, bool BF16>
    __device__ static __forceinline__ void run(const MainLoopCtx<T>& c, Acc<T>& acc) {
        constexpr int NB = APF + 1, STAGES = T::STAGES, KS = T::KS, MT = T::MT;
        const int nkb = c.nkb;
        const XCopyHoisted<T> xc(c.p, c.st, c.tid, nkb, c.n_cta, c.s_begin);
        const WRing<T> ring{c.w, l2_evict_first_policy()};
        // X stages kb0 .. kb0 + STAGES - 1 into their slots, then visible to every warp.
        auto stage_x = [&](int kb0) {
#pragma unroll
            for (int u = 0; u < STAGES; ++u) xc.load(kb0 + u);
            cp_async_wait<0>();
            __syncthreads();
        };
        AFrag<KS, MT> fr[NB];  // stage kb lives in fr[kb % NB]
#pragma unroll
        for (int s = 0; s < APF; ++s)
            if (s < nkb) ring.load(s, fr[s]);
        stage_x(0);
#pragma unroll 1
        for (int kb0 = 0; kb0 < nkb; kb0 += NB) {
#pragma unroll
            for (int u = 0; u < NB; ++u) {
                const int kb = kb0 + u;
                if (kb < nkb) {
                    // Refill the stage computed last (kb - 1) before anything waits.
                    if (kb + APF < nkb) ring.load(kb + APF, fr[(u + APF) % NB]);
                    if (kb > 0 && kb % STAGES == 0) {
                        __syncthreads();  // every warp is done with the slots
                        stage_x(kb);
                    }
                    mma_stage<T, BF16>(acc, c.st, kb, fr[u].a, fr[u].m, 0);
                }
            }
        }
    }
};

}  // namespace s24::gemm
