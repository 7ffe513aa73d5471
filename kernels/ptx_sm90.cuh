// PTX wrappers of the Hopper instructions the sm_90 kernels use: mbarriers, bulk
// copies (1-D and tensor), clusters and distributed shared memory, programmatic
// dependent launch (all sm_90 baseline), and wgmma(.sp), setmaxnreg (sm_90a only).
// Included only by kernels whose file is marked `// sparse24-arch: sm_90a` or
// `// sparse24-arch: sm_90` (build.rs compiles those for that architecture alone):
// nothing here may reach an sm_80 build.
#pragma once
#include <cstdint>

namespace s24::sm90 {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---------------------------------------------------------------- mbarrier

__device__ __forceinline__ void mbar_init(uint64_t* bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}

// Makes the initialised barriers visible to the async proxy (the bulk copies that
// complete on them) and to the other threads, before the CTA barrier that follows.
__device__ __forceinline__ void fence_mbar_init() {
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.release.cta.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)),
                 "r"(bytes)
                 : "memory");
}

__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
    asm volatile("mbarrier.arrive.release.cta.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}

// Whether the phase of parity `parity` has completed (a bounded wait in hardware).
__device__ __forceinline__ bool mbar_try_wait(uint64_t* bar, unsigned parity) {
    uint32_t done;
    asm volatile(
        "{\n\t.reg .pred p;\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
        "selp.u32 %0, 1, 0, p;\n\t}"
        : "=r"(done)
        : "r"(smem_u32(bar)), "r"(parity)
        : "memory");
    return done != 0;
}

__device__ __forceinline__ void mbar_wait(uint64_t* bar, unsigned parity) {
    while (!mbar_try_wait(bar, parity)) {
    }
}

// ---------------------------------------------------------------- bulk tensor copies

// The 2-D box at coordinates (c0 innermost, c1) of the tensor map at `map` (the
// generic address of a __grid_constant__ kernel parameter) into shared memory at
// `dst`, completing `bytes` transaction bytes on `bar`.
__device__ __forceinline__ void tma_load_2d(void* dst, const void* map, uint64_t* bar, int c0, int c1) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];" ::"r"(
            smem_u32(dst)),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_u32(bar)), "r"(c0), "r"(c1)
        : "memory");
}

// One contiguous run of `bytes` (a multiple of 16, both addresses 16-byte aligned)
// from global memory into this CTA's shared memory by the bulk copy engine,
// completing `bytes` transaction bytes on `bar`, with the L2 cache policy `pol`.
__device__ __forceinline__ void bulk_copy_g2s(void* dst, const void* src, unsigned bytes, uint64_t* bar,
                                              unsigned long long pol) {
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], "
        "%4;" ::"r"(smem_u32(dst)),
        "l"(src), "r"(bytes), "r"(smem_u32(bar)), "l"(pol)
        : "memory");
}

// ---------------------------------------------------------------- clusters

// This CTA's rank in its thread-block cluster.
__device__ __forceinline__ unsigned cluster_ctarank() {
    unsigned r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return r;
}

// Every thread of every CTA of the cluster: the shared-memory writes before it are
// visible cluster-wide to the reads after it.
__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}

// The shared::cluster address of the same offset as the shared::cta address `a` in the
// CTA of rank `rank`.
__device__ __forceinline__ uint32_t mapa_shared(uint32_t a, unsigned rank) {
    uint32_t d;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(rank));
    return d;
}

// 16 bytes of another CTA's shared memory (distributed shared memory).
__device__ __forceinline__ float4 ld_shared_cluster_f4(uint32_t a) {
    float4 v;
    asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];"
                 : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
                 : "r"(a)
                 : "memory");
    return v;
}

// ---------------------------------------------------------------- programmatic dependent launch

