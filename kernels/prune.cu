// prune_compress: dense [rows, cols] → logical 2:4 form (values [rows, cols/2],
// metadata [rows, cols/16] u16), choosing the kept pair of every group of four by
// magnitude, by a caller's f32 score matrix, by a caller's mask (logical metadata
// words), or by detecting the pattern already there (which is also `check`).
//
// One thread per group of four: a warp reads 32 consecutive groups, i.e. 512 (f32)
// or 256 (f16/bf16) contiguous bytes per request, and writes its kept pairs
// contiguously; the four lanes of a metadata word combine their codes by shuffles.
// Bit-exact with src/prune.rs + Sparse24::compress_masked: the same f32 comparisons
// and tie rule (first maximum, then first maximum of the rest).
//
// Faults never produce silent output: they go to status (u64[4], reset to all ones by
// prune_status_reset) as the smallest offending index, atomicMin:
//   [0] group with more than two nonzeros (detect): group << 3 | nonzeros,
//   [1] non-finite (NaN or ±Inf) score: element,  [2] non-finite weight: element,
//   [3] illegal code in the caller's mask: group << 4 | code.
#include "elem.cuh"

namespace {

enum Mode : unsigned { kMagnitude = 0, kScores = 1, kMask = 2, kDetect = 3 };
constexpr unsigned long long kNone = ~0ull;
constexpr uint32_t kLegalCodes = 0x7310u;  // bits 4, 8, 9, 12, 13, 14

// Keep set of the two best scores: first maximum, then first maximum of the rest.
// Tracked by value and index (no dynamically indexed arrays: they go to local memory).
__device__ __forceinline__ uint32_t top_two_keep(const float s[4]) {
    int bi = 0;
    float bv = s[0];
#pragma unroll
    for (int i = 1; i < 4; ++i)
        if (s[i] > bv) bv = s[i], bi = i;
    int si = bi == 0 ? 1 : 0;
    float sv = bi == 0 ? s[1] : s[0];
#pragma unroll
    for (int i = 0; i < 4; ++i)
        if (i != bi && s[i] > sv) sv = s[i], si = i;
    return (1u << bi) | (1u << si);
}

// The lowest zero positions fill a keep set up to two (Pattern::covering).
__device__ __forceinline__ uint32_t covering(uint32_t bits) {
#pragma unroll
    for (int r = 0; r < 2; ++r)
        if (__popc(bits) < 2) bits |= ~bits & (bits + 1);
    return bits & 0xFu;
}

template <class T>
__device__ __forceinline__ void prune_group(const void* dense, const float* scores, const uint16_t* mask,
                                            void* values, uint16_t* meta, unsigned long long* status,
                                            unsigned long long groups, unsigned mode) {
    const unsigned long long g = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    const bool valid = g < groups;
    uint32_t code = 0;
    if (valid) {
        uint32_t w[4];
        T::load4(dense, g, w);
        // The policy of src/dtype.rs (check_finite): NaN and ±Inf are faults alike.
        uint32_t bad_bits = 0, nz_bits = 0;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            bad_bits |= (uint32_t)!T::is_finite(w[i]) << i;
            nz_bits |= (uint32_t)!T::is_zero(w[i]) << i;
        }
        uint32_t keep;
        if (mode == kScores) {
            const float4 v = __ldg(reinterpret_cast<const float4*>(scores) + g);
            const float s[4] = {v.x, v.y, v.z, v.w};
            uint32_t sbad = 0;
#pragma unroll
            for (int i = 0; i < 4; ++i) sbad |= (uint32_t)!s24::F32::is_finite(__float_as_uint(s[i])) << i;
            if (sbad) atomicMin(status + 1, 4 * g + __ffs(sbad) - 1);
            keep = top_two_keep(s);
        } else if (mode == kMask) {
            uint32_t c = (__ldg(mask + (g >> 2)) >> (4 * (g & 3))) & 0xFu;
            if (!((kLegalCodes >> c) & 1u)) {
                atomicMin(status + 3, (g << 4) | c);  // the code rides in the low bits
                c = 0x4u;
            }
            keep = (1u << (c & 3u)) | (1u << (c >> 2));
        } else if (mode == kDetect) {
            if (__popc(nz_bits) > 2) atomicMin(status + 0, (g << 3) | __popc(nz_bits));
            keep = covering(nz_bits);
        } else {
            float s[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) s[i] = fabsf(T::to_f(w[i]));
            keep = top_two_keep(s);
        }
        // Magnitude and detect look at every weight; scores and masks only at kept ones.
        const uint32_t bad = (mode == kScores || mode == kMask) ? (bad_bits & keep) : bad_bits;
        if (bad) atomicMin(status + 2, 4 * g + __ffs(bad) - 1);
        code = s24::code_of_keep(keep);
        if (values) {
            const uint32_t a = code & 3u, b = code >> 2;
            // Selects, not w[a]: a dynamic index would put w in local memory.
            uint32_t va = w[0], vb = w[1];
#pragma unroll
            for (uint32_t i = 1; i < 4; ++i) {
                va = a == i ? w[i] : va;
                vb = b == i ? w[i] : vb;
            }
            T::store2(values, g, va, vb);
        }
    }
    const uint32_t word = s24::gather_word(code);
    if (valid && meta && (threadIdx.x & 3) == 0) meta[g >> 2] = (uint16_t)word;
}

}  // namespace

extern "C" __global__ void prune_status_reset(unsigned long long* status, unsigned n) {
    if (threadIdx.x < n) status[threadIdx.x] = kNone;
}

#define S24_PRUNE_KERNEL(NAME, T)                                                                   \
    extern "C" __global__ void NAME(const void* __restrict__ dense, const float* __restrict__ scores, \
                                    const uint16_t* __restrict__ mask, void* __restrict__ values,      \
                                    uint16_t* __restrict__ meta, unsigned long long* status,           \
                                    unsigned long long groups, unsigned mode) {                        \
        prune_group<T>(dense, scores, mask, values, meta, status, groups, mode);                       \
    }

S24_PRUNE_KERNEL(prune_compress_f32, s24::F32)
S24_PRUNE_KERNEL(prune_compress_f16, s24::F16)
S24_PRUNE_KERNEL(prune_compress_bf16, s24::BF16)
