// The X pipeline: X (the B operand, [tokens, in] row-major) is staged through shared
// memory by a STAGES-deep cp.async pipeline (16-byte copies, zero-filled by src-size
// for token tails and K padding) in an XOR-swizzled layout: 16-byte chunk c of smem
// row r sits at (c & ~7) | ((c ^ r) & 7), so each 8-address phase of `ldmatrix.x4`
// hits 8 distinct bank groups. ldmatrix.x4 (non-transposed) on 8 token rows × 4
// k-blocks of 8 gives exactly the m16n8k32 B fragment: register m of lane (g, t) =
// X[n0+g][k0 + 8m + 2t .. +1].
#pragma once
#include "../ptx.cuh"
#include "sparse24_abi.cuh"

namespace s24::gemm {

__device__ __forceinline__ int swz(int c, int row) { return (c & ~7) | ((c ^ row) & 7); }

// The shared-memory side, common to both copy variants: the stage slots and each
// lane's ldmatrix addresses.
template <class T>
struct XStages {
    static constexpr int CHUNKS = T::CHUNKS, CHUNKS_ROW = T::CHUNKS_ROW, STAGES = T::STAGES;
    uint4 (*xs)[CHUNKS];
    // ldmatrix address of this lane, less the slot base and the compile-time parts:
    // row = wn·NT·8 + 8j + (lane & 7) has (row & 7) = (lane & 7), so the swizzled
    // chunk of step s is 8·(s/2) + ((4·(s & 1) + lane/8) ^ (lane & 7)), the same
    // for every token tile j; only the parity of s picks one of two offsets.
    unsigned b_off[2];

    __device__ __forceinline__ XStages(unsigned char* smem, int wn, int lane)
        : xs(reinterpret_cast<uint4 (*)[CHUNKS]>(smem)) {
#pragma unroll
        for (int par = 0; par < 2; ++par)
            b_off[par] = 16u * (static_cast<unsigned>((wn * T::NT * 8 + (lane & 7)) * CHUNKS_ROW) +
                                static_cast<unsigned>(((4 * par + (lane >> 3)) ^ (lane & 7)) & 7));
    }

    // The shared address of stage kb's slot.
    __device__ __forceinline__ unsigned slot_base(int kb) const {
        return smem_u32(&xs[kb % STAGES][0]);
    }

    // The B fragments of k32 step s of the stage at `base`, for the warp's NT token
    // tiles.
    __device__ __forceinline__ void fragments(unsigned base, int s, unsigned (&b)[T::NT][4]) const {
        const unsigned bs = base + b_off[s & 1] + 16u * 8u * static_cast<unsigned>(s >> 1);
#pragma unroll
        for (int j = 0; j < T::NT; ++j) ldmatrix_x4(bs + 16u * 8u * CHUNKS_ROW * j, b[j]);
    }
};

// The copy of one stage, computed per stage: each thread's chunks of the CTA's BN
// token rows × KS·32 of k.
template <class T>
struct XCopy {
    static constexpr int CHUNKS = T::CHUNKS, CHUNKS_ROW = T::CHUNKS_ROW;
    const GemmParams& p;
    const XStages<T>& st;
    int tid, nkb;
    unsigned n_cta, s_begin;

    // Stage kb into its slot (nothing past the last stage); commits a group either way.
    __device__ __forceinline__ void load(int kb) const {
        if (kb < nkb) {
            const int slot = kb % T::STAGES;
            const unsigned k0 = (s_begin + kb * T::KS) * 32;
#pragma unroll
            for (int it = 0; it < CHUNKS / T::THREADS; ++it) {
                const int id = tid + it * T::THREADS;
                const int row = id / CHUNKS_ROW;
                const int ch = id % CHUNKS_ROW;
                const unsigned n = n_cta + row;
                const unsigned k = k0 + 8 * ch;
                const bool ok = n < p.tokens && k < p.inn;
                const uint16_t* src = ok ? p.x + static_cast<size_t>(n) * p.inn + k : p.x;
                cp_async_16(smem_u32(&st.xs[slot][row * CHUNKS_ROW + swz(ch, row)]), src,
                            ok ? 16u : 0u);
            }
        }
        cp_async_commit();
    }
};

// The same copy with the per-thread parts (source row pointer, swizzled smem offset,
// token check) hoisted out of the main loop: what is left per stage is an add.
template <class T>
struct XCopyHoisted {
    static constexpr int CHUNKS = T::CHUNKS, CHUNKS_ROW = T::CHUNKS_ROW;
    static constexpr int XIT = CHUNKS / T::THREADS;
    const GemmParams& p;
    int nkb;
    // This thread's token row (row 0 for tokens past the end, which is never read:
    // src-size 0), k of stage 0 and smem offset in slot 0.
    const uint16_t* xrow[XIT];
    unsigned xdst[XIT];
    unsigned xk[XIT];
    bool xn_ok[XIT];

    __device__ __forceinline__ XCopyHoisted(const GemmParams& p_, const XStages<T>& st, int tid,
                                            int nkb_, unsigned n_cta, unsigned s_begin)
        : p(p_), nkb(nkb_) {
#pragma unroll
        for (int it = 0; it < XIT; ++it) {
            const int id = tid + it * T::THREADS;
            const int row = id / CHUNKS_ROW;
            const int ch = id % CHUNKS_ROW;
            const unsigned n = n_cta + row;
            xn_ok[it] = n < p.tokens;
            xk[it] = s_begin * 32 + 8 * ch;
            xrow[it] = p.x + static_cast<size_t>(xn_ok[it] ? n : 0) * p.inn;
            xdst[it] = smem_u32(&st.xs[0][row * CHUNKS_ROW + swz(ch, row)]);
        }
    }

    __device__ __forceinline__ void load(int kb) const {
        if (kb < nkb) {
            const unsigned slot_off = static_cast<unsigned>(kb % T::STAGES) * CHUNKS * 16;
            const unsigned dk = static_cast<unsigned>(kb) * T::KS * 32;
#pragma unroll
            for (int it = 0; it < XIT; ++it) {
                const unsigned k = xk[it] + dk;
                const bool ok = xn_ok[it] && k < p.inn;
                cp_async_16(xdst[it] + slot_off, xrow[it] + (ok ? k : 0u), ok ? 16u : 0u);
            }
        }
        cp_async_commit();
    }
};

}  // namespace s24::gemm
