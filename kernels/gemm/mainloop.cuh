// The main loop over k: the warp's MMAs of one pipeline stage, and the loop policies
// that order the X copies, the A prefetch and the MMAs. A policy is a type with
// `run<T, BF16>(ctx, acc)`; a new pipeline is a new policy, not a flag.
#pragma once
#include "../ptx.cuh"
#include "tile.cuh"
#include "w_loader.cuh"
#include "x_pipeline.cuh"

namespace s24::gemm {

// What a main loop works on: this thread's W streams and shared-memory stages, and
// its share of the X copy.
template <class T>
struct MainLoopCtx {
    const GemmParams& p;
    const WLoader<T>& w;
    const XStages<T>& st;
    int tid;
    int nkb;  // pipeline stages of this CTA's k range
    unsigned n_cta, s_begin;
};

// The warp's MMAs of stage kb: KS steps × MT row tiles × NT token tiles, from A
// values fa and metadata fm; w0 is the metadata word of the stage's first step.
template <class T, bool BF16>
__device__ __forceinline__ void mma_stage(Acc<T>& acc, const XStages<T>& st, int kb,
                                          const uint4 (&fa)[T::KS][T::MT],
                                          const uint4 (&fm)[T::MT], unsigned w0) {
    const unsigned base = st.slot_base(kb);
#pragma unroll
    for (int s = 0; s < T::KS; ++s) {
        unsigned b[T::NT][4];
        st.fragments(base, s, b);
#pragma unroll
        for (int i = 0; i < T::MT; ++i) {
            const unsigned e = pick_word(fm[i], w0 + s / 2);
#pragma unroll
            for (int j = 0; j < T::NT; ++j) {
                if (s & 1) {
                    mma_sp_16832<BF16, 1>(acc[i][j], fa[s][i], b[j], e);
                } else {
                    mma_sp_16832<BF16, 0>(acc[i][j], fa[s][i], b[j], e);
                }
            }
        }
    }
}

// A prefetched APF stages ahead into registers, one stage per loop step.
// APF = 1: two register buffers in turn (the loop unrolled twice), the metadata
// copied from stage to stage within a group. APF ≥ 2: APF + 1 buffers rotate (the
// loop unrolled APF + 1 times so every buffer index is a constant), each stage loads
// its own metadata.
template <int APF>
struct MainLoopPrefetchA {
    static_assert(APF >= 1, "A is prefetched at least one stage ahead");

