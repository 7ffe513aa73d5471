// Element types of the kernels (f32, f16, bf16) as raw bits plus conversions, so one
// template serves all three; the one home of the kernels' element conversions. A group of four elements is one
// 16-byte (f32) or 8-byte (f16/bf16) access: a warp touching 32 consecutive groups
// reads 512 or 256 contiguous bytes, the ideal sector count per request.
#pragma once
#include <cuda_fp16.h>
#include <cstdint>

namespace s24 {

struct F32 {
    static __device__ __forceinline__ float to_f(uint32_t b) { return __uint_as_float(b); }
    static __device__ __forceinline__ uint32_t from_f(float f) { return __float_as_uint(f); }
    static __device__ __forceinline__ bool is_nan(uint32_t b) { return (b & 0x7FFFFFFFu) > 0x7F800000u; }
    // Neither NaN nor ±Inf: the exponent is not all ones (Element::is_finite).
    static __device__ __forceinline__ bool is_finite(uint32_t b) { return (b & 0x7F800000u) != 0x7F800000u; }
    static __device__ __forceinline__ bool is_zero(uint32_t b) { return (b & 0x7FFFFFFFu) == 0; }
    static __device__ __forceinline__ void load4(const void* p, unsigned long long g, uint32_t e[4]) {
        const uint4 v = __ldg(reinterpret_cast<const uint4*>(p) + g);
        e[0] = v.x, e[1] = v.y, e[2] = v.z, e[3] = v.w;
    }
    static __device__ __forceinline__ void store4(void* p, unsigned long long g, const uint32_t e[4]) {
        reinterpret_cast<uint4*>(p)[g] = make_uint4(e[0], e[1], e[2], e[3]);
    }
    static __device__ __forceinline__ void store2(void* p, unsigned long long g, uint32_t a, uint32_t b) {
        reinterpret_cast<uint2*>(p)[g] = make_uint2(a, b);
    }
};

// f16 and bf16 share their memory handling; only the conversions differ.
struct B16 {
    static __device__ __forceinline__ void load4(const void* p, unsigned long long g, uint32_t e[4]) {
        const uint2 v = __ldg(reinterpret_cast<const uint2*>(p) + g);
        e[0] = v.x & 0xFFFFu, e[1] = v.x >> 16, e[2] = v.y & 0xFFFFu, e[3] = v.y >> 16;
    }
    static __device__ __forceinline__ void store4(void* p, unsigned long long g, const uint32_t e[4]) {
        reinterpret_cast<uint2*>(p)[g] = make_uint2(e[0] | (e[1] << 16), e[2] | (e[3] << 16));
    }
    static __device__ __forceinline__ void store2(void* p, unsigned long long g, uint32_t a, uint32_t b) {
        reinterpret_cast<uint32_t*>(p)[g] = a | (b << 16);
    }
    static __device__ __forceinline__ bool is_zero(uint32_t b) { return (b & 0x7FFFu) == 0; }
};

struct F16 : B16 {
    // The operand type of the tensor-core instructions (kernels/ptx.cuh): not bf16.
    static constexpr bool kBf16 = false;
    static __device__ __forceinline__ float to_f(uint32_t b) {
        return __half2float(__ushort_as_half((unsigned short)b));
    }
    static __device__ __forceinline__ uint32_t from_f(float f) {
        return __half_as_ushort(__float2half_rn(f));
    }
    static __device__ __forceinline__ bool is_nan(uint32_t b) { return (b & 0x7FFFu) > 0x7C00u; }
    static __device__ __forceinline__ bool is_finite(uint32_t b) { return (b & 0x7C00u) != 0x7C00u; }
};

// bf16 by integer operations: exact widening, round-to-nearest-even narrowing, NaN
// kept quiet with its sign (as the `half` crate does on the CPU).
struct BF16 : B16 {
    static constexpr bool kBf16 = true;
    static __device__ __forceinline__ float to_f(uint32_t b) { return __uint_as_float(b << 16); }
    static __device__ __forceinline__ uint32_t from_f(float f) {
        const uint32_t u = __float_as_uint(f);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (u >> 16) | 0x40u;
        return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    }
    static __device__ __forceinline__ bool is_nan(uint32_t b) { return (b & 0x7FFFu) > 0x7F80u; }
    static __device__ __forceinline__ bool is_finite(uint32_t b) { return (b & 0x7F80u) != 0x7F80u; }
    // The hardware's narrowing (cvt.rn.bf16.f32, sm_80+): round to nearest even like
    // from_f, but a NaN becomes the canonical NaN. The GEMM epilogue's conversion.
    static __device__ __forceinline__ unsigned short from_f_cvt(float f) {
        unsigned short h;
        asm("cvt.rn.bf16.f32 %0, %1;\n" : "=h"(h) : "f"(f));
        return h;
    }
};

// One 16-bit element of type T (F16 or BF16) at p, widened to f32 (exact).
template <class T>
__device__ __forceinline__ float load_elem(const uint16_t* p) {
    return T::to_f(*p);
}

// The 4-bit 2:4 code (first kept index in bits [1:0], second in [3:2]) of a
// two-bit keep set.
__device__ __forceinline__ uint32_t code_of_keep(uint32_t keep) {
    const uint32_t a = __ffs(keep) - 1, b = 31 - __clz(keep);
    return a | (b << 2);
}

// Gathers the codes of four consecutive groups, held by lanes 4k..4k+3, into the
// 16-bit metadata word (group j at bits [4j+3:4j]). Every lane of the warp must call.
__device__ __forceinline__ uint32_t gather_word(uint32_t code) {
    uint32_t w = code << (4 * (threadIdx.x & 3));
    w |= __shfl_xor_sync(0xFFFFFFFFu, w, 1);
    w |= __shfl_xor_sync(0xFFFFFFFFu, w, 2);
    return w;
}

}  // namespace s24
