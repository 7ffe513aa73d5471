// Thread-block cluster kernels for ptxsim (sm_90a): distributed shared memory through
// cooperative_groups' cluster API, cluster barriers and remote mbarrier arrivals. Launched
// with cluster dimensions (none are compiled in). Build (pinned nvcc 13.0):
//   nvcc -arch=sm_90a --ptx cluster.cu -o cluster.ptx
#include <cooperative_groups.h>
#include <cuda/ptx>
#include <stdint.h>
namespace cg = cooperative_groups;
namespace ptx = cuda::ptx;

__device__ __forceinline__ unsigned sreg_clusterid(int d) {
  unsigned v;
  if (d == 0) asm volatile("mov.u32 %0, %%clusterid.x;" : "=r"(v));
  else if (d == 1) asm volatile("mov.u32 %0, %%clusterid.y;" : "=r"(v));
  else asm volatile("mov.u32 %0, %%clusterid.z;" : "=r"(v));
  return v;
}
__device__ __forceinline__ unsigned sreg_nclusterid(int d) {
  unsigned v;
  if (d == 0) asm volatile("mov.u32 %0, %%nclusterid.x;" : "=r"(v));
  else if (d == 1) asm volatile("mov.u32 %0, %%nclusterid.y;" : "=r"(v));
  else asm volatile("mov.u32 %0, %%nclusterid.z;" : "=r"(v));
  return v;
}
__device__ __forceinline__ unsigned sreg_is_explicit() {
  unsigned v;
  asm volatile("{\n\t.reg .pred p;\n\tmov.pred p, %%is_explicit_cluster;\n\tselp.u32 %0, 1, 0, p;\n\t}" : "=r"(v));
  return v;
}

// Split reduction over a cluster: CTA r of a cluster stores in[cta][t] * (r + 1) in its shared
// memory; after a cluster barrier, the last rank sums the cluster's CTAs through their shared
// memory (mapa + generic loads) into out[cluster][t]; a second cluster barrier keeps the other
// CTAs (and their shared memory) alive until it has read them. Thread 0 of each CTA records
// its cluster registers in ids[cta][0..12]. SYNC_READ / SYNC_EXIT drop a barrier (the bugs).
template <bool SYNC_READ, bool SYNC_EXIT>
__device__ __forceinline__ void reduce_body(const int* in, int* out, unsigned* ids) {
  __shared__ int part[128];
  cg::cluster_group cl = cg::this_cluster();
  unsigned rank = cl.block_rank();
  int t = threadIdx.x;
  unsigned cta = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  part[t] = in[cta * blockDim.x + t] * (int)(rank + 1);
  if (SYNC_READ) cl.sync();
  if (rank == cl.num_blocks() - 1) {
    int acc = 0;
    for (unsigned r = 0; r < cl.num_blocks(); ++r) acc += cl.map_shared_rank(part, r)[t];
    unsigned cid = sreg_clusterid(0) +
                   sreg_nclusterid(0) * (sreg_clusterid(1) + sreg_nclusterid(1) * sreg_clusterid(2));
    out[cid * blockDim.x + t] = acc;
  }
  if (SYNC_EXIT) cl.sync();
  if (t == 0) {
    dim3 bi = cl.block_index(), bd = cl.dim_blocks();
    unsigned* o = ids + cta * 12;
    o[0] = rank;
    o[1] = cl.num_blocks();
    o[2] = bi.x; o[3] = bi.y; o[4] = bi.z;
    o[5] = bd.x; o[6] = bd.y; o[7] = bd.z;
    o[8] = sreg_clusterid(0); o[9] = sreg_clusterid(1); o[10] = sreg_clusterid(2);
    o[11] = sreg_is_explicit();
  }
}

extern "C" __global__ void __launch_bounds__(128) reduce_ok(const int* in, int* out, unsigned* ids) {
  reduce_body<true, true>(in, out, ids);
}
// BUG: the last rank reads the other CTAs' partials with no cluster barrier after they wrote them.
extern "C" __global__ void __launch_bounds__(128) reduce_noread(const int* in, int* out, unsigned* ids) {
  reduce_body<false, true>(in, out, ids);
}
// BUG: the other CTAs may exit (and free their shared memory) before the last rank has read it.
extern "C" __global__ void __launch_bounds__(128) reduce_noexit(const int* in, int* out, unsigned* ids) {
  reduce_body<true, false>(in, out, ids);
}

// Hand-off through rank 0's shared memory and mbarrier: rank 0 initialises its rows and its
// barrier (count: the other CTAs' threads), a cluster barrier publishes both; every other CTA
// writes its row of rank 0's buffer (st.shared::cluster) and arrives on rank 0's barrier
// (mbarrier.arrive.release.cluster.shared::cluster); rank 0 waits on its barrier (acquire,
// cluster scope) and writes out[cluster][t] = sum of the rows. WAIT = false: rank 0 does
// not wait (the bug).
template <bool WAIT>
__device__ __forceinline__ void handoff_body(int* out) {
  __shared__ int rows[8][64];
  __shared__ uint64_t bar;
  cg::cluster_group cl = cg::this_cluster();
  unsigned rank = cl.block_rank(), n = cl.num_blocks();
  int t = threadIdx.x;
  if (rank == 0) {
    for (unsigned r = 0; r < 8; ++r) rows[r][t] = 0;
    if (t == 0) {
      ptx::mbarrier_init(&bar, (n - 1) * blockDim.x);
      ptx::fence_mbarrier_init(ptx::sem_release, ptx::scope_cluster);
    }
  }
  cl.sync();
  if (rank != 0) {
    int* dst = cl.map_shared_rank(&rows[0][0], 0);
    dst[rank * 64 + t] = (int)(rank * 1000 + t);
    ptx::mbarrier_arrive(ptx::sem_release, ptx::scope_cluster, ptx::space_cluster,
                         cl.map_shared_rank(&bar, 0));
  } else {
    if (WAIT) {
      while (!ptx::mbarrier_try_wait_parity(ptx::sem_acquire, ptx::scope_cluster, &bar, 0)) {
      }
    }
    int acc = 0;
    for (unsigned r = 1; r < n; ++r) acc += rows[r][t];
    out[blockIdx.x / n * 64 + t] = acc;
  }
}

extern "C" __global__ void __launch_bounds__(64) handoff_ok(int* out) { handoff_body<true>(out); }
// BUG: rank 0 reads its rows without waiting for the other CTAs' arrivals.
extern "C" __global__ void __launch_bounds__(64) handoff_nowait(int* out) { handoff_body<false>(out); }
