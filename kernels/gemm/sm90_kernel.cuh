// The warp-specialised sparse GEMM for Hopper (sm_90a), composed from the parts in this
// folder:  Y[tokens, out] = act(alpha · X[tokens, in] · Wᵀ + beta · C + bias)
// on wgmma.mma_async.sp m64nNk32 (bf16/f16 in, f32 accumulate).
//
//   warpgroup 0      the producer: gives back registers, one thread streams X boxes
//                    (k 64 × BN tokens) into the ring (sm90_x_ring.cuh)
//   warpgroups 1..C  consumers: take registers, stream W into a register ring
//                    (sm90_w_stream.cuh, APF stages ahead), and per stage issue
//                    MB × 2 wgmma.sp (A from registers, B = the X slot), keeping one
//                    stage's group in flight; then the epilogue through shared
//                    memory (as the sm_80 kernel: coalesced Y, C, bias).
//   the SS form      (Tile90 W_SMEM, feature `hopper-ss`): the producer also copies
//                    W's compressed values into a W slot per stage and the consumers
//                    read A from there (sm90_w_ring.cuh); only metadata in registers.
//
// D = W · Xᵀ: W is the sparse A operand, Xᵀ the K-major B operand; D is written
// transposed so Y stays [tokens, out]. Persistent: about one CTA per SM walks the
// units (output tile × split) in sm90_schedule.cuh's order, the X ring running on
// across units. Split-K (few output tiles: 64-512 tokens) is reduced deterministically
// as the sm_80 kernel does (split_k.cuh's scheme: partials in the workspace, the last
// CTA of a tile sums them in split order).
#pragma once
#include "../elem.cuh"
#include "../ptx_sm90.cuh"
#include "epilogue.cuh"
#include "sm90_schedule.cuh"
#include "sm90_tile.cuh"
#include "sm90_w_ring.cuh"
#include "sm90_w_stream.cuh"
#include "sm90_x_ring.cuh"
#include "sparse24_abi.cuh"

namespace s24::gemm {

template <class T, class E>
struct SparseGemm90 {
    using Tile = T;
    static constexpr int THREADS = T::THREADS;
    static constexpr int MB = T::MB, ND = T::ND;
    static_assert(T::APF == 2, "the consumer loop rotates three W stages");

    __device__ static void run(const Gemm90Params& pp) {
        const GemmParams& p = pp.g;
        extern __shared__ __align__(1024) unsigned char dyn_smem[];
        __shared__ __align__(8) uint64_t full[T::STAGES], empty[T::STAGES];
        // The swizzle's 1024-byte repeat, whatever the base the launch gave.
        const unsigned base = sm90::smem_u32(dyn_smem);
        unsigned char* smem = dyn_smem + (((base + 1023) & ~1023u) - base);
        const XRing<T> ring{smem, full, empty};
        const WRing<T> wring{smem + T::X_BYTES};
        float* dt = reinterpret_cast<float*>(smem + T::X_BYTES + T::W_BYTES);
        const TileWalk<T::BM, T::BN, T::KS> walk(p, pp.band);
        const int wg = threadIdx.x / 128;

        if (threadIdx.x == 0) ring.init();
        __syncthreads();

        // Persistent: each CTA walks its units, producer and consumers in the same order.
        if (wg == 0) {
            sm90::setmaxnreg_dec<T::PRODUCER_REGS>();
            if (threadIdx.x == 0) {
                if constexpr (T::W_SMEM) {
                    walk.each([&](const Unit& c) {
                        wring.produce(ring, &pp.x_map, &pp.w_map, c.it0, c.nst, c.s_begin * 32, c.n0, c.m0);
                    });
                } else {
                    walk.each([&](const Unit& c) { ring.produce(&pp.x_map, c.it0, c.nst, c.s_begin * 32, c.n0); });
                }
            }
            return;
        }
        sm90::setmaxnreg_inc<T::CONSUMER_REGS>();
        const int cw = wg - 1;
        const int ctid = threadIdx.x - 128;
        const int lane = threadIdx.x & 31;
        const int w = (threadIdx.x / 32) & 3;
        walk.each([&](const Unit& c) {
            float acc[MB][ND];
            if constexpr (T::W_SMEM) {
                SsMainLoop<T, E>::run(p, ring, wring, acc, c, cw, w, lane);
            } else {
                mainloop(p, ring, acc, c, cw, w, lane);
            }
            if (p.splits > 1 && !reduce_splits(p, acc, c, ctid)) return;
            store(p, dt, acc, ctid, cw, w, lane, c.m0, c.n0);
        });
    }

