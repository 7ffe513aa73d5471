// decompress: logical 2:4 form (values [rows, cols/2], metadata [rows, cols/16] u16)
// → dense [rows, cols]. One thread per metadata word (16 dense columns): one 16-byte
// load of values per 2-byte type (two for f32), 16-byte stores, all coalesced.
// Element bits are moved, never converted, so one kernel serves f16 and bf16.
#include "common.cuh"

namespace {

// Places the kept pair (lo, hi) of a group at positions (a, b) of four outputs,
// as selects on registers (no local-memory arrays).
template <typename E>
__device__ __forceinline__ void scatter_group(E lo, E hi, unsigned a, unsigned b, E out[4]) {
#pragma unroll
    for (unsigned p = 0; p < 4; ++p) {
        out[p] = (p == a) ? lo : ((p == b) ? hi : E(0));
    }
}

template <typename E, typename Vec>
__device__ __forceinline__ void decompress_word(const Vec* values, const uint16_t* meta, Vec* dense,
                                                unsigned long long w) {
    constexpr int kPerVec = sizeof(Vec) / sizeof(E);
    constexpr int kInVecs = 8 / kPerVec;
    constexpr int kOutVecs = 16 / kPerVec;
    E in[8];
#pragma unroll
    for (int v = 0; v < kInVecs; ++v) {
        Vec x = __ldg(values + w * kInVecs + v);
        const E* e = reinterpret_cast<const E*>(&x);
#pragma unroll
        for (int i = 0; i < kPerVec; ++i) in[v * kPerVec + i] = e[i];
    }
    unsigned word = __ldg(meta + w);
    E out[16];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        unsigned a, b;
        s24::group_indices(word, j, a, b);
        scatter_group<E>(in[2 * j], in[2 * j + 1], a, b, out + 4 * j);
    }
#pragma unroll
    for (int v = 0; v < kOutVecs; ++v) {
        Vec x;
        E* e = reinterpret_cast<E*>(&x);
#pragma unroll
        for (int i = 0; i < kPerVec; ++i) e[i] = out[v * kPerVec + i];
        dense[w * kOutVecs + v] = x;
    }
}

}  // namespace

// f16 and bf16: element bits as uint16_t.
extern "C" __global__ void decompress_b16(const uint4* __restrict__ values,
                                          const uint16_t* __restrict__ meta,
                                          uint4* __restrict__ dense, unsigned long long words) {
    unsigned long long w = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (w < words) decompress_word<uint16_t>(values, meta, dense, w);
}

// f32: element bits as uint32_t.
extern "C" __global__ void decompress_b32(const uint4* __restrict__ values,
                                          const uint16_t* __restrict__ meta,
                                          uint4* __restrict__ dense, unsigned long long words) {
    unsigned long long w = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (w < words) decompress_word<uint32_t>(values, meta, dense, w);
}
