// Philox4x32-10 and the noise built on it: the device twin of src/philox.rs, which
// documents the stream layout (key = seed, counter = (group_lo, group_hi, step, block))
// and is tested against Random123's known answers. Both produce the same words bit
// for bit; the float transforms here are f32 and match the f64 reference to rounding.
#pragma once
#include <cstdint>

namespace s24 {

struct Words8 {
    uint32_t w[8];
};

__device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint32_t k0, uint32_t k1) {
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const uint32_t hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        const uint32_t hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = make_uint4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
    }
    return c;
}

// Blocks 0 and 1 of a group's counter: eight words, six used.
__device__ __forceinline__ Words8 group_words(uint32_t seed_lo, uint32_t seed_hi,
                                              unsigned long long group, uint32_t step) {
    const uint32_t glo = (uint32_t)group, ghi = (uint32_t)(group >> 32);
    const uint4 a = philox4x32_10(make_uint4(glo, ghi, step, 0u), seed_lo, seed_hi);
    const uint4 b = philox4x32_10(make_uint4(glo, ghi, step, 1u), seed_lo, seed_hi);
    return Words8{{a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w}};
}

// −ln u for u = ((x >> 8) + 0.5)·2⁻²⁴. Above ½, u is not exact in f32 (25 significant
// bits), so it goes through ln(1 − v) with v = 1 − u, which is exact there.
__device__ __forceinline__ float neg_ln_uniform(uint32_t x) {
    const uint32_t k = x >> 8;
    if (k < (1u << 23)) return -logf(((float)k + 0.5f) * 0x1p-24f);
    return -log1pf(-(((float)(0xFFFFFFu - k) + 0.5f) * 0x1p-24f));
}

__device__ __forceinline__ float gumbel(uint32_t x) { return -logf(neg_ln_uniform(x)); }

}  // namespace s24