    // One unit's K range into acc: W from its rows' stream, X from the ring's stages
    // it0 .. it0 + nst - 1, every one of which is released by the end.
    __device__ static __forceinline__ void mainloop(const GemmParams& p, const XRing<T>& ring,
                                                    float (&acc)[MB][ND], const Unit& c, int cw,
                                                    int w, int lane) {
        const int nst = c.nst;
        const unsigned it0 = c.it0;
        WStream<T> ws(p, c.m0 / 16 + cw * MB * 4 + w, c.s_begin, lane);
#pragma unroll
        for (int h = 0; h < MB; ++h)
#pragma unroll
            for (int i = 0; i < ND; ++i) acc[h][i] = 0.0f;

        // W of stages 0 and 1, then three rotating buffers (names, not an indexed array:
        // every register index stays a compile-time constant).
        WStage<T> b0, b1, b2;
        ws.load_next(b0);
        if (nst > 1) ws.load_next(b1);
        const uint64_t desc0 = ring.desc_base();
#pragma unroll 1
        for (int kb = 0; kb < nst; kb += 3) {
            step(ring, desc0, ws, acc, b0, b2, kb, nst, it0, lane);
            if (kb + 1 >= nst) break;
            step(ring, desc0, ws, acc, b1, b0, kb + 1, nst, it0, lane);
            if (kb + 2 >= nst) break;
            step(ring, desc0, ws, acc, b2, b1, kb + 2, nst, it0, lane);
        }
        sm90::wgmma_wait<0>();
#pragma unroll
        for (int h = 0; h < MB; ++h) sm90::fence_operands(acc[h]);
        ring.release(it0 + nst - 1, lane);
    }

    // Split-K: every CTA writes its f32 partial tile to the workspace (thread-major:
    // consecutive consumer threads, consecutive floats), then bumps the tile's arrival
    // counter after a fence; the last to arrive sums all partials in split order
    // 0..splits-1 (the same bits whatever the CTA order) and resets the counter to 0.
    // Returns whether this CTA holds the sum (and stores the tile).
    __device__ static __forceinline__ bool reduce_splits(const GemmParams& p, float (&acc)[MB][ND],
                                                         const Unit& c, int ctid) {
        constexpr int N = T::CONSUMER_THREADS, PER = MB * ND;
        __shared__ unsigned s_last;
        const unsigned tile = c.tile;
        float* all = reinterpret_cast<float*>(p.ws) + static_cast<size_t>(tile) * p.splits * PER * N;
        float* mine = all + static_cast<size_t>(c.split) * PER * N;
#pragma unroll
        for (int h = 0; h < MB; ++h)
#pragma unroll
            for (int i = 0; i < ND; ++i) mine[(h * ND + i) * N + ctid] = acc[h][i];
        __threadfence();
        sm90::named_barrier(1, N);
        if (ctid == 0) s_last = atomicAdd(&p.counters[tile], 1u) == p.splits - 1;
        sm90::named_barrier(1, N);
        if (!s_last) return false;
        __threadfence();
#pragma unroll
        for (int h = 0; h < MB; ++h)
#pragma unroll
            for (int i = 0; i < ND; ++i) acc[h][i] = 0.0f;
#pragma unroll 1
        for (unsigned z = 0; z < p.splits; ++z) {
            const float* part = all + static_cast<size_t>(z) * PER * N;
#pragma unroll
            for (int h = 0; h < MB; ++h)
#pragma unroll
                for (int i = 0; i < ND; ++i) acc[h][i] += __ldcg(part + (h * ND + i) * N + ctid);
        }
        if (ctid == 0) atomicExch(&p.counters[tile], 0u);
        return true;
    }

