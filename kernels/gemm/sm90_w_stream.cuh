// W for the Hopper GEMM's consumers, straight from global memory into registers (the
// wgmma.sp RS form): W is fragment-ordered (src/layout.rs, as for mma.sp, whose
// per-warp A fragment wgmma.sp takes unchanged: HARDWARE.md), so per k32 step each
// lane loads its 16 bytes of each of its 16-row tiles with one coalesced load, and per
// stage (two steps) one 32-bit metadata word: word j of a lane's 8-step metadata
// vector serves steps 8q + 2j (selector 0) and 8q + 2j + 1 (selector 1), exactly the
// two steps of one stage.
#pragma once
#include "../ptx.cuh"
#include "sparse24_abi.cuh"

namespace s24::gemm {

// One stage of one lane's W: MB row tiles × 2 k32 steps of A, one metadata word each.
template <class T>
struct WStage {
    uint4 a[T::MB][T::KS];
    unsigned m[T::MB];
};

// Keeps W registers alive (and unmoved) until the wgmma reading them has retired: the
// compiler sees the wgmma asm read them at issue, not until its wait_group.
template <class T>
__device__ __forceinline__ void hold(WStage<T>& s) {
#pragma unroll
    for (int h = 0; h < T::MB; ++h) {
#pragma unroll
        for (int t = 0; t < T::KS; ++t)
            asm volatile("" : "+r"(s.a[h][t].x), "+r"(s.a[h][t].y), "+r"(s.a[h][t].z), "+r"(s.a[h][t].w)::"memory");
        asm volatile("" : "+r"(s.m[h])::"memory");
    }
}

__device__ __forceinline__ unsigned ldg_nc_u32(const unsigned* p) {
    unsigned v;
    asm volatile("ld.global.nc.u32 %0, [%1];\n" : "=r"(v) : "l"(p));
    return v;
}

template <class T>
struct WStream {
    const uint4* ap[T::MB];     // lane's A at the next stage to load, per row tile
    const unsigned* mp[T::MB];  // lane's metadata vector of the next stage's group, as words
    int next;                   // the next stage to load

    // rt0: the warp's first 16-row tile; its MB row tiles are 4 apart (one per 64-row
    // wgmma block: warp w of a warpgroup owns rows 16w..16w+15 of each block). Row
    // tiles past the last row read row tile 0: computed, never stored. s_begin: the
    // first k32 step (a multiple of 8: split-K chunks are whole metadata groups).
    __device__ __forceinline__ WStream(const GemmParams& p, unsigned rt0, unsigned s_begin, int lane)
        : next(0) {
        const unsigned row_tiles = (p.out + 15) / 16;
        const unsigned groups = p.steps / 8;
#pragma unroll
        for (int h = 0; h < T::MB; ++h) {
            const unsigned rt = rt0 + 4 * h;
            const unsigned r = rt < row_tiles ? rt : 0;
            ap[h] = p.wv + (static_cast<size_t>(r) * p.steps + s_begin) * 32 + lane;
            mp[h] = reinterpret_cast<const unsigned*>(p.wm + (static_cast<size_t>(r) * groups + s_begin / 8) * 32 + lane);
        }
    }

    // The next stage (steps 2·next, 2·next + 1) into s; stages are loaded in order, so
    // the addresses advance by bumps instead of being recomputed.
    __device__ __forceinline__ void load_next(WStage<T>& s) {
        const int w = next % 4;  // metadata word of the stage in its 8-step group
#pragma unroll
        for (int h = 0; h < T::MB; ++h) {
#pragma unroll
            for (int t = 0; t < T::KS; ++t) s.a[h][t] = ldg_nc_v4(ap[h] + t * 32);
            s.m[h] = ldg_nc_u32(mp[h] + w);
            ap[h] += T::KS * 32;
            // After the group's fourth stage: the next 16-byte vector of the stream (32
            // lanes × 4 words further).
            if (w == 3) mp[h] += 128;
        }
        ++next;
    }
};

}  // namespace s24::gemm
