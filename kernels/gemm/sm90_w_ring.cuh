// The SS form of the Hopper GEMM (tile W_SMEM, feature `hopper-ss`): W's compressed
// values reach shared memory through the bulk tensor copy engine, beside X, and the
// wgmma.sp read A from there through a descriptor; only W's metadata still streams
// into registers (the fragment-ordered metadata of sm90_w_stream.cuh). Kept to measure
// against the RS form (issue 18: which one the shared-memory bandwidth favours).
//
// W's values are row-major [out, in/2] (the host's Sparse24 order) under a second
// tensor map: per stage one box of BM rows × 32 compressed values (64 bytes, the
// 64-byte swizzle's row; out-of-bounds rows and columns read as zeros) into the W
// slot of the stage's X slot, both copies completing on the slot's one `full` mbarrier.
#pragma once
#include "../ptx_sm90.cuh"
#include "sm90_schedule.cuh"
#include "sm90_w_stream.cuh"
#include "sm90_x_ring.cuh"
#include "sparse24_abi.cuh"

namespace s24::gemm {

// The W slots, after the ring's X slots (1024-byte aligned: each slot and each 64-row
// block is a whole number of the 64-byte swizzle's 512-byte repeats).
template <class T>
struct WRing {
    unsigned char* slots;

    // The producer thread: as XRing::produce, each stage's X box and W box (rows m0..,
    // compressed columns k / 2 ..) on the slot's `full` barrier.
    __device__ __forceinline__ void produce(const XRing<T>& x, const void* x_map, const void* w_map,
                                            unsigned it0, int nst, unsigned k0, unsigned n0,
                                            unsigned m0) const {
#pragma unroll 1
        for (int kb = 0; kb < nst; ++kb) {
            const unsigned i = it0 + kb;
            const unsigned s = i % T::STAGES;
            if (i >= T::STAGES) sm90::mbar_wait(&x.empty[s], ((i / T::STAGES) - 1) & 1);
            sm90::mbar_arrive_expect_tx(&x.full[s], T::STAGE_BYTES + T::W_STAGE_BYTES);
            const int k = static_cast<int>(k0) + kb * T::K_STAGE;
            sm90::tma_load_2d(x.slots + s * T::STAGE_BYTES, x_map, &x.full[s], k, static_cast<int>(n0));
            sm90::tma_load_2d(slots + s * T::W_STAGE_BYTES, w_map, &x.full[s], k / 2, static_cast<int>(m0));
        }
    }

    // The A descriptor of slot 0, block 0, step 0; the others add to its address field.
    __device__ __forceinline__ uint64_t desc_base() const { return sm90::desc_kmajor_sw64(sm90::smem_u32(slots)); }

    // The A descriptor of 64-row block `blk` of the tile, k32 step t (0, 1) of stage i:
    // the block's 64 rows (64 × 64 bytes on), advanced by the step's 16 compressed
    // values (32 bytes) inside the 64-byte swizzle row. Below 256 KiB: no carry out of
    // the 14-bit address field.
    __device__ __forceinline__ static uint64_t desc(uint64_t base, unsigned i, int blk, int t) {
        return base + static_cast<uint64_t>((i % T::STAGES) * (T::W_STAGE_BYTES >> 4) + blk * (64 * 64 >> 4) +
                                            t * (32 >> 4));
    }
};

// One stage of one lane's W metadata: one word per row tile (both k32 steps: selectors
// 0 and 1).
template <class T>
struct WMetaStage {
    unsigned m[T::MB];
};

template <class T>
__device__ __forceinline__ void hold(WMetaStage<T>& s) {
#pragma unroll
    for (int h = 0; h < T::MB; ++h) asm volatile("" : "+r"(s.m[h])::"memory");
}

// The metadata part of WStream (sm90_w_stream.cuh: the same addresses and order).
template <class T>
struct WMetaStream {
    const unsigned* mp[T::MB];
    int next;

