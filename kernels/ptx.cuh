// The inline-PTX wrappers of the sparse24 kernels, one home for all of them: shared
// memory addresses, cp.async (+ commit / wait), ldmatrix, loads with cache hints and
// the sparse tensor-core MMA. Element conversions are not here: kernels/elem.cuh.
// The facts behind each instruction (fragment layouts, selectors, latencies):
// shared/HARDWARE.md.
#pragma once
#include <cstdint>

namespace s24 {

// ---------------------------------------------------------------- addresses

// The 32-bit shared-memory address of a generic pointer into shared memory.
__device__ __forceinline__ unsigned smem_u32(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// ---------------------------------------------------------------- cp.async

// 16-byte global → shared copy, L2 only (.cg); src_bytes = 0 writes zeros (the source
// is not read).
__device__ __forceinline__ void cp_async_16(unsigned dst, const void* src, unsigned src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(src_bytes)
                 : "memory");
}

// 4-byte global → shared copy through L1 (.ca: cp.async.cg takes 16 bytes only).
__device__ __forceinline__ void cp_async_4(unsigned dst, const void* src) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(dst), "l"(src) : "memory");
}

__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

// Waits until at most N committed groups of this thread are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// ---------------------------------------------------------------- loads

// Four 8×8 b16 matrices from shared memory (non-transposed); lane l gives the row
// address of matrix l / 8, row l % 8.
__device__ __forceinline__ void ldmatrix_x4(unsigned addr, unsigned (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

// 16-byte shared-memory load at a 32-bit shared address (asm volatile with a memory
// clobber: never moved across the cp.async waits and barriers that guard the data).
__device__ __forceinline__ uint4 lds_v4(unsigned addr) {
    uint4 v;
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "r"(addr)
                 : "memory");
    return v;
}

// 4-byte shared-memory load at a 32-bit shared address (as lds_v4).
__device__ __forceinline__ unsigned lds_u32(unsigned addr) {
    unsigned v;
    asm volatile("ld.shared.u32 %0, [%1];\n" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

// 16-byte global load through the read-only (non-coherent) path.
__device__ __forceinline__ uint4 ldg_nc_v4(const uint4* p) {
    uint4 v;
    asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

// ---------------------------------------------------------------- tensor cores

// mma.sp::ordered_metadata m16n8k32, f16 (BF16 = false) or bf16 inputs, f32
// accumulators d += A·B, metadata register e with selector SEL.
// (One asm statement per operand type, spliced in: asm takes string literals only.)
#define S24_MMA_SP_16832(TYPE)                                                                    \
    asm volatile(                                                                                 \
        "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32." TYPE "." TYPE ".f32 "       \
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9, %10, %11}, {%0, %1, %2, %3}, %12, %13;\n"    \
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                          \
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]),     \
          "r"(e), "n"(SEL))
template <bool BF16, int SEL>
__device__ __forceinline__ void mma_sp_16832(float (&d)[4], const uint4& a, const unsigned (&b)[4],
                                             unsigned e) {
    if constexpr (BF16) {
        S24_MMA_SP_16832("bf16");
    } else {
        S24_MMA_SP_16832("f16");
    }
}
#undef S24_MMA_SP_16832

}  // namespace s24
