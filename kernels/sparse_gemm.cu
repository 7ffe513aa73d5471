// sparse_gemm: Y[tokens, out] = act(alpha · X[tokens, in] · Wᵀ + beta · C + bias)
// with W 2:4-sparse along `in`, on `mma.sp::ordered_metadata` m16n8k32 tensor cores.
//
// Internally D = W · Xᵀ: W is the sparse A operand, Xᵀ the column-major B operand,
// f32 accumulation; D is written transposed so Y stays [tokens, out] row-major.
//
// Operands (shared/HARDWARE.md has the facts; src/layout.rs owns the layout):
// - A (weights) is stored in *fragment order*: for row tile rt (16 rows) and k32 step s,
//   lane l holds its four A registers at uint4 index (rt·steps + s)·32 + l, so each warp
//   fetches its fragment with one coalesced 16-byte `ld.global.nc` per lane per step,
//   with no shared memory and no ldmatrix. Metadata: one 16-byte load per lane per 8
//   steps (uint4 index (rt·steps/8 + q)·32 + l); word j serves step 8q+2j with selector
//   0 and step 8q+2j+1 with selector 1, so even steps issue SEL=0 and odd steps SEL=1
//   with the same register. A is prefetched one pipeline stage ahead in registers.
// - B (X) is staged through shared memory by a STAGES-deep cp.async pipeline (16-byte
//   copies, zero-filled by src-size for token tails and K padding) in an XOR-swizzled
//   layout: 16-byte chunk c of smem row r sits at (c & ~7) | ((c ^ r) & 7), so each
//   8-address phase of `ldmatrix.x4` hits 8 distinct bank groups. ldmatrix.x4
//   (non-transposed) on 8 token rows × 4 k-blocks of 8 gives exactly the m16n8k32 B
//   fragment: register m of lane (g, t) = X[n0+g][k0 + 8m + 2t .. +1].
//
// Split-K (grid.z > 1) is deterministic: every CTA writes its f32 partial tile to the
// workspace, bumps a per-tile arrival counter after a fence; the last CTA to arrive
// sums the partials in split order 0..splits-1, applies the epilogue, and resets the
// counter to 0 so the workspace needs no memset between calls.
//
// Instantiations: tile configuration × input dtype only; the epilogue (alpha, beta·C,
// bias, activation, output dtype) is a runtime parameter.
//
// Build (build.rs): nvcc -std=c++17 -O3 -fatbin -gencode sm_80/86/89/90 + compute_80.
#include <cstdint>

#include "common.cuh"
#include "sparse24_abi.cuh"

