// The sm_90 decode tile's W stream: the bulk copy engine moves each stage (8 k32 steps,
// one metadata group) of the CTA's fragment-ordered row tiles, contiguous per row tile
// (src/layout.rs: values 8 × 512 bytes, metadata 512 bytes), into a ring of SLOTS
// shared-memory slots, every copy completing on the slot's `full` mbarrier; the
// consumers' 16-byte reads of a step are 32 lanes × 16 consecutive bytes, so
// conflict-free. One thread (tid 0) issues the copies; a slot is refilled once all
// threads have read it into registers (its `empty` mbarrier), so SLOTS stages stay in
// flight while one is computed. W is read once per GEMM: the copies carry an L2
// evict-first policy.
#pragma once
#include "../ptx_sm90.cuh"
#include "decode_w_ring.cuh"
#include "tile.cuh"
#include "w_loader.cuh"
#include "sparse24_abi.cuh"

namespace s24::gemm {

template <class T, int SLOTS_>
struct W90Ring {
    static_assert(T::KS == 8 && T::WN == 1, "a stage is one 8-step metadata group per warp row tile");
    static constexpr int SLOTS = SLOTS_;
    static constexpr int ROW_TILES = T::WM * T::MT;  // per CTA
    static constexpr int VALUE_BYTES = T::KS * 512;  // one row tile's values of a stage
    static constexpr int TILE_BYTES = VALUE_BYTES + 512;
    static constexpr int STAGE_BYTES = ROW_TILES * TILE_BYTES;
    static constexpr int BYTES = SLOTS * STAGE_BYTES;  // the slots (the mbarriers follow)
    static constexpr int BAR_BYTES = 2 * SLOTS * 8;

    unsigned char* ring;
    uint64_t* full;
    uint64_t* empty;

    __device__ __forceinline__ explicit W90Ring(unsigned char* base)
        : ring(base),
          full(reinterpret_cast<uint64_t*>(base + BYTES)),
          empty(reinterpret_cast<uint64_t*>(base + BYTES) + SLOTS) {}

    // By one thread, before the CTA barrier that publishes them.
    __device__ __forceinline__ void init(unsigned threads) const {
#pragma unroll
        for (int s = 0; s < SLOTS; ++s) {
            sm90::mbar_init(&full[s], 1);
            sm90::mbar_init(&empty[s], threads);
        }
        sm90::fence_mbar_init();
    }

    // By the issuing thread: the copies of stage kb (k32 steps s_begin + 8kb ..) of
    // the CTA's row tiles rt0 .. rt0 + ROW_TILES - 1 (those past the last row copy row
    // tile 0: computed, never stored).
    __device__ __forceinline__ void issue(const GemmParams& p, unsigned rt0, unsigned row_tiles,
                                          unsigned s_begin, int kb, unsigned long long pol) const {
        const int slot = kb % SLOTS;
        uint64_t* bar = &full[slot];
        sm90::mbar_arrive_expect_tx(bar, STAGE_BYTES);
        const unsigned step = s_begin + 8u * static_cast<unsigned>(kb);
#pragma unroll
        for (int r = 0; r < ROW_TILES; ++r) {
            const unsigned rt = rt0 + r < row_tiles ? rt0 + r : 0u;
            unsigned char* dst = ring + slot * STAGE_BYTES + r * TILE_BYTES;
            const uint4* v = p.wv + (static_cast<size_t>(rt) * p.steps + step) * 32;
            const uint4* m = p.wm + (static_cast<size_t>(rt) * (p.steps / 8) + step / 8) * 32;
            sm90::bulk_copy_g2s(dst, v, VALUE_BYTES, bar, pol);
            sm90::bulk_copy_g2s(dst + VALUE_BYTES, m, 512, bar, pol);
        }
    }

    // By every thread: waits for stage kb, reads the warp's fragments of it (row tiles
    // wm·MT ..), then releases the slot.
    __device__ __forceinline__ void read(int kb, int wm, int lane, AFrag<T::KS, T::MT>& f) const {
        const int slot = kb % SLOTS;
        sm90::mbar_wait(&full[slot], static_cast<unsigned>(kb / SLOTS) & 1u);
#pragma unroll
        for (int i = 0; i < T::MT; ++i) {
            const unsigned char* t = ring + slot * STAGE_BYTES + (wm * T::MT + i) * TILE_BYTES + lane * 16;
#pragma unroll
            for (int s = 0; s < T::KS; ++s) f.a[s][i] = *reinterpret_cast<const uint4*>(t + s * 512);
            f.m[i] = *reinterpret_cast<const uint4*>(t + VALUE_BYTES);
        }
        sm90::mbar_arrive(&empty[slot]);
    }

    // By the issuing thread, after its own read of stage kb: once every thread has
    // read that slot, refill it with stage kb + SLOTS.
    __device__ __forceinline__ void refill(const GemmParams& p, unsigned rt0, unsigned row_tiles,
                                           unsigned s_begin, int kb, int nkb, unsigned long long pol) const {
        if (kb + SLOTS < nkb) {
            sm90::mbar_wait(&empty[kb % SLOTS], static_cast<unsigned>(kb / SLOTS) & 1u);
            issue(p, rt0, row_tiles, s_begin, kb + SLOTS, pol);
        }
    }
};

}  // namespace s24::gemm
