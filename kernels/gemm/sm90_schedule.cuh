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
// MT × NT: the split-K counters and partials) and its split.
struct Unit {
    unsigned m0, n0, tile, split;
};

template <int BM, int BN>
struct TileWalk {
    unsigned nt, splits, band, units, per_band;

    __device__ __forceinline__ TileWalk(const GemmParams& p, unsigned band_)
        : nt((p.tokens + BN - 1) / BN), splits(p.splits), band(band_) {
        const unsigned mt = (p.out + BM - 1) / BM;
        units = mt * nt * splits;  // below 2^32: the plan checks
        per_band = band * mt;
    }

    __device__ __forceinline__ Unit at(unsigned u) const {
        const unsigned t = u / splits;
        const unsigned b = t / per_band, r = t % per_band;
        const unsigned first = b * band;
        const unsigned width = min(band, nt - first);  // the last band may be narrower
        const unsigned mb = r / width, nb = first + r % width;
        return {mb * BM, nb * BN, mb * nt + nb, u % splits};
    }
};

}  // namespace s24::gemm