// Lets the next kernel of the stream start its prologue now (only where it was
// launched with programmatic stream serialization; a no-op otherwise).
__device__ __forceinline__ void griddep_launch_dependents() {
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

// Waits until the grids this one depends on have completed and their memory is
// visible (returns at once where the launch was fully serialized).
__device__ __forceinline__ void griddep_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

// ---------------------------------------------------------------- registers and barriers

// Warpgroup register reallocation: the producer gives registers back, the consumers
// take them (the totals must fit the register file: checked by the tile).
template <int REGS>
__device__ __forceinline__ void setmaxnreg_dec() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(REGS));
}
template <int REGS>
__device__ __forceinline__ void setmaxnreg_inc() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(REGS));
}

// A barrier among `threads` threads (whole warps) on hardware barrier `id` (1..15; 0
// is __syncthreads').
__device__ __forceinline__ void named_barrier(unsigned id, unsigned threads) {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

// ---------------------------------------------------------------- wgmma

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int PENDING>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(PENDING) : "memory");
}

// Keeps the compiler from moving accesses to accumulator registers across a wgmma
// fence or wait (the registers are written asynchronously).
template <int ND>
__device__ __forceinline__ void fence_operands(float (&d)[ND]) {
#pragma unroll
    for (int i = 0; i < ND; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// Shared-memory matrix descriptor of a K-major operand in the 128-byte swizzle: rows
// of 128 bytes, 8-row groups 1024 bytes apart (SBO), the tile 1024-byte aligned (base
// offset 0). `addr`: the shared address of the operand's first element.
__device__ __forceinline__ uint64_t desc_kmajor_sw128(uint32_t addr) {
    return static_cast<uint64_t>((addr >> 4) & 0x3FFF) | (static_cast<uint64_t>(1) << 16) |
           (static_cast<uint64_t>(1024 >> 4) << 32) | (static_cast<uint64_t>(1) << 62);
}

// The accumulator operands of an m64nNk32 wgmma (N / 2 f32 per thread), as asm outputs.
#define S24_WGMMA_D64 \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define S24_WGMMA_D128 \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), \
    "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
    "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
    "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
    "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
    "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
    "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
    "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
    "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

// wgmma.mma_async.sp m64n128k32, f32 += A (2:4-sparse, from registers: this warp's
// 16 rows, the mma.sp m16n8k32 fragment)
// · B (K-major in shared memory, `b_desc`), metadata `e` with selector SEL; D scaled
// by 1 (accumulate). One asm statement per operand type, spliced in by the macro.
#define S24_WGMMA_SP_RS_N128(TYPE) \
    asm volatile( \
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %71, 0;\n\t" \
        "wgmma.mma_async.sp.sync.aligned.m64n128k32.f32." TYPE "." TYPE " " \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, " \
        "{%64, %65, %66, %67}, %68, %69, %70, p, 1, 1, 0;\n\t}" \
        : S24_WGMMA_D64 \
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "l"(b_desc), "r"(e), "n"(SEL), "r"(1) \
        : "memory")
template <bool BF16, int SEL>
__device__ __forceinline__ void wgmma_sp_rs_m64n128k32(float (&d)[64], const uint4& a, uint64_t b_desc, unsigned e) {
    if constexpr (BF16) {
        S24_WGMMA_SP_RS_N128("bf16");
    } else {
        S24_WGMMA_SP_RS_N128("f16");
    }
}
#undef S24_WGMMA_SP_RS_N128

// wgmma.mma_async.sp m64n256k32, f32 += A (2:4-sparse, from registers: this warp's
// 16 rows, the mma.sp m16n8k32 fragment)
// · B (K-major in shared memory, `b_desc`), metadata `e` with selector SEL; D scaled
// by 1 (accumulate). One asm statement per operand type, spliced in by the macro.
#define S24_WGMMA_SP_RS_N256(TYPE) \
    asm volatile( \
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %135, 0;\n\t" \
        "wgmma.mma_async.sp.sync.aligned.m64n256k32.f32." TYPE "." TYPE " " \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, " \
        "{%128, %129, %130, %131}, %132, %133, %134, p, 1, 1, 0;\n\t}" \
        : S24_WGMMA_D128 \
        : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "l"(b_desc), "r"(e), "n"(SEL), "r"(1) \
        : "memory")
template <bool BF16, int SEL>
__device__ __forceinline__ void wgmma_sp_rs_m64n256k32(float (&d)[128], const uint4& a, uint64_t b_desc, unsigned e) {
    if constexpr (BF16) {
        S24_WGMMA_SP_RS_N256("bf16");
    } else {
        S24_WGMMA_SP_RS_N256("f16");
    }
}
#undef S24_WGMMA_SP_RS_N256

// wgmma.mma_async.sp m64n128k32, f32 += A (2:4-sparse, compressed, in shared memory: `a_desc`)
// · B (K-major in shared memory, `b_desc`), metadata `e` with selector SEL; D scaled
// by 1 (accumulate). One asm statement per operand type, spliced in by the macro.
#define S24_WGMMA_SP_SS_N128(TYPE) \
    asm volatile( \
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %68, 0;\n\t" \
        "wgmma.mma_async.sp.sync.aligned.m64n128k32.f32." TYPE "." TYPE " " \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, " \
        "%64, %65, %66, %67, p, 1, 1, 0, 0;\n\t}" \
        : S24_WGMMA_D64 \
        : "l"(a_desc), "l"(b_desc), "r"(e), "n"(SEL), "r"(1) \
        : "memory")
template <bool BF16, int SEL>
__device__ __forceinline__ void wgmma_sp_ss_m64n128k32(float (&d)[64], uint64_t a_desc, uint64_t b_desc, unsigned e) {
    if constexpr (BF16) {
        S24_WGMMA_SP_SS_N128("bf16");
    } else {
        S24_WGMMA_SP_SS_N128("f16");
    }
}
#undef S24_WGMMA_SP_SS_N128

// wgmma.mma_async.sp m64n256k32, f32 += A (2:4-sparse, compressed, in shared memory: `a_desc`)
// · B (K-major in shared memory, `b_desc`), metadata `e` with selector SEL; D scaled
// by 1 (accumulate). One asm statement per operand type, spliced in by the macro.
#define S24_WGMMA_SP_SS_N256(TYPE) \
    asm volatile( \
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %132, 0;\n\t" \
        "wgmma.mma_async.sp.sync.aligned.m64n256k32.f32." TYPE "." TYPE " " \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, " \
        "%128, %129, %130, %131, p, 1, 1, 0, 0;\n\t}" \
        : S24_WGMMA_D128 \
        : "l"(a_desc), "l"(b_desc), "r"(e), "n"(SEL), "r"(1) \
        : "memory")
template <bool BF16, int SEL>
__device__ __forceinline__ void wgmma_sp_ss_m64n256k32(float (&d)[128], uint64_t a_desc, uint64_t b_desc, unsigned e) {
    if constexpr (BF16) {
        S24_WGMMA_SP_SS_N256("bf16");
    } else {
        S24_WGMMA_SP_SS_N256("f16");
    }
}
#undef S24_WGMMA_SP_SS_N256

#undef S24_WGMMA_D64
#undef S24_WGMMA_D128

// Shared-memory matrix descriptor of a K-major operand in the 64-byte swizzle (the SS
// GEMM's compressed W: rows of 64 bytes, 8-row groups 512 bytes apart (SBO), the tile
// 512-byte aligned (base offset 0); LBO unused by swizzled K-major layouts). `addr`:
// the shared address of the operand's first element.
__device__ __forceinline__ uint64_t desc_kmajor_sw64(uint32_t addr) {
    return static_cast<uint64_t>((addr >> 4) & 0x3FFF) | (static_cast<uint64_t>(1) << 16) |
           (static_cast<uint64_t>(512 >> 4) << 32) | (static_cast<uint64_t>(2) << 62);
}

}  // namespace s24::sm90
