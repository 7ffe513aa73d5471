// TMA + mbarrier kernels for ptxsim (sm_90a), written with libcu++'s cuda::ptx wrappers so the
// PTX is what nvcc emits for them. Build (pinned nvcc 13.0):
//   nvcc -arch=sm_90a --ptx tma.cu -o tma.ptx
#include <cuda/ptx>
#include <cuda.h>
#include <stdint.h>
namespace ptx = cuda::ptx;

__device__ __forceinline__ bool elect_one() {
  uint32_t pred = 0;
  asm volatile(
      "{\n\t.reg .pred %%px;\n\telect.sync _|%%px, %1;\n\t@%%px mov.s32 %0, 1;\n\t}"
      : "+r"(pred)
      : "r"(0xffffffffu));
  return pred != 0;
}

// Phase-pipelined 1-D bulk copy: CTA c copies `tiles` tiles of 256 ints through a 2-stage
// ring (full/empty mbarriers), the elected lane of warp 0 producing, warps 1-2 consuming:
// out[c*64 + i] = sum over k of in[(c*tiles + k)*64 + i] * (k + 1)... with 64 consumer threads
// each reading one int of each 256-byte tile (tiles of 64 ints).
extern "C" __global__ void __launch_bounds__(128) ring(const int* __restrict__ in, int* out, int tiles) {
  __shared__ alignas(128) int buf[2][64];
  __shared__ uint64_t full[2], empty[2];
  int t = threadIdx.x;
  if (t == 0) {
    for (int s = 0; s < 2; ++s) {
      ptx::mbarrier_init(&full[s], 1);
      ptx::mbarrier_init(&empty[s], 64);
    }
    ptx::fence_mbarrier_init(ptx::sem_release, ptx::scope_cluster);
  }
  __syncthreads();
  if (t < 32) {
    if (elect_one()) {
      for (int k = 0; k < tiles; ++k) {
        int s = k & 1;
        uint32_t parity = ((k >> 1) & 1) ^ 1;
        while (!ptx::mbarrier_try_wait_parity(&empty[s], parity)) {
        }
        ptx::mbarrier_arrive_expect_tx(ptx::sem_release, ptx::scope_cta, ptx::space_shared, &full[s], 256);
        ptx::cp_async_bulk(ptx::space_cluster, ptx::space_global, &buf[s][0],
                           in + (blockIdx.x * tiles + k) * 64, 256, &full[s]);
      }
    }
  } else if (t < 96) {
    int i = t - 32;
    int acc = 0;
    for (int k = 0; k < tiles; ++k) {
      int s = k & 1;
      uint32_t parity = (k >> 1) & 1;
      while (!ptx::mbarrier_try_wait_parity(&full[s], parity)) {
      }
      acc += buf[s][i] * (k + 1);
      ptx::mbarrier_arrive(&empty[s]);
    }
    out[blockIdx.x * 64 + i] = acc;
  }
}

// A 2-D TMA tile load through a __grid_constant__ tensor map, then a TMA store of the tile
// (each element plus one) through a second map: out = in + 1 on the box at (x, y).
extern "C" __global__ void tile(const __grid_constant__ CUtensorMap src, const __grid_constant__ CUtensorMap dst, int x, int y) {
  __shared__ alignas(1024) int sm[8 * 32];
  __shared__ uint64_t bar;
  int t = threadIdx.x;
  if (t == 0) {
    ptx::mbarrier_init(&bar, 1);
    ptx::fence_mbarrier_init(ptx::sem_release, ptx::scope_cluster);
  }
  __syncthreads();
  if (t == 0) {
    int32_t c[2] = {x, y};
    ptx::mbarrier_arrive_expect_tx(ptx::sem_release, ptx::scope_cta, ptx::space_shared, &bar, sizeof(sm));
    ptx::cp_async_bulk_tensor(ptx::space_cluster, ptx::space_global, sm, &src, c, &bar);
  }
  while (!ptx::mbarrier_try_wait_parity(&bar, 0)) {
  }
  for (int i = t; i < 8 * 32; i += blockDim.x) sm[i] += 1;
  ptx::fence_proxy_async(ptx::space_shared);
  __syncthreads();
  if (t == 0) {
    int32_t c[2] = {x, y};
    ptx::cp_async_bulk_tensor(ptx::space_global, ptx::space_shared, &dst, c, sm);
    ptx::cp_async_bulk_commit_group();
    ptx::cp_async_bulk_wait_group_read(ptx::n32_t<0>());
  }
}
