// The shape of the warp-specialised Hopper GEMM tile (wgmma.mma_async.sp, sm_90a):
// one producer warpgroup that streams X through the bulk tensor copy engine and
// CONSUMERS warpgroups that stream W from global memory into registers (the RS form:
// W is the sparse A operand, fragment-ordered as for mma.sp) and multiply.
#pragma once

namespace s24::gemm {

// MB: 64-row wgmma blocks per consumer warpgroup; N: tokens per CTA (the wgmma N);
// STAGES: depth of the X ring (KS = 2 k32 steps, 64 elements of `in` per stage: one
// 128-byte swizzle row per token); APF: stages W is prefetched ahead in registers (in
// the SS form its metadata only); W_SMEM: the SS form, W's compressed values through
// the bulk copy engine into a W slot per stage (sm90_w_ring.cuh).
template <int CONSUMERS_, int MB_, int N_, int STAGES_, int APF_, bool W_SMEM_ = false>
struct Tile90 {
    static constexpr int CONSUMERS = CONSUMERS_, MB = MB_, N = N_, STAGES = STAGES_, APF = APF_;
    static constexpr bool W_SMEM = W_SMEM_;
    static constexpr int KS = 2;              // k32 steps per stage
    static constexpr int K_STAGE = KS * 32;   // elements of `in` per stage
    static constexpr int BM = CONSUMERS * MB * 64;  // rows per CTA
    static constexpr int BN = N;                    // tokens per CTA
    static constexpr int CONSUMER_THREADS = CONSUMERS * 128;
    static constexpr int THREADS = CONSUMER_THREADS + 128;
    static constexpr int ND = N / 2;  // f32 accumulators per thread per 64-row block
    // One stage of X: BN token rows of 128 bytes (64 16-bit elements), 128B-swizzled.
    static constexpr int STAGE_BYTES = BN * K_STAGE * 2;
    static constexpr int X_BYTES = STAGES * STAGE_BYTES;
    // The SS form's W slot: BM rows of one stage's 32 compressed values (64 bytes: one
    // 64-byte swizzle row per W row), after all X slots.
    static constexpr int W_STAGE_BYTES = W_SMEM ? BM * K_STAGE : 0;
    static constexpr int W_BYTES = STAGES * W_STAGE_BYTES;
    // The epilogue's f32 tile, transposed (rows of BM + 4 floats, as the sm_80 tile),
    // EPI_TOKENS tokens at a time in its own buffer after the ring: the kernel is
    // persistent, and the producer fills the ring with the next unit's X while the
    // consumers store this one's tile (the whole tile, 130 KiB, would not fit beside
    // the ring).
    static constexpr int EPI_TOKENS = 32;
    static constexpr int DT_STRIDE = BM + 4;
    static constexpr int DT_BYTES = EPI_TOKENS * DT_STRIDE * 4;
    // The dynamic shared memory is aligned to 1024 bytes by the kernel (the 128-byte
    // swizzle's repeat), hence the slack.
    static constexpr int SMEM_BYTES = X_BYTES + W_BYTES + DT_BYTES + 1024;
    // Registers per thread after setmaxnreg: the producer gives back, consumers take.
    static constexpr int PRODUCER_REGS = 40, CONSUMER_REGS = 232;
    static_assert(N % 8 == 0 && N >= 8 && N <= 256, "wgmma N is 8..256 in steps of 8");
    static_assert(N == 128, "the wgmma.sp wrapper is written for N = 128 (ptx_sm90.cuh)");
    static_assert(BN <= 256, "the TMA box has at most 256 rows");
    static_assert(!W_SMEM || BM <= 256, "the W box has at most 256 rows");
    static_assert(BN % EPI_TOKENS == 0 && EPI_TOKENS % 8 == 0, "whole accumulator columns per chunk");
    static_assert(APF >= 1, "W is prefetched at least one stage ahead");
    static_assert(STAGES >= 2, "a ring needs two stages");
    static_assert(PRODUCER_REGS * 128 + CONSUMER_REGS * CONSUMER_THREADS <= 65536,
                  "setmaxnreg totals exceed the register file");
    static_assert(SMEM_BYTES <= 227 * 1024, "more shared memory than an SM has");
};

}  // namespace s24::gemm
