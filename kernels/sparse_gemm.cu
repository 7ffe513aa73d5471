// sparse_gemm: Y[tokens, out] = act(alpha · X[tokens, in] · Wᵀ + beta · C + bias)
// with W 2:4-sparse along `in`, on `mma.sp::ordered_metadata` m16n8k32 tensor cores.
//
// The kernel is composed from named parts in kernels/gemm/ (kernel.cuh lists them);
// this file instantiates it for every tile configuration × input dtype. The epilogue
// (alpha, beta·C, bias, activation, output dtype) is a runtime parameter.
//
// Build (build.rs): nvcc -std=c++17 -O3 -fatbin -gencode sm_80/86/89/90 + compute_80.
#include <cstdint>

#include "gemm/kernel.cuh"

namespace {
using namespace s24::gemm;
using s24::BF16;
using s24::F16;

// Tile configurations (mirrored in src/ops/gemm/config.rs `GemmConfig::tile`).
// decode: 8 warps × 1 row tile = 128 rows, 16 tokens, 8 steps (k = 256) per stage,
//         3 stages (24 KiB smem), split-K over grid.z.
template <class E>
using Decode = SparseGemm<Tile<8, 1, 1, 2, 8, 3>, E, MainLoopStandard, RowFast, StaticSmem>;
// prefill: 4 × 2 warps, each 2 row tiles × 4 token tiles: 128 rows × 64 tokens,
//          2 steps (k = 64) per stage, 4 stages (32 KiB smem).
template <class E>
using Prefill = SparseGemm<Tile<4, 2, 2, 4, 2, 4>, E, MainLoopStandard, RowFast, StaticSmem>;
template <class E>
using PrefillT128x128 = SparseGemm<Tile<4, 2, 2, 8, 2, 4>, E, MainLoopStandard, TokFast, DynamicSmem>;
template <class E>
using PrefillT128x128A2 = SparseGemm<Tile<4, 2, 2, 8, 2, 4>, E, MainLoopPrefetchA<2>, TokFast, DynamicSmem>;
template <class E>
using PrefillT256x64 = SparseGemm<Tile<8, 1, 2, 8, 2, 4>, E, MainLoopStandard, TokFast, DynamicSmem>;
template <class E>
using PrefillT256x64W16 = SparseGemm<Tile<8, 2, 2, 4, 2, 4>, E, MainLoopLean, TokFast, DynamicSmem>;

}  // namespace

S24_SPARSE_GEMM_KERNEL(sgemm_decode_f16, Decode<F16>, 2)
S24_SPARSE_GEMM_KERNEL(sgemm_decode_bf16, Decode<BF16>, 2)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_f16, Prefill<F16>, 1)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_bf16, Prefill<BF16>, 1)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_t128x128_f16, PrefillT128x128<F16>, 1)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_t128x128_bf16, PrefillT128x128<BF16>, 1)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_t128x128a2_f16, PrefillT128x128A2<F16>, 1)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_t128x128a2_bf16, PrefillT128x128A2<BF16>, 1)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_t256x64_f16, PrefillT256x64<F16>, 1)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_t256x64_bf16, PrefillT256x64<BF16>, 1)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_t256x64w16_f16, PrefillT256x64W16<F16>, 1)
S24_SPARSE_GEMM_KERNEL(sgemm_prefill_t256x64w16_bf16, PrefillT256x64W16<BF16>, 1)