    __device__ __forceinline__ WMetaStream(const GemmParams& p, unsigned rt0, unsigned s_begin, int lane)
        : next(0) {
        const unsigned row_tiles = (p.out + 15) / 16;
        const unsigned groups = p.steps / 8;
#pragma unroll
        for (int h = 0; h < T::MB; ++h) {
            const unsigned rt = rt0 + 4 * h;
            const unsigned r = rt < row_tiles ? rt : 0;
            mp[h] = reinterpret_cast<const unsigned*>(p.wm + (static_cast<size_t>(r) * groups + s_begin / 8) * 32 + lane);
        }
    }

    __device__ __forceinline__ void load_next(WMetaStage<T>& s) {
        const int w = next % 4;
#pragma unroll
        for (int h = 0; h < T::MB; ++h) {
            s.m[h] = ldg_nc_u32(mp[h] + w);
            if (w == 3) mp[h] += 128;
        }
        ++next;
    }
};

// The SS consumers' main loop: as SparseGemm90::mainloop, A from the W slots.
template <class T, class E>
struct SsMainLoop {
    static constexpr int MB = T::MB, ND = T::ND;

    __device__ static __forceinline__ void run(const GemmParams& p, const XRing<T>& ring, const WRing<T>& wr,
                                               float (&acc)[MB][ND], const Unit& c, int cw, int w, int lane) {
        const int nst = c.nst;
        const unsigned it0 = c.it0;
        WMetaStream<T> ms(p, c.m0 / 16 + cw * MB * 4 + w, c.s_begin, lane);
#pragma unroll
        for (int h = 0; h < MB; ++h)
#pragma unroll
            for (int i = 0; i < ND; ++i) acc[h][i] = 0.0f;
        WMetaStage<T> b0, b1, b2;
        ms.load_next(b0);
        if (nst > 1) ms.load_next(b1);
        const uint64_t bdesc0 = ring.desc_base();
        const uint64_t adesc0 = wr.desc_base();
#pragma unroll 1
        for (int kb = 0; kb < nst; kb += 3) {
            step(ring, bdesc0, adesc0, ms, acc, b0, b2, kb, nst, it0, cw, lane);
            if (kb + 1 >= nst) break;
            step(ring, bdesc0, adesc0, ms, acc, b1, b0, kb + 1, nst, it0, cw, lane);
            if (kb + 2 >= nst) break;
            step(ring, bdesc0, adesc0, ms, acc, b2, b1, kb + 2, nst, it0, cw, lane);
        }
        sm90::wgmma_wait<0>();
#pragma unroll
        for (int h = 0; h < MB; ++h) sm90::fence_operands(acc[h]);
        ring.release(it0 + nst - 1, lane);
    }

    __device__ static __forceinline__ void step(const XRing<T>& ring, uint64_t bdesc0, uint64_t adesc0,
                                                WMetaStream<T>& ms, float (&acc)[MB][ND], WMetaStage<T>& cur,
                                                WMetaStage<T>& prev, int kb, int nst, unsigned it0, int cw,
                                                int lane) {
        const unsigned i = it0 + kb;
        ring.wait_full(i);
#pragma unroll
        for (int h = 0; h < MB; ++h) sm90::fence_operands(acc[h]);
        sm90::wgmma_fence();
#pragma unroll
        for (int t = 0; t < T::KS; ++t) {
            const uint64_t bdesc = XRing<T>::desc(bdesc0, i, t);
#pragma unroll
            for (int h = 0; h < MB; ++h) {
                const uint64_t adesc = WRing<T>::desc(adesc0, i, cw * MB + h, t);
                if (t == 0) {
                    sm90::wgmma_sp_ss_m64n128k32<E::kBf16, 0>(acc[h], adesc, bdesc, cur.m[h]);
                } else {
                    sm90::wgmma_sp_ss_m64n128k32<E::kBf16, 1>(acc[h], adesc, bdesc, cur.m[h]);
                }
            }
        }
        sm90::wgmma_commit();
        sm90::wgmma_wait<1>();
#pragma unroll
        for (int h = 0; h < MB; ++h) sm90::fence_operands(acc[h]);
        hold(prev);
        if (kb > 0) ring.release(i - 1, lane);
        if (kb + 2 < nst) ms.load_next(prev);
    }
};

}  // namespace s24::gemm
