// Shared helpers of the sparse24 kernels. The 2:4 code layout (first kept index in
// bits [1:0], second in [3:2], group j of a 16-column word at bits [4j+3:4j]) is
// defined in src/pattern.rs; these helpers implement exactly that.
#pragma once
#include <cstdint>

namespace s24 {

// The two kept positions of group j (0..3) of a 16-bit metadata word.
__device__ __forceinline__ void group_indices(unsigned word, int j, unsigned& a, unsigned& b) {
    unsigned code = (word >> (4 * j)) & 0xFu;
    a = code & 3u;
    b = code >> 2;
}

}  // namespace s24
