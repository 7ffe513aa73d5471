// The persistent Hopper GEMM's walk over its work: MT row blocks × NT token tiles ×
// S split-K chunks, one unit each, dealt to the resident CTAs round-robin (unit u to
// CTA u % gridDim.x). The order keeps the working set in L2: the splits of one tile
// are adjacent, and the tiles go in bands of `band` token tiles, token tiles fastest
// within a band, then row blocks; the CTAs resident together cover about
// band token tiles × (CTAs / band) row blocks, so W is read once per band and X once
// per group of row blocks (the host picks `band`: SparseGemmPlan::band).
#pragma once
#include "sparse24_abi.cuh"

namespace s24::gemm {

// One unit: its output tile's first row and token, the tile's index (row-major over
// MT × NT: the split-K counters and partials), its split, the split's first k32 step
// and its stages (KS steps each), and the CTA's running number of its first stage
// (the X ring's slot and phase continue from one unit to the next).
struct Unit {
    unsigned m0, n0, tile, split, s_begin;
    int nst;
    unsigned it0;
};

template <int BM, int BN, int KS>
struct TileWalk {
    const GemmParams& p;
    unsigned nt, band, units, per_band;

    __device__ __forceinline__ TileWalk(const GemmParams& p_, unsigned band_)
        : p(p_), nt((p_.tokens + BN - 1) / BN), band(band_) {
        const unsigned mt = (p.out + BM - 1) / BM;
        units = mt * nt * p.splits;  // below 2^32: the plan checks
        per_band = band * mt;
    }

    // Unit u, its first stage the CTA's stage it0.
    __device__ __forceinline__ Unit at(unsigned u, unsigned it0) const {
        const unsigned t = u / p.splits, split = u % p.splits;
        const unsigned b = t / per_band, r = t % per_band;
        const unsigned first = b * band;
        const unsigned width = min(band, nt - first);  // the last band may be narrower
        const unsigned mb = r / width, nb = first + r % width;
        const unsigned s_begin = split * p.chunk_steps;
        const int nst = static_cast<int>(min(p.steps, s_begin + p.chunk_steps) - s_begin) / KS;
        return {mb * BM, nb * BN, mb * nt + nb, split, s_begin, nst, it0};
    }

    // f(unit) for this CTA's units in turn: blockIdx.x, + gridDim.x, ...
    template <class F>
    __device__ __forceinline__ void each(F&& f) const {
        unsigned it = 0;
#pragma unroll 1
        for (unsigned u = blockIdx.x; u < units; u += gridDim.x) {
            const Unit c = at(u, it);
            f(c);
            it += c.nst;
        }
    }
};

}  // namespace s24::gemm
