// decompress: logical 2:4 form (values [rows, cols/2], metadata [rows, cols/16] u16)
// → dense [rows, cols]. One thread per 16-byte chunk of the dense output, so every
// warp-wide access is contiguous: an 8-byte load of kept values, a 2-byte metadata
// load shared by the 2 (f16/bf16) or 4 (f32) lanes of one word, a 16-byte store.
// Element bits are moved, never converted, so one kernel serves f16 and bf16.
#include "common.cuh"

namespace {

template <typename E>
__device__ __forceinline__ void decompress_chunk(const uint2* __restrict__ values,
                                                 const uint16_t* __restrict__ meta,
                                                 uint4* __restrict__ dense,
                                                 unsigned long long chunk) {
    constexpr int kGroups = 16 / (4 * sizeof(E));  // groups per 16-byte output chunk
    constexpr int kGroupsPerWord = 4;
    uint2 v = __ldg(values + chunk);
    const E* in = reinterpret_cast<const E*>(&v);
    unsigned long long first_group = chunk * kGroups;
    unsigned word = __ldg(meta + first_group / kGroupsPerWord);
    int j0 = static_cast<int>(first_group % kGroupsPerWord);
    uint4 o;
    E* out = reinterpret_cast<E*>(&o);
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
        unsigned a, b;
        s24::group_indices(word, j0 + g, a, b);
#pragma unroll
        for (unsigned p = 0; p < 4; ++p) {
            // Selects on registers: no local-memory arrays.
            out[4 * g + p] = (p == a) ? in[2 * g] : ((p == b) ? in[2 * g + 1] : E(0));
        }
    }
    dense[chunk] = o;
}

}  // namespace

// f16 and bf16: element bits as uint16_t. `chunks` = rows·cols / 8.
extern "C" __global__ void decompress_b16(const uint2* __restrict__ values,
                                          const uint16_t* __restrict__ meta,
                                          uint4* __restrict__ dense, unsigned long long chunks) {
    unsigned long long c = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (c < chunks) decompress_chunk<uint16_t>(values, meta, dense, c);
}

// f32: element bits as uint32_t. `chunks` = rows·cols / 4.
extern "C" __global__ void decompress_b32(const uint2* __restrict__ values,
                                          const uint16_t* __restrict__ meta,
                                          uint4* __restrict__ dense, unsigned long long chunks) {
    unsigned long long c = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (c < chunks) decompress_chunk<uint32_t>(values, meta, dense, c);
}