    // Stage kb of the unit (the ring's stage it0 + kb): wait for its X, issue its
    // wgmmas on W `cur`, keep them in flight while the previous stage's retire; then
    // release the previous stage's slot and refill its W registers (`prev`) with
    // stage kb + 2.
    __device__ static __forceinline__ void step(const XRing<T>& ring, uint64_t desc0, WStream<T>& ws,
                                                float (&acc)[MB][ND], WStage<T>& cur,
                                                WStage<T>& prev, int kb, int nst, unsigned it0,
                                                int lane) {
        const unsigned i = it0 + kb;
        ring.wait_full(i);
#pragma unroll
        for (int h = 0; h < MB; ++h) sm90::fence_operands(acc[h]);
        sm90::wgmma_fence();
#pragma unroll
        for (int t = 0; t < T::KS; ++t) {
            const uint64_t desc = XRing<T>::desc(desc0, i, t);
#pragma unroll
            for (int h = 0; h < MB; ++h) {
                if (t == 0) {
                    sm90::wgmma_sp_rs_m64n128k32<E::kBf16, 0>(acc[h], cur.a[h][t], desc, cur.m[h]);
                } else {
                    sm90::wgmma_sp_rs_m64n128k32<E::kBf16, 1>(acc[h], cur.a[h][t], desc, cur.m[h]);
                }
            }
        }
        sm90::wgmma_commit();
        sm90::wgmma_wait<1>();
#pragma unroll
        for (int h = 0; h < MB; ++h) sm90::fence_operands(acc[h]);
        hold(prev);
        if (kb > 0) ring.release(i - 1, lane);
        if (kb + 2 < nst) ws.load_next(prev);  // stage kb + 2
    }

    // The consumers' tile through shared memory, EPI_TOKENS tokens at a time (the
    // buffer after the ring, which the producer may already be refilling): D[m][n]
    // stored as dt[n][m], then each consumer thread takes consecutive outputs m of one
    // token n through the runtime epilogue.
    __device__ static __forceinline__ void store(const GemmParams& p, float* dt,
                                                 const float (&acc)[MB][ND], int ctid, int c,
                                                 int w, int lane, unsigned m0, unsigned n0) {
        constexpr int BM = T::BM, DT_STRIDE = T::DT_STRIDE, CH = T::EPI_TOKENS;
        const int g = lane >> 2, t = lane & 3;
#pragma unroll
        for (int q = 0; q < T::BN / CH; ++q) {
            sm90::named_barrier(1, T::CONSUMER_THREADS);  // the buffer's last readers are done
#pragma unroll
            for (int h = 0; h < MB; ++h)
#pragma unroll
                for (int j = q * CH / 8; j < (q + 1) * CH / 8; ++j)
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int ml = (c * MB + h) * 64 + w * 16 + g + 8 * (r >> 1);
                        const int nl = 8 * j + 2 * t + (r & 1) - q * CH;
                        dt[nl * DT_STRIDE + ml] = acc[h][4 * j + r];
                    }
            sm90::named_barrier(1, T::CONSUMER_THREADS);
            store_dt<BM, CH, DT_STRIDE, T::CONSUMER_THREADS>(p, LinearEpilogue<E>{p}, dt, ctid, m0,
                                                             n0 + q * CH);
        }
    }
};

}  // namespace s24::gemm

// One kernel: NAME runs GEMM (a SparseGemm90), one CTA per SM (persistent). The parameters stay in
// the parameter space (__grid_constant__): the bulk copies read the tensor map there.
#define S24_SPARSE_GEMM90_KERNEL(NAME, GEMM)                                 \
    extern "C" __global__ void __launch_bounds__(GEMM::THREADS, 1)           \
        NAME(const __grid_constant__ Gemm90Params p) {                       \
        GEMM::run(p);                                                        \
    }
