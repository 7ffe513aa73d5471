// Kernels whose CTAs communicate through global memory, for the parallel-CTA tests.
// Build: nvcc -ptx -arch=compute_80 multicta.cu -o multicta.ptx   (nvcc 13.0)

// Split reduction, last CTA reduces (the split-K pattern): every CTA sums its chunk of x
// into partial[blockIdx.x] (f32, tree in shared memory), fences, and bumps a counter; the
// CTA that arrives last sums the partials in CTA order into out[0] (so the result does not
// depend on which CTA that is) and writes the number of CTAs it saw into out[1].
extern "C" __global__ void last_cta_reduce(const float* x, float* partial,
                                           unsigned* counter, float* out, int chunk) {
  __shared__ float s[256];
  __shared__ bool last;
  const float* xc = x + (size_t)blockIdx.x * chunk;
  float acc = 0.f;
  for (int i = threadIdx.x; i < chunk; i += blockDim.x) acc += xc[i] * xc[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partial[blockIdx.x] = s[0];
    __threadfence();
    unsigned prev = atomicAdd(counter, 1u);
    last = prev == gridDim.x - 1;
  }
  __syncthreads();
  if (last && threadIdx.x == 0) {
    __threadfence();
    float total = 0.f;
    for (unsigned b = 0; b < gridDim.x; b++) total += ((volatile float*)partial)[b];
    out[0] = total;
    out[1] = (float)atomicAdd(counter, 0u);
    *counter = 0;  // ready for the next launch
  }
}

// CTAs that spin-wait on each other: CTA b waits until CTA b+1 has published its value,
// then publishes its own (value of b+1 plus b). Needs every CTA to make progress while
// lower-numbered ones spin, whatever the number of host threads.
extern "C" __global__ void reverse_chain(unsigned* flags, unsigned* vals) {
  unsigned b = blockIdx.x;
  if (threadIdx.x == 0) {
    unsigned v = b;
    if (b + 1 < gridDim.x) {
      while (atomicAdd(&flags[b + 1], 0u) == 0) {
      }
      v += ((volatile unsigned*)vals)[b + 1];
    }
    vals[b] = v;
    __threadfence();
    atomicExch(&flags[b], 1u);
  }
}