namespace {

// ---------------------------------------------------------------- PTX wrappers

__device__ __forceinline__ unsigned smem_u32(const void* p) {
    return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16-byte global → shared copy; src_bytes = 0 writes zeros (the source is not read).
__device__ __forceinline__ void cp_async_16(unsigned dst, const void* src, unsigned src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(src_bytes)
                 : "memory");
}

__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(unsigned addr, unsigned (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

__device__ __forceinline__ uint4 ldg_nc_v4(const uint4* p) {
    uint4 v;
    asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

// mma.sp::ordered_metadata m16n8k32, f32 accumulators, selector SEL.
template <bool BF16, int SEL>
__device__ __forceinline__ void mma_sp_16832(float (&d)[4], const uint4& a, const unsigned (&b)[4],
                                             unsigned e) {
    if constexpr (BF16) {
        asm volatile(
            "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 "
            "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9, %10, %11}, {%0, %1, %2, %3}, %12, %13;\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]),
              "r"(e), "n"(SEL));
    } else {
        asm volatile(
            "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 "
            "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9, %10, %11}, {%0, %1, %2, %3}, %12, %13;\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]),
              "r"(e), "n"(SEL));
    }
}

// ---------------------------------------------------------------- element conversions

template <bool BF16>
__device__ __forceinline__ float load_elem(const uint16_t* p) {
    unsigned short u = *p;
    if constexpr (BF16) {
        return __uint_as_float(static_cast<unsigned>(u) << 16);
    } else {
        float f;
        asm("cvt.f32.f16 %0, %1;\n" : "=f"(f) : "h"(u));
        return f;
    }
}

__device__ __forceinline__ unsigned short f32_to_f16(float v) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;\n" : "=h"(h) : "f"(v));
    return h;
}

__device__ __forceinline__ unsigned short f32_to_bf16(float v) {
    unsigned short h;
    asm("cvt.rn.bf16.f32 %0, %1;\n" : "=h"(h) : "f"(v));
    return h;
}

// ACT_* and OUT_* come from sparse24_abi.cuh, generated from src/abi.rs.

__device__ __forceinline__ float activate(float v, unsigned act) {
    switch (act) {
        case ACT_RELU:
            return fmaxf(v, 0.0f);
        case ACT_GELU:
            return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        case ACT_SILU:
            return v / (1.0f + expf(-v));
        default:
            return v;
    }
}

// ---------------------------------------------------------------- the kernel

// The parameters (GemmParams) come from sparse24_abi.cuh, generated from src/abi.rs,
// where the host builds them: one struct passed by value, declared once.

// One prefetched pipeline stage of A: KS steps × MT row tiles, plus the metadata
// register of the 8-step group the stage lies in.
template <int KS, int MT>
struct AFrag {
    uint4 a[KS][MT];
    uint4 m[MT];
};

__device__ __forceinline__ unsigned pick_word(const uint4& m, unsigned w) {
    return w == 0 ? m.x : (w == 1 ? m.y : (w == 2 ? m.z : m.w));
}

// WM × WN warps; each warp owns MT row tiles (16 rows each) × NT token tiles (8 each).
// KS k32 steps per pipeline stage (KS divides 8), STAGES-deep cp.async pipeline.
// APF: how many stages ahead A is prefetched into registers (1 or 2; APF + 1 register
//      buffers rotate; with APF ≥ 2 each stage loads its own metadata register instead
//      of copying the previous stage's, which may still be in flight).
// DYN: the shared memory is dynamic (SMEM_BYTES passed at launch; needed above 48 KiB).
// TOKFAST: blockIdx.x walks token tiles and blockIdx.y row tiles, so the CTAs resident
//      at one time share a few W row blocks (read from DRAM once, then from L2) instead
//      of each streaming a different one.
// LEAN: a leaner main loop (APF = 1 only): the per-thread parts of the X copy
//      (source row pointer, swizzled smem offset, token check) are hoisted out of the
//      loop, and the loop is unrolled over one 8-step metadata group (8 / KS stages),
//      so the metadata word of every step is a compile-time choice and the metadata
//      is loaded once per group into its own double buffer instead of being copied
//      from stage to stage. Used where the warp tile is small (32 × 32) and the
//      per-stage bookkeeping would otherwise cost > 6 instructions per HMMA.SP.
template <int WM, int WN, int MT, int NT, int KS, int STAGES, bool BF16, int APF = 1,
          bool DYN = false, bool TOKFAST = false, bool LEAN = false>
struct SparseGemm {
    static constexpr int THREADS = WM * WN * 32;
    static constexpr int BN = WN * NT * 8;              // tokens per CTA
    static constexpr int CHUNKS_ROW = KS * 4;           // 16-byte chunks per smem row
    static constexpr int CHUNKS = BN * CHUNKS_ROW;      // per stage
    static constexpr int ACC4 = MT * NT;                // float4 accumulators per thread
    static constexpr int BM = WM * MT * 16;             // rows per CTA
    static constexpr int DT_STRIDE = BM + 4;            // epilogue tile row stride (floats)
    static constexpr int X_BYTES = STAGES * CHUNKS * 16;
    static constexpr int DT_BYTES = BN * DT_STRIDE * 4;
    static constexpr int SMEM_BYTES = X_BYTES > DT_BYTES ? X_BYTES : DT_BYTES;
    static_assert(8 % KS == 0 && KS % 2 == 0, "KS must be 2, 4 or 8");
    static_assert(CHUNKS_ROW >= 8, "the swizzle needs at least 8 chunks per row");
    static_assert(CHUNKS % THREADS == 0, "stage copy must split evenly over threads");
    static_assert(APF == 1 || APF == 2, "A is prefetched 1 or 2 stages ahead");
    static_assert(DYN || SMEM_BYTES <= 48 * 1024, "static shared memory is limited to 48 KiB");
    static_assert(SMEM_BYTES <= 227 * 1024, "more shared memory than an SM has");
    static constexpr int GS = 8 / KS;  // pipeline stages per 8-step metadata group
    static_assert(!LEAN || (APF == 1 && GS % 2 == 0),
                  "the lean loop prefetches A one stage ahead and needs KS = 2 or 4");

    __device__ static __forceinline__ int swz(int c, int row) {
        return (c & ~7) | ((c ^ row) & 7);
    }

    __device__ static void run(const GemmParams& p) {
        // Static kernels: this array. DYN kernels: the dynamic shared memory (the
        // 16-byte array is unused there and dropped by the compiler).
        __shared__ __align__(128) unsigned char smem_static[DYN ? 16 : SMEM_BYTES];
        unsigned char* smem = smem_static;
        if constexpr (DYN) {
            extern __shared__ __align__(128) unsigned char dyn_smem[];
            smem = dyn_smem;
        }
        uint4 (*xs)[CHUNKS] = reinterpret_cast<uint4 (*)[CHUNKS]>(smem);
        __shared__ unsigned s_last;
        // This CTA's row block and token tile.
        const unsigned bx = TOKFAST ? blockIdx.y : blockIdx.x;
        const unsigned by = TOKFAST ? blockIdx.x : blockIdx.y;

        const int tid = threadIdx.x;
        const int lane = tid & 31;
        const int warp = tid >> 5;
        const int wm = warp % WM;
        const int wn = warp / WM;
        const unsigned row_tiles = (p.out + 15) / 16;
        const unsigned rt0 = bx * (WM * MT) + wm * MT;
        const unsigned n_cta = by * BN;
        const unsigned n_warp = n_cta + wn * NT * 8;
        const unsigned s_begin = blockIdx.z * p.chunk_steps;
        const unsigned s_end = min(p.steps, s_begin + p.chunk_steps);
        const int nkb = static_cast<int>(s_end - s_begin) / KS;
        const unsigned groups = p.steps / 8;

        bool mt_ok[MT];
        const uint4* ap[MT];
        const uint4* mp[MT];
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            mt_ok[i] = rt0 + i < row_tiles;
            const unsigned rt = mt_ok[i] ? rt0 + i : 0;
            ap[i] = p.wv + (static_cast<size_t>(rt) * p.steps + s_begin) * 32 + lane;
            mp[i] = p.wm + (static_cast<size_t>(rt) * groups + s_begin / 8) * 32 + lane;
        }
        // Tiles past the last row or token are computed anyway (their A is row tile 0's,
        // their X rows are the zeros cp.async wrote) and only their stores are skipped:
        // guarding each mma.sp/ldmatrix with these flags made the compiler predicate
        // them behind a WARPSYNC each and spill predicates (P2R), ~4 extra instructions
        // per HMMA.SP in the main loop (H100 profile, bench/RESULTS.md).
        bool nt_ok[NT];
#pragma unroll
        for (int j = 0; j < NT; ++j) nt_ok[j] = n_warp + 8 * j < p.tokens;

        // ldmatrix address of this lane, less the slot base and the compile-time parts:
        // row = wn·NT·8 + 8j + (lane & 7) has (row & 7) = (lane & 7), so the swizzled
        // chunk of step s is 8·(s/2) + ((4·(s & 1) + lane/8) ^ (lane & 7)), the same
        // for every token tile j; only the parity of s picks one of two offsets.
        unsigned b_off[2];
#pragma unroll
        for (int par = 0; par < 2; ++par)
            b_off[par] = 16u * (static_cast<unsigned>((wn * NT * 8 + (lane & 7)) * CHUNKS_ROW) +
                                static_cast<unsigned>(((4 * par + (lane >> 3)) ^ (lane & 7)) & 7));

        float acc[MT][NT][4];
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j)
#pragma unroll
                for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

        auto load_x = [&](int kb) {
            if (kb < nkb) {
                const int slot = kb % STAGES;
                const unsigned k0 = (s_begin + kb * KS) * 32;
#pragma unroll
                for (int it = 0; it < CHUNKS / THREADS; ++it) {
                    const int id = tid + it * THREADS;
                    const int row = id / CHUNKS_ROW;
                    const int ch = id % CHUNKS_ROW;
                    const unsigned n = n_cta + row;
                    const unsigned k = k0 + 8 * ch;
                    const bool ok = n < p.tokens && k < p.inn;
                    const uint16_t* src = ok ? p.x + static_cast<size_t>(n) * p.inn + k : p.x;
                    cp_async_16(smem_u32(&xs[slot][row * CHUNKS_ROW + swz(ch, row)]), src,
                                ok ? 16u : 0u);
                }
            }
            cp_async_commit();
        };

        // A (and its metadata) of stage kb into f; metadata only at 8-step group starts,
        // otherwise carried over from `prev`.
        auto load_a = [&](int kb, AFrag<KS, MT>& f, const AFrag<KS, MT>& prev) {
#pragma unroll
            for (int i = 0; i < MT; ++i) {
#pragma unroll
                for (int s = 0; s < KS; ++s) f.a[s][i] = ldg_nc_v4(ap[i] + (kb * KS + s) * 32);
                if (APF > 1 || (kb * KS) % 8 == 0) {
                    f.m[i] = ldg_nc_v4(mp[i] + (kb * KS / 8) * 32);
                } else {
                    f.m[i] = prev.m[i];
                }
            }
        };

        // Stage kb from A values `fa`, metadata `fm`; w0: the metadata word of the
        // stage's first step.
        auto compute_am = [&](int kb, const uint4 (&fa)[KS][MT], const uint4 (&fm)[MT],
                              unsigned w0) {
            const int slot = kb % STAGES;
            const unsigned base = smem_u32(&xs[slot][0]);
#pragma unroll
            for (int s = 0; s < KS; ++s) {
                unsigned b[NT][4];
                const unsigned bs = base + b_off[s & 1] + 16u * 8u * static_cast<unsigned>(s >> 1);
#pragma unroll
                for (int j = 0; j < NT; ++j) ldmatrix_x4(bs + 16u * 8u * CHUNKS_ROW * j, b[j]);
#pragma unroll
                for (int i = 0; i < MT; ++i) {
                    const unsigned e = pick_word(fm[i], w0 + s / 2);
#pragma unroll
                    for (int j = 0; j < NT; ++j) {
                        if (s & 1) {
                            mma_sp_16832<BF16, 1>(acc[i][j], fa[s][i], b[j], e);
                        } else {
                            mma_sp_16832<BF16, 0>(acc[i][j], fa[s][i], b[j], e);
                        }
                    }
                }
            }
        };
        auto compute = [&](int kb, const AFrag<KS, MT>& f) {
            compute_am(kb, f.a, f.m, ((kb * KS) % 8) / 2);
        };

        // One pipeline step: wait for stage kb's X, refill the freed slot, prefetch A
        // of stage kb + 1, compute stage kb.
        auto step = [&](int kb, AFrag<KS, MT>& cur, AFrag<KS, MT>& nxt) {
            cp_async_wait<STAGES - 2>();
            __syncthreads();
            load_x(kb + STAGES - 1);
            if (kb + 1 < nkb) load_a(kb + 1, nxt, cur);
            compute(kb, cur);
        };

        if constexpr (LEAN) {
            // The X copy of this thread, less the stage: its token row (row 0 for
            // tokens past the end, which is never read: src-size 0), k of stage 0 and
            // smem offset in slot 0.
            constexpr int XIT = CHUNKS / THREADS;
            const uint16_t* xrow[XIT];
            unsigned xdst[XIT];
            unsigned xk[XIT];
            bool xn_ok[XIT];
#pragma unroll
            for (int it = 0; it < XIT; ++it) {
                const int id = tid + it * THREADS;
                const int row = id / CHUNKS_ROW;
                const int ch = id % CHUNKS_ROW;
                const unsigned n = n_cta + row;
                xn_ok[it] = n < p.tokens;
                xk[it] = s_begin * 32 + 8 * ch;
                xrow[it] = p.x + static_cast<size_t>(xn_ok[it] ? n : 0) * p.inn;
                xdst[it] = smem_u32(&xs[0][row * CHUNKS_ROW + swz(ch, row)]);
            }
            auto load_x_lean = [&](int kb) {
                if (kb < nkb) {
                    const unsigned slot_off = static_cast<unsigned>(kb % STAGES) * CHUNKS * 16;
                    const unsigned dk = static_cast<unsigned>(kb) * KS * 32;
#pragma unroll
                    for (int it = 0; it < XIT; ++it) {
                        const unsigned k = xk[it] + dk;
                        const bool ok = xn_ok[it] && k < p.inn;
                        cp_async_16(xdst[it] + slot_off, xrow[it] + (ok ? k : 0u), ok ? 16u : 0u);
                    }
                }
                cp_async_commit();
            };
            // A and metadata pointers at the current group's first step, advanced by
            // one group per loop iteration (every load inside it has a constant offset).
            const uint4* ag[MT];
            const uint4* mg[MT];
#pragma unroll
            for (int i = 0; i < MT; ++i) {
                ag[i] = ap[i];
                mg[i] = mp[i];
            }
            // Stage u of the current group (u = GS: the next group's first stage).
            auto load_vals = [&](int u, uint4 (&fa)[KS][MT]) {
#pragma unroll
                for (int i = 0; i < MT; ++i)
#pragma unroll
                    for (int s = 0; s < KS; ++s) fa[s][i] = ldg_nc_v4(ag[i] + (u * KS + s) * 32);
            };
#pragma unroll
            for (int s = 0; s < STAGES - 1; ++s) load_x_lean(s);
            // Two A value buffers (stage kb in va[kb % 2]: GS is even, so the parity
            // is a constant in the unrolled group); the metadata of the current group
            // and of the next (loaded with the A of the next group's first stage).
            uint4 va[2][KS][MT];
            uint4 mc[MT], mn[MT];
            load_vals(0, va[0]);
#pragma unroll
            for (int i = 0; i < MT; ++i) {
                mc[i] = ldg_nc_v4(mg[i]);
                mn[i] = mc[i];  // copied, unused, after the last group
            }
#pragma unroll 1
            for (int kg = 0; kg < nkb; kg += GS) {
#pragma unroll
                for (int u = 0; u < GS; ++u) {
                    const int kb = kg + u;
                    if (kb < nkb) {
                        cp_async_wait<STAGES - 2>();
                        __syncthreads();
                        load_x_lean(kb + STAGES - 1);
                        if (kb + 1 < nkb) {
                            load_vals(u + 1, va[(u + 1) % 2]);
                            if (u == GS - 1)
#pragma unroll
                                for (int i = 0; i < MT; ++i) mn[i] = ldg_nc_v4(mg[i] + 32);
                        }
                        compute_am(kb, va[u % 2], mc, (u * KS) / 2);
                    }
                }
#pragma unroll
                for (int i = 0; i < MT; ++i) {
                    mc[i] = mn[i];
                    ag[i] += GS * KS * 32;
                    mg[i] += 32;
                }
            }
        } else {  // the other tiles: one stage per step (body not re-indented)
#pragma unroll
        for (int s = 0; s < STAGES - 1; ++s) load_x(s);
        if constexpr (APF == 1) {
            AFrag<KS, MT> fa, fb;
            load_a(0, fa, fa);
#pragma unroll 1
            for (int kb = 0; kb < nkb; kb += 2) {
                step(kb, fa, fb);
                if (kb + 1 < nkb) step(kb + 1, fb, fa);
            }
        } else {
            // APF + 1 register buffers; stage kb lives in fr[kb % (APF + 1)]. The loop
            // is unrolled APF + 1 times so every buffer index is a constant.
            AFrag<KS, MT> fr[APF + 1];
#pragma unroll
            for (int s = 0; s < APF; ++s)
                if (s < nkb) load_a(s, fr[s], fr[s]);
#pragma unroll 1
            for (int kb = 0; kb < nkb; kb += APF + 1) {
#pragma unroll
                for (int u = 0; u <= APF; ++u) {
                    if (kb + u < nkb) {
                        cp_async_wait<STAGES - 2>();
                        __syncthreads();
                        load_x(kb + u + STAGES - 1);
                        if (kb + u + APF < nkb) load_a(kb + u + APF, fr[(u + APF) % (APF + 1)], fr[u]);
                        compute(kb + u, fr[u]);
                    }
                }
            }
        }
        }
        cp_async_wait<0>();

        const int g = lane >> 2;
        const int t = lane & 3;

        if (p.splits > 1) {
            const unsigned tile = blockIdx.y * gridDim.x + blockIdx.x;
            float4* part = p.ws + (static_cast<size_t>(tile) * p.splits + blockIdx.z) * ACC4 * THREADS;
            // Only the tiles this warp computed (rows and tokens in range) go through
            // the workspace: at 1..8 tokens that halves the partial traffic.
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j)
                    if (mt_ok[i] && nt_ok[j])
                        part[(i * NT + j) * THREADS + tid] =
                            make_float4(acc[i][j][0], acc[i][j][1], acc[i][j][2], acc[i][j][3]);
            __threadfence();
            __syncthreads();
            if (tid == 0) {
                const unsigned prev = atomicAdd(&p.counters[tile], 1u);
                s_last = prev == p.splits - 1;
            }
            __syncthreads();
            if (!s_last) return;
            __threadfence();
#pragma unroll
            for (int i = 0; i < MT; ++i)
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
            const float4* all = p.ws + static_cast<size_t>(tile) * p.splits * ACC4 * THREADS;
#pragma unroll 1
            for (unsigned z = 0; z < p.splits; ++z) {
#pragma unroll
                for (int i = 0; i < MT; ++i)
#pragma unroll
                    for (int j = 0; j < NT; ++j) {
                        if (!(mt_ok[i] && nt_ok[j])) continue;
                        const float4 v = __ldcg(all + (z * ACC4 + i * NT + j) * THREADS + tid);
                        acc[i][j][0] += v.x;
                        acc[i][j][1] += v.y;
                        acc[i][j][2] += v.z;
                        acc[i][j][3] += v.w;
                    }
            }
            if (tid == 0) atomicExch(&p.counters[tile], 0u);
        }

        // Epilogue through shared memory: the f32 tile D[m][n] is stored as
        // dt[n][m] (row stride BM + 4 floats: conflict-free for the fragment writes
        // and the row reads), then consecutive threads handle consecutive outputs m of
        // one token n, so Y, C and bias accesses are coalesced and the epilogue code
        // is one small loop instead of an unrolled copy per accumulator.
        __syncthreads();  // every warp is done reading xs
        float* dt = reinterpret_cast<float*>(smem);
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int j = 0; j < NT; ++j)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int ml = (wm * MT + i) * 16 + g + 8 * (r >> 1);
                    const int nl = wn * NT * 8 + 8 * j + 2 * t + (r & 1);
                    dt[nl * DT_STRIDE + ml] = acc[i][j][r];
                }
        __syncthreads();
        const unsigned m0 = bx * BM;
