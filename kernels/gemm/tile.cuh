// The shape of a sparse GEMM tile at its three levels, as one type of constexprs,
// and the CTA-level policies that go with a shape: where its shared memory lives and
// how the grid walks the output (rasterisation).
#pragma once

namespace s24::gemm {

// MMA level: mma.sp m16n8k32 (16 W rows × 8 tokens × k 32 per instruction).
// Warp level: MT row tiles (16 rows each) × NT token tiles (8 tokens each) per warp.
// CTA level: WM × WN warps; k advances KS k32 steps per pipeline stage (KS divides 8,
// the steps of one metadata group), through a STAGES-deep cp.async pipeline.
template <int WM_, int WN_, int MT_, int NT_, int KS_, int STAGES_>
struct Tile {
    static constexpr int MMA_M = 16, MMA_N = 8, MMA_K = 32;
    static constexpr int MT = MT_, NT = NT_;
    static constexpr int WM = WM_, WN = WN_;
    static constexpr int KS = KS_, STAGES = STAGES_;
    static constexpr int THREADS = WM * WN * 32;
    static constexpr int BN = WN * NT * MMA_N;          // tokens per CTA
    static constexpr int BM = WM * MT * MMA_M;          // rows per CTA
    static constexpr int CHUNKS_ROW = KS * 4;           // 16-byte chunks per smem row
    static constexpr int CHUNKS = BN * CHUNKS_ROW;      // per stage
    static constexpr int ACC4 = MT * NT;                // float4 accumulators per thread
    static constexpr int DT_STRIDE = BM + 4;            // epilogue tile row stride (floats)
    static constexpr int X_BYTES = STAGES * CHUNKS * 16;
    static constexpr int DT_BYTES = BN * DT_STRIDE * 4;
    static constexpr int SMEM_BYTES = X_BYTES > DT_BYTES ? X_BYTES : DT_BYTES;
    static constexpr int GS = 8 / KS;  // pipeline stages per 8-step metadata group
    static_assert(8 % KS == 0 && KS % 2 == 0, "KS must be 2, 4 or 8");
    static_assert(CHUNKS_ROW >= 8, "the swizzle needs at least 8 chunks per row");
    static_assert(CHUNKS % THREADS == 0, "stage copy must split evenly over threads");
    static_assert(SMEM_BYTES <= 227 * 1024, "more shared memory than an SM has");
};

// The per-thread f32 accumulators of a tile: MT × NT MMA tiles of four.
template <class T>
using Acc = float[T::MT][T::NT][4];

template <class T>
__device__ __forceinline__ void zero(Acc<T>& acc) {
#pragma unroll
    for (int i = 0; i < T::MT; ++i)
#pragma unroll
        for (int j = 0; j < T::NT; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
}

// ---------------------------------------------------------------- shared memory

// A static __shared__ array (at most 48 KiB).
struct StaticSmem {
    template <int BYTES>
    __device__ static __forceinline__ unsigned char* base() {
        static_assert(BYTES <= 48 * 1024, "static shared memory is limited to 48 KiB");
        __shared__ __align__(128) unsigned char smem[BYTES];
        return smem;
    }
};

// The launch's dynamic shared memory (SMEM_BYTES passed at launch; needed above
// 48 KiB).
struct DynamicSmem {
    template <int BYTES>
    __device__ static __forceinline__ unsigned char* base() {
        extern __shared__ __align__(128) unsigned char dyn_smem[];
        return dyn_smem;
    }
};

// ---------------------------------------------------------------- rasterisation

// Which CTA computes which (row block, token tile).
// RowFast: blockIdx.x walks row blocks, blockIdx.y token tiles.
struct RowFast {
    __device__ static __forceinline__ unsigned row_block() { return blockIdx.x; }
    __device__ static __forceinline__ unsigned token_tile() { return blockIdx.y; }
};

// TokFast: blockIdx.x walks token tiles and blockIdx.y row blocks, so the CTAs
// resident at one time share a few W row blocks (read from DRAM once, then from L2)
// instead of each streaming a different one.
struct TokFast {
    __device__ static __forceinline__ unsigned row_block() { return blockIdx.y; }
    __device__ static __forceinline__ unsigned token_tile() { return blockIdx.x; }
};

}  // namespace s24::gemm
