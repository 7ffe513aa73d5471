// A whole Hopper pipeline on several CTAs, for ptxsim (sm_90a): TMA tile loads of a bf16 B
// operand into a 128B-swizzled 3-stage shared-memory ring on full/empty mbarriers (one
// producer warp, its elected lane issuing the copies), a consumer warpgroup running
// wgmma.mma_async m64n64k16 (A from registers, B through 128B-swizzled K-major descriptors,
// four K steps of 32 bytes inside each 64-wide K tile), then stmatrix of the bf16 result into
// shared memory, fence.proxy.async, a named barrier and one TMA tensor store to global.
// CTA c computes D[64c..64c+64, 0..64] = A_c (64 x 64·ktiles, fragments in `areg`) · B, with
// B stored K-major (bt[n][k], the tensor map `tb`: dims {K, 64}, box {64, 64}, 128B swizzle)
// and D through `td` (dims {64, 64·ctas}, box {64, 64}, no swizzle).
// Build (pinned nvcc 13.0):
//   nvcc -arch=sm_90a --ptx pipeline.cu -o pipeline.ptx
#include <cuda/ptx>
#include <cuda.h>
#include <cuda_bf16.h>
#include <stdint.h>
namespace ptx = cuda::ptx;

#define STAGES 3
#define TILE_BYTES 8192  // 64 (N) x 64 (K) bf16

__device__ __forceinline__ bool elect_one() {
  uint32_t pred = 0;
  asm volatile(
      "{\n\t.reg .pred %%px;\n\telect.sync _|%%px, %1;\n\t@%%px mov.s32 %0, 1;\n\t}"
      : "+r"(pred)
      : "r"(0xffffffffu));
  return pred != 0;
}

__device__ __forceinline__ void wgmma_n64(float (&d)[32], const uint4 a, uint64_t desc) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, 1, 1, 1, 0;"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "l"(desc)
      : "memory");
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

extern "C" __global__ void __launch_bounds__(160) pipeline(const __grid_constant__ CUtensorMap tb,
    const __grid_constant__ CUtensorMap td, const uint4* areg, int ktiles) {
  __shared__ alignas(1024) uint8_t ring[STAGES][TILE_BYTES];
  __shared__ alignas(1024) uint16_t dtile[64 * 64];
  __shared__ uint64_t full[STAGES], empty[STAGES];
  int t = threadIdx.x;
  if (t == 0) {
    for (int s = 0; s < STAGES; ++s) {
      ptx::mbarrier_init(&full[s], 1);
      ptx::mbarrier_init(&empty[s], 128);
    }
    ptx::fence_mbarrier_init(ptx::sem_release, ptx::scope_cluster);
  }
  __syncthreads();
  if (t >= 128) {
    // the producer warp: its elected lane fills the ring
    if (elect_one()) {
      for (int k = 0; k < ktiles; ++k) {
        int s = k % STAGES;
        uint32_t parity = ((k / STAGES) & 1) ^ 1;
        while (!ptx::mbarrier_try_wait_parity(&empty[s], parity)) {
        }
        ptx::mbarrier_arrive_expect_tx(ptx::sem_release, ptx::scope_cta, ptx::space_shared, &full[s], TILE_BYTES);
        int32_t c[2] = {k * 64, 0};
        ptx::cp_async_bulk_tensor(ptx::space_cluster, ptx::space_global, ring[s], &tb, c, &full[s]);
      }
    }
    return;
  }
  // the consumer warpgroup
  float d[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) d[i] = 0.0f;
  for (int k = 0; k < ktiles; ++k) {
    int s = k % STAGES;
    uint32_t parity = (k / STAGES) & 1;
    while (!ptx::mbarrier_try_wait_parity(&full[s], parity)) {
    }
    const uint4* ap = areg + ((size_t)(blockIdx.x * ktiles + k) * 128 + t) * 4;
    const uint4 a0 = ap[0], a1 = ap[1], a2 = ap[2], a3 = ap[3];
    // start address >> 4, LBO 16 bytes (unused), SBO 1024 bytes, 128B swizzle
    const uint64_t desc = 0x4000004000010000ull | ((uint32_t)__cvta_generic_to_shared(ring[s]) >> 4);
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
    wgmma_n64(d, a0, desc);
    wgmma_n64(d, a1, desc + 2);
    wgmma_n64(d, a2, desc + 4);
    wgmma_n64(d, a3, desc + 6);
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
    ptx::mbarrier_arrive(&empty[s]);
  }
  // epilogue: accumulator fragments (row 16w + g (+8), columns 8j + 2q, +1) to bf16 rows of
  // dtile, four 8x8 matrices per stmatrix
  const int w = t / 32, l = t % 32;
#pragma unroll
  for (int j = 0; j < 8; j += 2) {
    const uint32_t r0 = pack_bf16(d[4 * j + 0], d[4 * j + 1]);
    const uint32_t r1 = pack_bf16(d[4 * j + 2], d[4 * j + 3]);
    const uint32_t r2 = pack_bf16(d[4 * j + 4], d[4 * j + 5]);
    const uint32_t r3 = pack_bf16(d[4 * j + 6], d[4 * j + 7]);
    const int m = l / 8, r = l % 8;
    const int row = 16 * w + r + 8 * (m & 1), col = 8 * (j + (m >> 1));
    const uint32_t addr = (uint32_t)__cvta_generic_to_shared(&dtile[row * 64 + col]);
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};"
                 :: "r"(addr), "r"(r0), "r"(r1), "r"(r2), "r"(r3) : "memory");
  }
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  asm volatile("bar.sync 1, 128;" ::: "memory");
  if (t == 0) {
    int32_t c[2] = {0, (int32_t)blockIdx.x * 64};
    ptx::cp_async_bulk_tensor(ptx::space_global, ptx::space_shared, &td, c, dtile);
    ptx::cp_async_bulk_commit_group();
    ptx::cp_async_bulk_wait_group_read(ptx::n32_t<0>());
  }
}