#pragma unroll 1
        for (int idx = tid; idx < BM * BN; idx += THREADS) {
            const unsigned ml = idx % BM;
            const unsigned nl = idx / BM;
            const unsigned m = m0 + ml;
            const unsigned n = n_cta + nl;
            if (m >= p.out || n >= p.tokens) continue;
            const size_t o = static_cast<size_t>(n) * p.out + m;
            float v = p.alpha * dt[nl * DT_STRIDE + ml];
            if (p.c != nullptr) v += p.beta * load_elem<BF16>(p.c + o);
            if (p.bias != nullptr) v += load_elem<BF16>(p.bias + m);
            v = activate(v, p.act);
            if (p.out_dtype == OUT_F32) {
                static_cast<float*>(p.y)[o] = v;
            } else if (p.out_dtype == OUT_F16) {
                static_cast<unsigned short*>(p.y)[o] = f32_to_f16(v);
            } else {
                static_cast<unsigned short*>(p.y)[o] = f32_to_bf16(v);
            }
        }
    }
};

// Tile configurations (mirrored in src/ops/gemm.rs `GemmConfig::tile`).
// decode: 8 warps × 1 row tile = 128 rows, 16 tokens, 8 steps (k = 256) per stage,
//         3 stages (24 KiB smem), split-K over grid.z.
template <bool BF16>
using Decode = SparseGemm<8, 1, 1, 2, 8, 3, BF16>;
// prefill: 4 × 2 warps, each 2 row tiles × 4 token tiles: 128 rows × 64 tokens,
//          2 steps (k = 64) per stage, 4 stages (32 KiB smem).
template <bool BF16>
using Prefill = SparseGemm<4, 2, 2, 4, 2, 4, BF16>;
// Larger prefill tiles (GemmConfig::PrefillT* in src/ops/gemm.rs), all with dynamic
// shared memory (the epilogue tile exceeds 48 KiB) and token tiles along blockIdx.x:
// 128x128:   4 × 2 warps, each 2 row tiles × 8 token tiles: 128 rows × 128 tokens,
//            k = 64 per stage, 4 stages (64 KiB of X, 66 KiB for the epilogue tile).
// 128x128a2: the same tile with A prefetched two stages ahead (three register buffers).
// 256x64:    8 × 1 warps, each 2 row tiles × 8 token tiles: 256 rows × 64 tokens; no
//            two warps load the same A fragment.
template <bool BF16>
using PrefillT128x128 = SparseGemm<4, 2, 2, 8, 2, 4, BF16, 1, true, true>;
template <bool BF16>
using PrefillT128x128A2 = SparseGemm<4, 2, 2, 8, 2, 4, BF16, 2, true, true>;
template <bool BF16>
using PrefillT256x64 = SparseGemm<8, 1, 2, 8, 2, 4, BF16, 1, true, true>;
// 256x64w16: the 256 × 64 tile on 8 × 2 warps of 32 rows × 32 tokens (16 warps, 512
//            threads): twice the warps per SM to hide latency, ≤ 128 registers; two
//            warps (wn = 0, 1) load each A fragment, 0.5 ldmatrix.x4 per mma.sp.
template <bool BF16>
using PrefillT256x64W16 = SparseGemm<8, 2, 2, 4, 2, 4, BF16, 1, true, true, true>;

}  // namespace

