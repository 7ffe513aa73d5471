// One-warp kernels: each lane loads its fragment registers from global memory (in the
// order given by the host), runs a single mma / mma.sp, and stores its D registers.
// Build: nvcc -ptx -arch=sm_80 mma.cu -o mma.ptx
#include <stdint.h>

#define DENSE_F32(NAME, SHAPE, T, NA, NB)                                                     \
  extern "C" __global__ void NAME(const uint32_t* A, const uint32_t* B, const float* C, float* D) { \
    int l = threadIdx.x;                                                                        \
    uint32_t a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};                                           \
    for (int i = 0; i < NA; i++) a[i] = A[l * NA + i];                                          \
    for (int i = 0; i < NB; i++) b[i] = B[l * NB + i];                                          \
    float c0 = C[l * 4], c1 = C[l * 4 + 1], c2 = C[l * 4 + 2], c3 = C[l * 4 + 3];                 \
    float d0, d1, d2, d3;                                                                        \
    if (NA == 4)                                                                                 \
      asm volatile("mma.sync.aligned." SHAPE ".row.col.f32." T "." T ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};" \
                   : "=f"(d0), "=f"(d1), "=f"(d2), "=f"(d3)                                      \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c0), "f"(c1), "f"(c2), "f"(c3)); \
    else                                                                                         \
      asm volatile("mma.sync.aligned." SHAPE ".row.col.f32." T "." T ".f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%8,%9,%10};" \
                   : "=f"(d0), "=f"(d1), "=f"(d2), "=f"(d3)                                      \
                   : "r"(a[0]), "r"(a[1]), "r"(b[0]), "f"(c0), "f"(c1), "f"(c2), "f"(c3));       \
    D[l * 4] = d0; D[l * 4 + 1] = d1; D[l * 4 + 2] = d2; D[l * 4 + 3] = d3;                       \
  }

DENSE_F32(mma_m16n8k16_bf16, "m16n8k16", "bf16", 4, 2)
DENSE_F32(mma_m16n8k16_f16, "m16n8k16", "f16", 4, 2)
DENSE_F32(mma_m16n8k8_bf16, "m16n8k8", "bf16", 2, 1)
DENSE_F32(mma_m16n8k8_f16, "m16n8k8", "f16", 2, 1)

// f16 accumulators: C and D are two .f16x2 registers per lane.
extern "C" __global__ void mma_m16n8k16_f16_f16acc(const uint32_t* A, const uint32_t* B, const uint32_t* C, uint32_t* D) {
  int l = threadIdx.x;
  uint32_t d0, d1;
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16 {%0,%1}, {%2,%3,%4,%5}, {%6,%7}, {%8,%9};"
               : "=r"(d0), "=r"(d1)
               : "r"(A[l * 4]), "r"(A[l * 4 + 1]), "r"(A[l * 4 + 2]), "r"(A[l * 4 + 3]), "r"(B[l * 2]), "r"(B[l * 2 + 1]),
                 "r"(C[l * 2]), "r"(C[l * 2 + 1]));
  D[l * 2] = d0;
  D[l * 2 + 1] = d1;
}

#define SP_K32(NAME, OP, T, SEL)                                                                       \
  extern "C" __global__ void NAME(const uint32_t* A, const uint32_t* B, const float* C, const uint32_t* E, float* D) { \
    int l = threadIdx.x;                                                                                 \
    float d0, d1, d2, d3;                                                                                 \
    asm volatile(OP ".sync.aligned.m16n8k32.row.col.f32." T "." T ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9,%10,%11}, {%12,%13,%14,%15}, %16, " #SEL ";" \
                 : "=f"(d0), "=f"(d1), "=f"(d2), "=f"(d3)                                                  \
                 : "r"(A[l * 4]), "r"(A[l * 4 + 1]), "r"(A[l * 4 + 2]), "r"(A[l * 4 + 3]), "r"(B[l * 4]),   \
                   "r"(B[l * 4 + 1]), "r"(B[l * 4 + 2]), "r"(B[l * 4 + 3]), "f"(C[l * 4]), "f"(C[l * 4 + 1]), \
                   "f"(C[l * 4 + 2]), "f"(C[l * 4 + 3]), "r"(E[l]));                                        \
    D[l * 4] = d0; D[l * 4 + 1] = d1; D[l * 4 + 2] = d2; D[l * 4 + 3] = d3;                               \
  }

SP_K32(sp_k32_bf16_ord_s0, "mma.sp::ordered_metadata", "bf16", 0)
SP_K32(sp_k32_bf16_ord_s1, "mma.sp::ordered_metadata", "bf16", 1)
SP_K32(sp_k32_f16_ord_s0, "mma.sp::ordered_metadata", "f16", 0)
SP_K32(sp_k32_f16_ord_s1, "mma.sp::ordered_metadata", "f16", 1)
SP_K32(sp_k32_bf16_plain_s0, "mma.sp", "bf16", 0)
SP_K32(sp_k32_f16_plain_s1, "mma.sp", "f16", 1)

#define SP_K16(NAME, OP, T, SEL)                                                                       \
  extern "C" __global__ void NAME(const uint32_t* A, const uint32_t* B, const float* C, const uint32_t* E, float* D) { \
    int l = threadIdx.x;                                                                                 \
    float d0, d1, d2, d3;                                                                                 \
    asm volatile(OP ".sync.aligned.m16n8k16.row.col.f32." T "." T ".f32 {%0,%1,%2,%3}, {%4,%5}, {%6,%7}, {%8,%9,%10,%11}, %12, " #SEL ";" \
                 : "=f"(d0), "=f"(d1), "=f"(d2), "=f"(d3)                                                  \
                 : "r"(A[l * 2]), "r"(A[l * 2 + 1]), "r"(B[l * 2]), "r"(B[l * 2 + 1]), "f"(C[l * 4]),       \
                   "f"(C[l * 4 + 1]), "f"(C[l * 4 + 2]), "f"(C[l * 4 + 3]), "r"(E[l]));                     \
    D[l * 4] = d0; D[l * 4 + 1] = d1; D[l * 4 + 2] = d2; D[l * 4 + 3] = d3;                               \
  }

SP_K16(sp_k16_bf16_ord_s0, "mma.sp::ordered_metadata", "bf16", 0)
SP_K16(sp_k16_bf16_ord_s1, "mma.sp::ordered_metadata", "bf16", 1)
SP_K16(sp_k16_f16_ord_s2, "mma.sp::ordered_metadata", "f16", 2)
SP_K16(sp_k16_f16_ord_s3, "mma.sp::ordered_metadata", "f16", 3)