    template <class T, bool BF16>
    __device__ static __forceinline__ void run(const MainLoopCtx<T>& c, Acc<T>& acc) {
        constexpr int STAGES = T::STAGES, KS = T::KS, MT = T::MT;
        const int nkb = c.nkb;
        const XCopy<T> xc{c.p, c.st, c.tid, nkb, c.n_cta, c.s_begin};
        auto compute = [&](int kb, const AFrag<KS, MT>& f) {
            mma_stage<T, BF16>(acc, c.st, kb, f.a, f.m, ((kb * KS) % 8) / 2);
        };
#pragma unroll
        for (int s = 0; s < STAGES - 1; ++s) xc.load(s);
        if constexpr (APF == 1) {
            // One pipeline step: wait for stage kb's X, refill the freed slot, prefetch
            // A of stage kb + 1, compute stage kb.
            auto step = [&](int kb, AFrag<KS, MT>& cur, AFrag<KS, MT>& nxt) {
                cp_async_wait<STAGES - 2>();
                __syncthreads();
                xc.load(kb + STAGES - 1);
                if (kb + 1 < nkb) c.w.template load<APF>(kb + 1, nxt, cur);
                compute(kb, cur);
            };
            AFrag<KS, MT> fa, fb;
            c.w.template load<APF>(0, fa, fa);
#pragma unroll 1
            for (int kb = 0; kb < nkb; kb += 2) {
                step(kb, fa, fb);
                if (kb + 1 < nkb) step(kb + 1, fb, fa);
            }
        } else {
            // Stage kb lives in fr[kb % (APF + 1)].
            AFrag<KS, MT> fr[APF + 1];
#pragma unroll
            for (int s = 0; s < APF; ++s)
                if (s < nkb) c.w.template load<APF>(s, fr[s], fr[s]);
#pragma unroll 1
            for (int kb = 0; kb < nkb; kb += APF + 1) {
#pragma unroll
                for (int u = 0; u <= APF; ++u) {
                    if (kb + u < nkb) {
                        cp_async_wait<STAGES - 2>();
                        __syncthreads();
                        xc.load(kb + u + STAGES - 1);
                        if (kb + u + APF < nkb)
                            c.w.template load<APF>(kb + u + APF, fr[(u + APF) % (APF + 1)], fr[u]);
                        compute(kb + u, fr[u]);
                    }
                }
            }
        }
    }
};

// The standard loop: A one stage ahead.
using MainLoopStandard = MainLoopPrefetchA<1>;

// A leaner loop (A one stage ahead): the per-thread parts of the X copy are hoisted
// out of the loop (XCopyHoisted), and the loop is unrolled over one 8-step metadata
// group (GS = 8 / KS stages), so the metadata word of every step is a compile-time
// choice and the metadata is loaded once per group into its own double buffer instead
// of being copied from stage to stage. For small warp tiles (32 × 32), where the
// per-stage bookkeeping would otherwise cost > 6 instructions per HMMA.SP.
struct MainLoopLean {
    template <class T, bool BF16>
    __device__ static __forceinline__ void run(const MainLoopCtx<T>& c, Acc<T>& acc) {
        constexpr int STAGES = T::STAGES, KS = T::KS, MT = T::MT, GS = T::GS;
        static_assert(GS % 2 == 0, "the lean loop needs KS = 2 or 4");
        const int nkb = c.nkb;
        const XCopyHoisted<T> xc(c.p, c.st, c.tid, nkb, c.n_cta, c.s_begin);
        // A and metadata pointers at the current group's first step, advanced by
        // one group per loop iteration (every load inside it has a constant offset).
        const uint4* ag[MT];
        const uint4* mg[MT];
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            ag[i] = c.w.ap[i];
            mg[i] = c.w.mp[i];
        }
        // Stage u of the current group (u = GS: the next group's first stage).
        auto load_vals = [&](int u, uint4 (&fa)[KS][MT]) {
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int s = 0; s < KS; ++s) fa[s][i] = ldg_nc_v4(ag[i] + (u * KS + s) * 32);
        };
#pragma unroll
        for (int s = 0; s < STAGES - 1; ++s) xc.load(s);
        // Two A value buffers (stage kb in va[kb % 2]: GS is even, so the parity
        // is a constant in the unrolled group); the metadata of the current group
        // and of the next (loaded with the A of the next group's first stage).
        uint4 va[2][KS][MT];
        uint4 mc[MT], mn[MT];
        load_vals(0, va[0]);
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            mc[i] = ldg_nc_v4(mg[i]);
            mn[i] = mc[i];  // copied, unused, after the last group
        }
#pragma unroll 1
        for (int kg = 0; kg < nkb; kg += GS) {
#pragma unroll
            for (int u = 0; u < GS; ++u) {
                const int kb = kg + u;
                if (kb < nkb) {
                    cp_async_wait<STAGES - 2>();
                    __syncthreads();
                    xc.load(kb + STAGES - 1);
                    if (kb + 1 < nkb) {
                        load_vals(u + 1, va[(u + 1) % 2]);
                        if (u == GS - 1)
#pragma unroll
                            for (int i = 0; i < MT; ++i) mn[i] = ldg_nc_v4(mg[i] + 32);
                    }
                    mma_stage<T, BF16>(acc, c.st, kb, va[u % 2], mc, (u * KS) / 2);
                }
            }
#pragma unroll
            for (int i = 0; i < MT; ++i) {
                mc[i] = mn[i];
                ag[i] += GS * KS * 32;
                mg[i] += 32;
            }
        }
    }
};

}  // namespace s24::gemm
