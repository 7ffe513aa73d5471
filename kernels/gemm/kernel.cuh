// The sparse GEMM kernel body, composed from the parts in this folder:
//   Y[tokens, out] = act(alpha · X[tokens, in] · Wᵀ + beta · C + bias)
// with W 2:4-sparse along `in`, on `mma.sp::ordered_metadata` m16n8k32 tensor cores.
//
// Internally D = W · Xᵀ: W is the sparse A operand (w_loader.cuh), Xᵀ the
// column-major B operand (x_pipeline.cuh), f32 accumulation; D is written transposed
// so Y stays [tokens, out] row-major (epilogue.cuh). Split-K over grid.z: split_k.cuh.
//
//   T        the tile shape (tile.cuh: Tile<WM, WN, MT, NT, KS, STAGES>)
//   E        the input element type (s24::F16 or s24::BF16, elem.cuh)
//   MainLoop the main-loop policy (mainloop.cuh)
//   Raster   the grid walk (tile.cuh: RowFast, TokFast)
//   Smem     where the shared memory lives (tile.cuh: StaticSmem, DynamicSmem)
#pragma once
#include "../elem.cuh"
#include "../ptx.cuh"
#include "epilogue.cuh"
#include "mainloop.cuh"
#include "split_k.cuh"
#include "tile.cuh"
#include "w_loader.cuh"
#include "x_pipeline.cuh"
#include "sparse24_abi.cuh"

namespace s24::gemm {

template <class T, class E, class MainLoop, class Raster, class Smem>
struct SparseGemm {
    using Tile = T;
    static constexpr int THREADS = T::THREADS;

    __device__ static void run(const GemmParams& p) {
        constexpr int MT = T::MT, NT = T::NT, KS = T::KS;
        unsigned char* smem = Smem::template base<T::SMEM_BYTES>();
        // This CTA's row block and token tile.
        const unsigned bx = Raster::row_block();
        const unsigned by = Raster::token_tile();

        const int tid = threadIdx.x;
        const int lane = tid & 31;
        const int warp = tid >> 5;
        const int wm = warp % T::WM;
        const int wn = warp / T::WM;
        const unsigned row_tiles = (p.out + 15) / 16;
        const unsigned rt0 = bx * (T::WM * MT) + wm * MT;
        const unsigned n_cta = by * T::BN;
        const unsigned n_warp = n_cta + wn * NT * 8;
        const unsigned s_begin = blockIdx.z * p.chunk_steps;
        const unsigned s_end = min(p.steps, s_begin + p.chunk_steps);
        const int nkb = static_cast<int>(s_end - s_begin) / KS;
        const unsigned groups = p.steps / 8;

        bool mt_ok[MT];
        const WLoader<T> w(p, row_tiles, groups, rt0, s_begin, lane, mt_ok);
        // Tiles past the last row or token are computed anyway (their A is row tile 0's,
        // their X rows are the zeros cp.async wrote) and only their stores are skipped:
        // guarding each mma.sp/ldmatrix with these flags made the compiler predicate
        // them behind a WARPSYNC each and spill predicates (P2R), ~4 extra instructions
        // per HMMA.SP in the main loop (H100 profile, bench/RESULTS.md).
        bool nt_ok[NT];
#pragma unroll
        for (int j = 0; j < NT; ++j) nt_ok[j] = n_warp + 8 * j < p.tokens;

        const XStages<T> st(smem, wn, lane);

        Acc<T> acc;
        zero<T>(acc);

        MainLoop::template run<T, E::kBf16>(MainLoopCtx<T>{p, w, st, tid, nkb, n_cta, s_begin}, acc);
        cp_async_wait<0>();

        // This lane's place in the MMA fragments: group g (rows), thread t (columns).
        const int g = lane >> 2;
        const int t = lane & 3;

        if (p.splits > 1 && !SplitK<T>::reduce(p, tid, acc, mt_ok, nt_ok)) return;

        store_tile<T>(p, LinearEpilogue<E>{p}, smem, acc, tid, g, t, wm, wn, bx, n_cta);
    }
};

}  // namespace s24::gemm

// One kernel: NAME runs GEMM (a SparseGemm) with at least MIN_CTAS CTAs per SM.
// The parameters are one struct, read-only in the kernel's parameter space
// (__grid_constant__: no copy is required). `run` works on a copy in registers, as it
// did on the 18 scalar parameters before: reading the fields in place instead cost 1-2
// more registers on three tiles on sm_80..sm_89, and a plain by-value parameter 4-13
// (ptxas -v, CUDA 13.0).
#define S24_SPARSE_GEMM_KERNEL(NAME, GEMM, MIN_CTAS)                         \
    extern "C" __global__ void __launch_bounds__(GEMM::THREADS, MIN_CTAS)   \
        NAME(const __grid_constant__ GemmParams p) {                        \
        const GemmParams a = p;                                             \
        GEMM::run(a);                                                       \
    }
