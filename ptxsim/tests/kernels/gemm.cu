// Small multi-stage GEMM: cp.async (3 stages) + ldmatrix + mma.sync m16n8k16 bf16 -> f32.
// C[M,N] = A[M,K] * B[K,N], all row-major; M % 64 == 0, N % 64 == 0, K % 32 == 0.
// Build: nvcc -ptx -arch=sm_80 gemm.cu -o gemm.ptx
// Broken variants for the checker: -DNO_SYNC removes the barrier (gemm_nosync.ptx);
// -DPREFETCH_EARLY issues the next stage's cp.async before the barrier, overwriting a stage
// other warps may still be reading (gemm_war.ptx).
#include <cuda_bf16.h>
#include <stdint.h>
#define BM 64
#define BN 64
#define BK 32
#define STAGES 3

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ void cp16(void* s, const void* g) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_u32(s)), "l"(g));
}

extern "C" __global__ void __launch_bounds__(128)
gemm_bf16(const __nv_bfloat16* A, const __nv_bfloat16* B, float* C, int M, int N, int K) {
  __shared__ __align__(16) __nv_bfloat16 As[STAGES][BM][BK];
  __shared__ __align__(16) __nv_bfloat16 Bs[STAGES][BK][BN];
  int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  int wm = warp / 2, wn = warp % 2;
  int bm = blockIdx.y * BM, bn = blockIdx.x * BN;
  float acc[2][4][4];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 4; k++) acc[i][j][k] = 0.f;
  int ktiles = K / BK;
  auto load = [&](int stage, int kt) {
    for (int i = 0; i < 2; i++) {
      int c = tid + i * 128;
      int r = c / 4, cc = (c % 4) * 8;
      cp16(&As[stage][r][cc], A + (size_t)(bm + r) * K + kt * BK + cc);
    }
    for (int i = 0; i < 2; i++) {
      int c = tid + i * 128;
      int r = c / 8, cc = (c % 8) * 8;
      cp16(&Bs[stage][r][cc], B + (size_t)(kt * BK + r) * N + bn + cc);
    }
  };
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < ktiles) load(s, s);
    asm volatile("cp.async.commit_group;\n");
  }
  for (int kt = 0; kt < ktiles; kt++) {
#ifdef PREFETCH_EARLY
    {
      int nk = kt + STAGES - 1;
      if (nk < ktiles) load(nk % STAGES, nk);
      asm volatile("cp.async.commit_group;\n");
    }
    asm volatile("cp.async.wait_group %0;\n" ::"n"(STAGES - 1));
    __syncthreads();
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(STAGES - 2));
#ifndef NO_SYNC
    __syncthreads();
#endif
    int nk = kt + STAGES - 1;
    if (nk < ktiles) load(nk % STAGES, nk);
    asm volatile("cp.async.commit_group;\n");
#endif
    int st = kt % STAGES;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t a[2][4], b[4][2];
#pragma unroll
      for (int mi = 0; mi < 2; mi++) {
        int row = wm * 32 + mi * 16 + (lane % 16);
        int col = kk + (lane / 16) * 8;
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(a[mi][0]), "=r"(a[mi][1]), "=r"(a[mi][2]), "=r"(a[mi][3])
                     : "r"(smem_u32(&As[st][row][col])));
      }
#pragma unroll
      for (int nj = 0; nj < 2; nj++) {
        int k = kk + (lane % 8) + ((lane / 8) % 2) * 8;
        int n = wn * 32 + (nj * 2 + lane / 16) * 8;
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                     : "=r"(b[nj * 2][0]), "=r"(b[nj * 2][1]), "=r"(b[nj * 2 + 1][0]), "=r"(b[nj * 2 + 1][1])
                     : "r"(smem_u32(&Bs[st][k][n])));
      }
#pragma unroll
      for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++) {
          float* c = acc[mi][ni];
          asm volatile(
              "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
              : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
              : "r"(a[mi][0]), "r"(a[mi][1]), "r"(a[mi][2]), "r"(a[mi][3]), "r"(b[ni][0]), "r"(b[ni][1]));
        }
    }
  }
  asm volatile("cp.async.wait_all;\n");
  for (int mi = 0; mi < 2; mi++)
    for (int ni = 0; ni < 4; ni++) {
      int row = bm + wm * 32 + mi * 16 + lane / 4;
      int col = bn + wn * 32 + ni * 8 + (lane % 4) * 2;
      C[(size_t)row * N + col] = acc[mi][ni][0];
      C[(size_t)row * N + col + 1] = acc[mi][ni][1];
      C[(size_t)(row + 8) * N + col] = acc[mi][ni][2];
      C[(size_t)(row + 8) * N + col + 1] = acc[mi][ni][3];
    }
}
