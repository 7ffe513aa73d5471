// The fragment-ordered W loader: W (the sparse A operand) is stored in fragment order
// (src/layout.rs): for row tile rt (16 rows) and k32 step s, lane l holds its four A
// registers at uint4 index (rt·steps + s)·32 + l, so each warp fetches its fragment
// with one coalesced 16-byte `ld.global.nc` per lane per step, with no shared memory
// and no ldmatrix. Metadata: one 16-byte load per lane per 8 steps (uint4 index
// (rt·steps/8 + q)·32 + l); word j serves step 8q+2j with selector 0 and step 8q+2j+1
// with selector 1, so even steps issue SEL=0 and odd steps SEL=1 with the same
// register. A is prefetched into registers, one or more pipeline stages ahead.
#pragma once
#include "../ptx.cuh"
#include "sparse24_abi.cuh"

namespace s24::gemm {

// One prefetched pipeline stage of A: KS steps × MT row tiles, plus the metadata
// register of the 8-step group the stage lies in.
template <int KS, int MT>
struct AFrag {
    uint4 a[KS][MT];
    uint4 m[MT];
};

// Word w (0..3) of a metadata register.
__device__ __forceinline__ unsigned pick_word(const uint4& m, unsigned w) {
    return w == 0 ? m.x : (w == 1 ? m.y : (w == 2 ? m.z : m.w));
}

// The A (values) and metadata streams of one warp's MT row tiles from k32 step
// s_begin on. Row tiles past the last row (mt_ok false) read row tile 0: they are
// computed anyway and only their stores are skipped.
template <class T>
struct WLoader {
    static constexpr int MT = T::MT, KS = T::KS;
    const uint4* ap[MT];
    const uint4* mp[MT];

    // row_tiles: 16-row tiles of W; groups: 8-step metadata groups along k; rt0: the
    // warp's first row tile. mt_ok[i] (out): row tile rt0 + i exists. (An array of the
    // kernel's, not a member: as a member it cost 2-4 more SASS instructions in the
    // split-K path, ptxas of CUDA 13.0.)
    __device__ __forceinline__ WLoader(const GemmParams& p, unsigned row_tiles, unsigned groups,
                                       unsigned rt0, unsigned s_begin, int lane, bool (&mt_ok)[MT]) {
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            mt_ok[i] = rt0 + i < row_tiles;
            const unsigned rt = mt_ok[i] ? rt0 + i : 0;
            ap[i] = p.wv + (static_cast<size_t>(rt) * p.steps + s_begin) * 32 + lane;
            mp[i] = p.wm + (static_cast<size_t>(rt) * groups + s_begin / 8) * 32 + lane;
        }
    }

    // A (and its metadata) of stage kb into f. With APF = 1 the metadata is loaded at
    // 8-step group starts only and otherwise carried over from `prev`; with APF ≥ 2
    // (A prefetched APF stages ahead) every stage loads its own, as `prev` may still
    // be in flight.
    template <int APF>
    __device__ __forceinline__ void load(int kb, AFrag<KS, MT>& f, const AFrag<KS, MT>& prev) const {
#pragma unroll
        for (int i = 0; i < MT; ++i) {
#pragma unroll
            for (int s = 0; s < KS; ++s) f.a[s][i] = ldg_nc_v4(ap[i] + (kb * KS + s) * 32);
            if (APF > 1 || (kb * KS) % 8 == 0) {
                f.m[i] = ldg_nc_v4(mp[i] + (kb * KS / 8) * 32);
            } else {
                f.m[i] = prev.m[i];
            }
        }
    }
};

}  // namespace s24::gemm
