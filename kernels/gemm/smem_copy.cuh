// One thread's share of a pipeline stage's global → shared copies (cp.async, 16 bytes
// each) for the shared-memory-staged GEMM (smem_tile.cuh): X rows, W fragment values
// and, with a metadata group's first stage, its metadata (word-major: word j of every
// lane's 16-byte chunk side by side, so the one word a stage needs is a conflict-free
// LDS.32 per lane; read from the 16-byte chunks, ptxas narrows an LDS.128 to the word
// used, a 4-way bank conflict). The CTA's threads copy each
// 16-byte chunk once: W is read once per CTA per stage, not once per warp.
//
// Each thread copies one column (X chunk column, W lane chunk, metadata lane) at rows
// a fixed stride apart, so per stage its sources are one base pointer plus a
// compile-time multiple of a row stride (one IMAD.WIDE each) and its destinations are
// compile-time offsets. Rows past the end (tokens, W row tiles) and k past `in` are
// zero-filled with src-size 0: the source is not read, so its address is never
// selected or clamped (row tiles past the end still read row tile 0's metadata, so
// their MMAs see legal codes; they are computed and never stored).
#pragma once
#include "../ptx.cuh"
#include "sparse24_abi.cuh"
#include "x_pipeline.cuh"

namespace s24::gemm {

template <class T>
struct SmemCopy {
    static constexpr int XIT = T::CHUNKS / T::THREADS;        // X chunks per thread
    static constexpr int XROWS = T::THREADS / T::CHUNKS_ROW;  // token rows between them
    static constexpr int WIT = T::W_CHUNKS / T::THREADS;      // W value chunks per thread
    static constexpr int WRT = T::THREADS / (T::KS * 32);     // row tiles between them
    static constexpr int MIT = T::M_CHUNKS / T::THREADS;      // metadata chunks per thread
    static constexpr int MRT = T::THREADS / 32;               // row tiles between them

    const GemmParams& p;
    int nkb;
    const uint16_t* x0;  // X at the thread's first token row and its k of stage 0
    unsigned xk;         // that k
    int xrows;           // how many of the thread's XIT token rows exist
    const uint4* w0;     // W values: the thread's chunk of stage 0 in its first row tile
    int wrows;           // how many of its WIT row tiles exist
    const uint4* m0;     // metadata of group 0, the thread's lane in its first row tile
    const uint4* m_rt0;  // the same lane in row tile 0 (for row tiles past the end)
    int mrows;           // how many of its MIT row tiles exist
    unsigned xdst, wdst, mdst;  // smem addresses in slot 0

    __device__ __forceinline__ SmemCopy(const GemmParams& p_, unsigned smem, int tid, int nkb_,
                                        unsigned n_cta, unsigned rt_cta, unsigned row_tiles,
                                        unsigned s_begin)
        : p(p_), nkb(nkb_) {
        // Rows r0, r0 + stride, ... of which `count(r0)` exist.
        auto count = [](unsigned r0, unsigned end, int stride, int n) {
            const int left = r0 < end ? static_cast<int>((end - r0 + stride - 1) / stride) : 0;
            return left < n ? left : n;
        };
        const int ch = tid % T::CHUNKS_ROW;
        const int row = tid / T::CHUNKS_ROW;
        xk = s_begin * 32 + 8 * ch;
        x0 = p.x + static_cast<size_t>(n_cta + row) * p.inn + xk;
        xrows = count(n_cta + row, p.tokens, XROWS, XIT);
        // row & 7 is the same for every chunk of this thread (XROWS is a multiple of 8).
        xdst = smem + T::X_OFFSET + 16u * (row * T::CHUNKS_ROW + swz(ch, row));

        const unsigned wrt = rt_cta + tid / (T::KS * 32);
        w0 = p.wv + (static_cast<size_t>(wrt) * p.steps + s_begin) * 32 + tid % (T::KS * 32);
        wrows = count(wrt, row_tiles, WRT, WIT);
        wdst = smem + T::W_OFFSET + 16u * tid;

        const unsigned groups = p.steps / 8;
        const unsigned mrt = rt_cta + tid / 32;
        m0 = p.wm + (static_cast<size_t>(mrt) * groups + s_begin / 8) * 32 + tid % 32;
        m_rt0 = p.wm + static_cast<size_t>(s_begin / 8) * 32 + tid % 32;
        mrows = count(mrt, row_tiles, MRT, MIT);
        mdst = smem + T::M_OFFSET + 4u * tid;
    }

    // Stage kb into X/W slot `slot`, and with `meta` the metadata of kb's 8-step group
    // into metadata slot `mslot`; nothing past the last stage. Commits one group either
    // way, so cp.async.wait_group counts stages.
    __device__ __forceinline__ void load(int kb, int slot, bool meta, int mslot) const {
        if (kb < nkb) {
            const unsigned dk = static_cast<unsigned>(kb) * T::KS * 32;
            const bool k_ok = xk + dk < p.inn;
            const uint16_t* xs = x0 + dk;
            const unsigned xd = xdst + static_cast<unsigned>(slot) * T::X_STAGE_BYTES;
#pragma unroll
            for (int it = 0; it < XIT; ++it) {
                const bool ok = k_ok && it < xrows;
                cp_async_16(xd + it * T::THREADS * 16, xs + static_cast<size_t>(it * XROWS) * p.inn,
                            ok ? 16u : 0u);
            }
            const uint4* ws = w0 + dk;
            const unsigned wstride = p.steps * 32;
            const unsigned wd = wdst + static_cast<unsigned>(slot) * T::W_STAGE_BYTES;
#pragma unroll
            for (int it = 0; it < WIT; ++it)
                cp_async_16(wd + it * T::THREADS * 16, ws + static_cast<size_t>(it * WRT) * wstride,
                            it < wrows ? 16u : 0u);
            if (meta) {
                const unsigned dq = static_cast<unsigned>(kb / T::GS) * 32;
                const unsigned mstride = p.steps / 8 * 32;
                const unsigned md = mdst + static_cast<unsigned>(mslot) * T::M_SLOT_BYTES;
#pragma unroll
                for (int it = 0; it < MIT; ++it) {
                    const uint4* src =
                        (it < mrows ? m0 + static_cast<size_t>(it * MRT) * mstride : m_rt0) + dq;
                    const unsigned* w = reinterpret_cast<const unsigned*>(src);
#pragma unroll
                    for (int j = 0; j < 4; ++j)
                        cp_async_4(md + 4u * (j * T::M_CHUNKS + it * T::THREADS), w + j);
                }
            }
        }
        cp_async_commit();
    }
};

}  // namespace s24::gemm
