// The main loop of the shared-memory-staged GEMM (smem_tile.cuh): STAGES-deep cp.async
// pipeline of X and W (smem_copy.cuh), one barrier per stage; each warp reads its A
// fragments (LDS.128 of the fragment-ordered W, conflict-free), its metadata (an
// LDS.32 per row tile per pair of steps, conflict-free) and its B
// fragments (ldmatrix.x4 of the swizzled X) from shared memory, and issues MT × NT
// mma.sp per k32 step. The next stage's copies are issued right after the barrier,
// before the stage's MMAs, so they run under them.
//
// The loop body is one 8-step metadata group (GS stages, unrolled): the metadata word,
// the selector and whether a copy starts a new group are compile-time choices.
#pragma once
#include "../ptx.cuh"
#include "smem_copy.cuh"
#include "tile.cuh"
#include "x_pipeline.cuh"

namespace s24::gemm {

// The shared-memory addresses one warp reads: its A fragments (row tiles wm·MT ..),
// metadata and B fragments (token tiles wn·NT ..), less the slot offsets.
template <class T>
struct SmemFragments {
    const XStages<T> x;
    unsigned x_base;  // X slot 0
    unsigned a_base;  // W slot 0, this lane's chunk of row tile wm·MT, step 0
    unsigned m_base;  // metadata slot 0, word 0 of this lane in row tile wm·MT

    __device__ __forceinline__ SmemFragments(unsigned char* smem, int wm, int wn, int lane)
        : x(smem + T::X_OFFSET, wn, lane) {
        const unsigned s = smem_u32(smem);
        x_base = s + T::X_OFFSET;
        a_base = s + T::W_OFFSET + 16u * static_cast<unsigned>(wm * T::MT * T::KS * 32 + lane);
        m_base = s + T::M_OFFSET + 4u * static_cast<unsigned>(wm * T::MT * 32 + lane);
    }

    // The ldmatrix.x4 address of this lane for token tile j of k32 step s of the X
    // slot at `xs` (x_pipeline.cuh's XStages::fragments, one tile).
    __device__ __forceinline__ unsigned b_addr(unsigned xs, int s, int j) const {
        return xs + x.b_off[s & 1] + 16u * 8u * static_cast<unsigned>(s >> 1) +
               16u * 8u * T::CHUNKS_ROW * static_cast<unsigned>(j);
    }
};

struct SmemMainLoop {
    // The stage at place u of its metadata group (u is a constant once unrolled): the
    // warp's MT × NT × KS mma.sp from X/W slot `slot` and metadata slot `mslot`.
    template <class T, bool BF16>
    __device__ static __forceinline__ void mma_stage(Acc<T>& acc, const SmemFragments<T>& f,
                                                     int slot, int mslot, int u) {
        constexpr int MT = T::MT, NT = T::NT, KS = T::KS;
        const unsigned xs = f.x_base + static_cast<unsigned>(slot) * T::X_STAGE_BYTES;
        const unsigned as = f.a_base + static_cast<unsigned>(slot) * T::W_STAGE_BYTES;
        const unsigned ms = f.m_base + static_cast<unsigned>(mslot) * T::M_SLOT_BYTES;
        // Steps u·KS + s of the group use word (u·KS + s) / 2 (selector = the step's
        // parity): one word per row tile serves two steps.
        unsigned e[KS / 2][MT];
#pragma unroll
        for (int h = 0; h < KS / 2; ++h)
#pragma unroll
            for (int i = 0; i < MT; ++i)
                e[h][i] = lds_u32(ms + 4u * ((u * KS / 2 + h) * T::M_CHUNKS + 32 * i));
#pragma unroll
        for (int s = 0; s < KS; ++s) {
            uint4 a[MT];
#pragma unroll
            for (int i = 0; i < MT; ++i) a[i] = lds_v4(as + 512u * (i * KS + s));
            // One token tile's B at a time (4 registers, not 4·NT): the A fragments
            // and metadata stay, the B fragments stream; ptxas hoists them as far as
            // registers allow.
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                unsigned b[4];
                ldmatrix_x4(f.b_addr(xs, s, j), b);
#pragma unroll
                for (int i = 0; i < MT; ++i) {
                    if (s & 1) {
                        mma_sp_16832<BF16, 1>(acc[i][j], a[i], b, e[s / 2][i]);
                    } else {
                        mma_sp_16832<BF16, 0>(acc[i][j], a[i], b, e[s / 2][i]);
                    }
                }
            }
        }
    }

    // nkb: stages of this CTA's k range, a multiple of GS (splits hold whole 8-step
    // groups and `steps` is padded to a multiple of 8).
    template <class T, bool BF16>
    __device__ static __forceinline__ void run(const SmemCopy<T>& cp, const SmemFragments<T>& f,
                                               int nkb, Acc<T>& acc) {
        constexpr int STAGES = T::STAGES, GS = T::GS;
        // Stages 0 .. STAGES-2 (STAGES - 1 <= GS: only stage 0 starts a group).
#pragma unroll
        for (int s = 0; s < STAGES - 1; ++s) cp.load(s, s, s == 0, 0);
        int slot = 0;   // X/W slot of stage kb
        int mslot = 0;  // metadata slot of the current group
#pragma unroll 1
        for (int kg = 0; kg < nkb; kg += GS) {
#pragma unroll
            for (int u = 0; u < GS; ++u) {
                const int kb = kg + u;
                cp_async_wait<STAGES - 2>();
                __syncthreads();
                // Stage kb + STAGES - 1 goes into the slot stage kb - 1 used (every warp
                // is past the barrier, so done reading it); it starts a group when
                // (u + STAGES - 1) % GS == 0, whose metadata slot is the other one
                // exactly when it lies in the next group.
                // Where STAGES divides GS every group starts at slot 0, so the slots
                // are compile-time (u % STAGES); otherwise a running index.
                const int ahead = u + STAGES - 1;
                const int cur = GS % STAGES == 0 ? u % STAGES : slot;
                const int wslot = GS % STAGES == 0 ? ahead % STAGES : (slot == 0 ? STAGES - 1 : slot - 1);
                cp.load(kb + STAGES - 1, wslot, ahead % GS == 0, mslot ^ ((ahead / GS) & 1));
                mma_stage<T, BF16>(acc, f, cur, mslot, u);
                if (GS % STAGES != 0) slot = slot == STAGES - 1 ? 0 : slot + 1;
            }
            mslot ^= 1;
        }
    }
};

}  // namespace s24::gemm
