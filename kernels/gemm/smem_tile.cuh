// The shape of a shared-memory-staged sparse GEMM tile (the CUTLASS sm_80 tradition):
// W (fragment-ordered values and metadata) and X both go global → shared by cp.async,
// STAGES stages ahead, and every warp reads its fragments from shared memory. The
// constexpr names shared with Tile (tile.cuh) are the ones x_pipeline.cuh's XStages,
// split_k.cuh and the epilogue read, so those parts serve both kernels.
//
// Shared memory, in this order:
//   X   STAGES slots of BN token rows × KS·32 of k (x_pipeline.cuh's swizzled rows)
//   W   STAGES slots of RT row tiles × KS steps × 32 lanes × 16 bytes: each row tile's
//       steps exactly as in global memory (src/layout.rs), so a warp's fragment is
//       512 contiguous bytes and its 16-byte lane reads hit 32 distinct banks in each
//       of the 4 phases of an LDS.128
//   M   MSLOTS slots of 4 words × RT row tiles × 32 lanes × 4 bytes: the metadata of
//       one 8-step group (it serves GS stages), copied with the group's first stage,
//       word-major (word j of every lane's fragment-ordered 16 bytes side by side: the
//       LDS.32 of one step's word by a warp hits 32 distinct banks)
// The epilogue reuses all of it for its f32 tile, one warp column (BN / WN tokens) per
// pass, so the tile needs no more shared memory than the pipeline.
#pragma once

namespace s24::gemm {

template <int WM_, int WN_, int MT_, int NT_, int KS_, int STAGES_>
struct SmemTile {
    static constexpr int MMA_M = 16, MMA_N = 8, MMA_K = 32;
    static constexpr int MT = MT_, NT = NT_;
    static constexpr int WM = WM_, WN = WN_;
    static constexpr int KS = KS_, STAGES = STAGES_;
    static constexpr int THREADS = WM * WN * 32;
    static constexpr int BN = WN * NT * MMA_N;      // tokens per CTA
    static constexpr int BM = WM * MT * MMA_M;      // rows per CTA
    static constexpr int RT = WM * MT;              // 16-row tiles per CTA
    static constexpr int GS = 8 / KS;               // stages per 8-step metadata group
    static constexpr int ACC4 = MT * NT;            // float4 accumulators per thread
    // X: 16-byte chunks per smem row and per stage.
    static constexpr int CHUNKS_ROW = KS * 4;
    static constexpr int CHUNKS = BN * CHUNKS_ROW;
    // W: 16-byte chunks per stage (values) and per metadata slot.
    static constexpr int W_CHUNKS = RT * KS * 32;
    static constexpr int M_CHUNKS = RT * 32;
    // A metadata slot is rewritten STAGES - 1 stages after its group's first stage was
    // issued; with STAGES - 1 <= GS two slots suffice (the group being computed and the
    // next one).
    static constexpr int MSLOTS = 2;
    static constexpr int X_STAGE_BYTES = CHUNKS * 16;
    static constexpr int W_STAGE_BYTES = W_CHUNKS * 16;
    static constexpr int M_SLOT_BYTES = M_CHUNKS * 16;
    static constexpr int X_OFFSET = 0;
    static constexpr int W_OFFSET = STAGES * X_STAGE_BYTES;
    static constexpr int M_OFFSET = W_OFFSET + STAGES * W_STAGE_BYTES;
    static constexpr int PIPE_BYTES = M_OFFSET + MSLOTS * M_SLOT_BYTES;
    // Epilogue: BN / WN tokens × (BM + 4) floats per pass (stride BM + 4: the fragment
    // writes of a warp hit 32 distinct banks).
    static constexpr int DT_STRIDE = BM + 4;
    static constexpr int PASS_TOKENS = BN / WN;
    static constexpr int DT_BYTES = PASS_TOKENS * DT_STRIDE * 4;
    static constexpr int SMEM_BYTES = PIPE_BYTES > DT_BYTES ? PIPE_BYTES : DT_BYTES;

    static_assert(KS == 2 || KS == 4, "KS must be 2 or 4 (a stage lies inside a metadata group)");
    static_assert(STAGES >= 2 && STAGES - 1 <= GS, "two metadata slots need STAGES - 1 <= 8 / KS");
    static_assert(CHUNKS_ROW >= 8, "the X swizzle needs at least 8 chunks per row");
    // Each thread copies whole columns: one X chunk column, one W lane chunk and one
    // metadata lane, at every row it handles (its offsets are then fixed per stage).
    static_assert(THREADS % (CHUNKS_ROW * 8) == 0 && CHUNKS % THREADS == 0, "X copy split");
    static_assert(THREADS % (KS * 32) == 0 && W_CHUNKS % THREADS == 0, "W copy split");
    static_assert(M_CHUNKS % THREADS == 0, "metadata copy split");
    static_assert(SMEM_BYTES <= 227 * 1024, "more shared memory than an SM has");
};

}  // namespace s24::gemm
