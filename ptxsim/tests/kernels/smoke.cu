#include <cuda_fp16.h>
#include <cuda_bf16.h>
__device__ __noinline__ float helper(float a, int b) { return a * b + 1.0f; }
__device__ int gvar[4] = {1,2,3,4};
__constant__ float cvar[2] = {1.5f, 2.5f};
extern "C" __global__ void k1(float* out, const float* in, int n, __nv_bfloat16* h) {
  __shared__ float s[128];
  extern __shared__ float dyn[];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  float loc[8];
  for (int j = 0; j < 8; j++) loc[j] = in[(i + j) % n];
  s[threadIdx.x] = loc[i & 7] + cvar[i&1] + gvar[i&3];
  dyn[threadIdx.x] = 2.0f;
  __syncthreads();
  float v = s[(threadIdx.x + 1) % blockDim.x] + dyn[threadIdx.x];
  v += __shfl_down_sync(0xffffffff, v, 1);
  v = helper(v, i);
  h[i] = __float2bfloat16(v);
  __half2 hh = __floats2half2_rn(v, v*2);
  out[i] = __low2float(hh) + __high2float(hh) + (float)(i / 3) + __expf(v) + sqrtf(v);
}