// The parameters are one struct, read-only in the kernel's parameter space
// (__grid_constant__: no copy is required). `run` works on a copy in registers, as it
// did on the 18 scalar parameters before: reading the fields in place instead cost 1-2
// more registers on three tiles on sm_80..sm_89, and a plain by-value parameter 4-13
// (ptxas -v, CUDA 13.0).
#define SGEMM_KERNEL(NAME, CFG, THREADS, MIN_CTAS)                   \
    extern "C" __global__ void __launch_bounds__(THREADS, MIN_CTAS) \
        NAME(const __grid_constant__ GemmParams p) {                 \
        const GemmParams a = p;                                      \
        CFG::run(a);                                                 \
    }

// decode: 2 CTAs per SM (≤ 128 registers) so split-K's two waves of CTAs are resident.
// prefill: 1 (asking for 2 spills on sm_80).
SGEMM_KERNEL(sgemm_decode_f16, Decode<false>, 256, 2)
SGEMM_KERNEL(sgemm_decode_bf16, Decode<true>, 256, 2)
SGEMM_KERNEL(sgemm_prefill_f16, Prefill<false>, 256, 1)
SGEMM_KERNEL(sgemm_prefill_bf16, Prefill<true>, 256, 1)
// The larger prefill tiles: 1 CTA per SM (their registers allow no more).
SGEMM_KERNEL(sgemm_prefill_t128x128_f16, PrefillT128x128<false>, 256, 1)
SGEMM_KERNEL(sgemm_prefill_t128x128_bf16, PrefillT128x128<true>, 256, 1)
SGEMM_KERNEL(sgemm_prefill_t128x128a2_f16, PrefillT128x128A2<false>, 256, 1)
SGEMM_KERNEL(sgemm_prefill_t128x128a2_bf16, PrefillT128x128A2<true>, 256, 1)
SGEMM_KERNEL(sgemm_prefill_t256x64_f16, PrefillT256x64<false>, 256, 1)
SGEMM_KERNEL(sgemm_prefill_t256x64_bf16, PrefillT256x64<true>, 256, 1)
// 512 threads, 1 CTA per SM: at most 128 registers.
SGEMM_KERNEL(sgemm_prefill_t256x64w16_f16, PrefillT256x64W16<false>, 512, 1)
SGEMM_KERNEL(sgemm_prefill_t256x64w16_bf16, PrefillT256x64W16<true>, 512, 1)
