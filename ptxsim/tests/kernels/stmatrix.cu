// stmatrix (sm_90). Build: nvcc -ptx -arch=sm_90 stmatrix.cu -o stmatrix.ptx
#include <stdint.h>
// each lane stores 4 regs with stmatrix x4 (and .trans), row addresses from rowidx; the 32 rows
// of 16 bytes are then copied out.
extern "C" __global__ void stm(const uint32_t* regs, const int* rowidx, uint4* out, int trans) {
  __shared__ __align__(16) uint4 sm[32];
  int l = threadIdx.x;
  uint32_t a = (uint32_t)__cvta_generic_to_shared(&sm[rowidx[l]]);
  uint32_t r0 = regs[l * 4], r1 = regs[l * 4 + 1], r2 = regs[l * 4 + 2], r3 = regs[l * 4 + 3];
  if (trans)
    asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1,%2,%3,%4};" ::"r"(a), "r"(r0), "r"(r1), "r"(r2), "r"(r3));
  else
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1,%2,%3,%4};" ::"r"(a), "r"(r0), "r"(r1), "r"(r2), "r"(r3));
  __syncwarp();
  out[l] = sm[l];
}
