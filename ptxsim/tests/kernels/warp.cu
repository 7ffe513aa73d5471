// Warp-level instruction tests. Build: nvcc -ptx -arch=sm_80 warp.cu -o warp.ptx
#include <stdint.h>

extern "C" __global__ void shfl_modes(const int* in, int* out) {
  int l = threadIdx.x;
  int v = in[l];
  out[l * 8 + 0] = __shfl_up_sync(0xffffffff, v, 3);
  out[l * 8 + 1] = __shfl_down_sync(0xffffffff, v, 5, 16);
  out[l * 8 + 2] = __shfl_xor_sync(0xffffffff, v, 7);
  out[l * 8 + 3] = __shfl_sync(0xffffffff, v, (l * 5) % 32);
  out[l * 8 + 4] = __shfl_sync(0xffffffff, v, l + 2, 8);
  int r, p;
  asm volatile("{ .reg .pred q; shfl.sync.down.b32 %0|q, %2, 2, 0x1f, 0xffffffff; selp.u32 %1, 1, 0, q; }"
               : "=r"(r), "=r"(p) : "r"(v));
  out[l * 8 + 5] = r;
  out[l * 8 + 6] = p;
  out[l * 8 + 7] = __shfl_up_sync(0xffffffff, v, 1, 4);
}

extern "C" __global__ void votes(const int* in, unsigned* out) {
  int l = threadIdx.x;
  int v = in[l];
  out[l * 8 + 0] = __ballot_sync(0xffffffff, v % 3 == 0);
  out[l * 8 + 1] = __all_sync(0xffffffff, v >= 0);
  out[l * 8 + 2] = __any_sync(0xffffffff, v == 17);
  out[l * 8 + 3] = __uni_sync(0xffffffff, v > 1000);
  unsigned am = 0;
  if (l & 1) am = __activemask();
  out[l * 8 + 4] = am;
  out[l * 8 + 5] = __match_any_sync(0xffffffff, v & 3);
  out[l * 8 + 6] = __reduce_add_sync(0xffffffff, v);
  out[l * 8 + 7] = __reduce_max_sync(0xffffffff, (unsigned)v);
}

// smem holds 32 rows of 8 halves (16 bytes each); row r of matrix m is supplied by lane 8m+r
// through rowidx[lane]. Output: 4 regs per lane for each variant.
extern "C" __global__ void ldm(const uint4* src, const int* rowidx, uint32_t* out) {
  __shared__ __align__(16) uint4 sm[32];
  int l = threadIdx.x;
  sm[l] = src[l];
  __syncwarp();
  uint32_t a = (uint32_t)__cvta_generic_to_shared(&sm[rowidx[l]]);
  uint32_t r0, r1, r2, r3;
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];" : "=r"(r0) : "r"(a));
  out[l * 16 + 0] = r0;
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];" : "=r"(r0), "=r"(r1) : "r"(a));
  out[l * 16 + 1] = r0;
  out[l * 16 + 2] = r1;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(a));
  out[l * 16 + 3] = r0;
  out[l * 16 + 4] = r1;
  out[l * 16 + 5] = r2;
  out[l * 16 + 6] = r3;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(a));
  out[l * 16 + 7] = r0;
  out[l * 16 + 8] = r1;
  out[l * 16 + 9] = r2;
  out[l * 16 + 10] = r3;
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];" : "=r"(r0) : "r"(a));
  out[l * 16 + 11] = r0;
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];" : "=r"(r0), "=r"(r1) : "r"(a));
  out[l * 16 + 12] = r0;
  out[l * 16 + 13] = r1;
}

// cp.async in three groups; wait_group 1 leaves the last in flight, wait_all finishes.
// Group 2 uses src-size to zero-fill. out[0..32) = after wait_group 1, out[32..64) = after wait_all.
extern "C" __global__ void cpasync(const int4* src, int* out, int zfill) {
  __shared__ __align__(16) int4 sm[96];
  int l = threadIdx.x;
  for (int g = 0; g < 3; g++) {
    uint32_t d = (uint32_t)__cvta_generic_to_shared(&sm[g * 32 + l]);
    if (g == 2)
      asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(&src[g * 32 + l]), "r"(zfill));
    else
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(&src[g * 32 + l]));
    asm volatile("cp.async.commit_group;");
  }
  asm volatile("cp.async.wait_group 1;");
  __syncthreads();
  out[l] = sm[l].x + sm[32 + l].y;
  asm volatile("cp.async.wait_all;");
  __syncthreads();
  out[32 + l] = sm[64 + l].x + sm[64 + l].w;
  // 4- and 8-byte copies
  uint32_t d4 = (uint32_t)__cvta_generic_to_shared(&sm[l]);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(d4), "l"(&src[l]));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8;" ::"r"(d4 + 8), "l"(&src[l]));
  asm volatile("cp.async.wait_all;");
  out[64 + l] = sm[l].x + sm[l].z + sm[l].w;
}

extern "C" __global__ void atomics(int* g, float* gf, unsigned* gu, int* out) {
  __shared__ int s[4];
  int t = threadIdx.x;
  if (t < 4) s[t] = 0;
  __syncthreads();
  int old = atomicAdd(&g[0], t);
  atomicAdd(&gf[0], 0.5f);
  atomicMax(&g[1], t * 7 % 61);
  atomicMin(&g[2], -t);
  atomicInc(&gu[0], 9);
  atomicDec(&gu[1], 5);
  atomicCAS(&g[3], t - 1, t);  // succeeds in thread order when run in order
  atomicExch(&g[4], 42);
  atomicOr(&g[5], 1 << (t % 31));
  atomicXor(&g[6], t);
  atomicAnd(&g[7], ~(1 << (t % 31)));
  atomicAdd(&s[0], 1);
  atomicMax(&s[1], t);
  __syncthreads();
  if (t == 0) {
    out[0] = s[0];
    out[1] = s[1];
  }
  out[2 + t] = old;
}
