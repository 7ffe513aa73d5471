// MaskLLM mask sampling, fused: Gumbel noise (Philox4x32-10, kernels/philox.cuh),
// temperature softmax over the six candidates, expansion to a soft (or hard) mask,
// W ⊙ mask and the regulariser partial sums in one pass; the backward regenerates the
// noise from the seed, so nothing but the logits lives between the two. CPU reference
// and formulas: src/mask.rs.
//
// One thread per group of four weights. Weights move as one 16-byte (f32) or 8-byte
// (f16/bf16) access per lane, contiguous across the warp. Logits ([groups, 6] f32,
// 24 bytes per group) are staged through shared memory: the block copies its
// contiguous slice with coalesced 8-byte accesses, then each thread reads its 24 bytes
// as three 8-byte shared loads (stride 6 words: conflict-free per half-warp).
//
// Reductions are deterministic: a fixed shared-memory tree per block writes one
// partial per block, and mask_reduce_sum adds the partials in a fixed order (f64).
#include "common.cuh"
#include "elem.cuh"
#include "philox.cuh"
#include "sparse24_abi.cuh"

// The sampling code below is written for six candidates (float2 triples, argmax6).
static_assert(kCandidates == 6, "src/abi.rs changed the number of 2:4 candidates");

namespace {

// kCandidateKeeps (the six candidates' keep sets) comes from sparse24_abi.cuh,
// generated from src/abi.rs.

__device__ __forceinline__ uint32_t candidate_keep(int c) { return (kCandidateKeeps >> (4 * c)) & 0xFu; }

struct Sample {
    unsigned seed_lo, seed_hi, step;
    float kappa, inv_tau;
};

// Copies the logits of this block's groups into shared memory (float2 units).
__device__ __forceinline__ void stage_in(const float* logits, unsigned long long first, unsigned n,
                                         float2* sm) {
    const float2* src = reinterpret_cast<const float2*>(logits) + first * 3;
    for (unsigned i = threadIdx.x; i < 3 * n; i += blockDim.x) sm[i] = __ldg(src + i);
    __syncthreads();
}

__device__ __forceinline__ void stage_out(float* logits, unsigned long long first, unsigned n,
                                          const float2* sm) {
    __syncthreads();
    float2* dst = reinterpret_cast<float2*>(logits) + first * 3;
    for (unsigned i = threadIdx.x; i < 3 * n; i += blockDim.x) dst[i] = sm[i];
}

__device__ __forceinline__ void read6(const float2* sm, float v[6]) {
#pragma unroll
    for (int j = 0; j < 3; ++j) {
        const float2 p = sm[3 * threadIdx.x + j];
        v[2 * j] = p.x, v[2 * j + 1] = p.y;
    }
}

__device__ __forceinline__ void write6(float2* sm, const float v[6]) {
#pragma unroll
    for (int j = 0; j < 3; ++j) sm[3 * threadIdx.x + j] = make_float2(v[2 * j], v[2 * j + 1]);
}


// Index of the largest value, ties to the lower index (strict >).
__device__ __forceinline__ int argmax6(const float z[6]) {
    int b = 0;
    float bv = z[0];
#pragma unroll
    for (int i = 1; i < 6; ++i)
        if (z[i] > bv) bv = z[i], b = i;
    return b;
}

// Soft probabilities y and the forward mask m (soft: y·S; hard: S[argmax κπ+g]).
__device__ __forceinline__ void sample_group(const float pi[6], unsigned long long g, const Sample& p, bool hard,
                                             float y[6], float m[4]) {
    const s24::Words8 r = s24::group_words(p.seed_lo, p.seed_hi, g, p.step);
    float z[6];
#pragma unroll
    for (int i = 0; i < 6; ++i) z[i] = fmaf(p.kappa, pi[i], s24::gumbel(r.w[i]));
    float mx = z[0];
#pragma unroll
    for (int i = 1; i < 6; ++i) mx = fmaxf(mx, z[i]);
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < 6; ++i) sum += (y[i] = __expf((z[i] - mx) * p.inv_tau));
    const float inv = 1.f / sum;
#pragma unroll
    for (int i = 0; i < 6; ++i) y[i] *= inv;
    if (hard) {
        const uint32_t keep = candidate_keep(argmax6(z));
#pragma unroll
        for (int k = 0; k < 4; ++k) m[k] = (float)((keep >> k) & 1u);
    } else {
        m[0] = y[0] + y[1] + y[2];
        m[1] = y[0] + y[3] + y[4];
        m[2] = y[1] + y[3] + y[5];
        m[3] = y[2] + y[4] + y[5];
    }
}

template <class T>
__device__ __forceinline__ void forward(const void* w, const float* logits, void* w_eff, float* partials,
                                        unsigned long long groups, const Sample& p, bool hard) {
    __shared__ float2 sm[3 * kThreads];
    __shared__ float red[kThreads];
    const unsigned long long first = blockIdx.x * (unsigned long long)kThreads;
    const unsigned n = (unsigned)min((unsigned long long)kThreads, groups - first);
    stage_in(logits, first, n, sm);
    float sq = 0.f;
    if (threadIdx.x < n) {
        const unsigned long long g = first + threadIdx.x;
        float pi[6], y[6], m[4];
        read6(sm, pi);
        sample_group(pi, g, p, hard, y, m);
        uint32_t e[4];
        T::load4(w, g, e);
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const float v = T::to_f(e[k]) * m[k];
            sq = fmaf(v, v, sq);
            e[k] = T::from_f(v);
        }
        T::store4(w_eff, g, e);
    }
    if (partials) {  // uniform across the block
        const float s = s24::block_sum<kThreads>(sq, red);
        if (threadIdx.x == 0) partials[blockIdx.x] = s;
    }
}

template <class T>
__device__ __forceinline__ void backward(const void* w, const float* logits, const void* dw_eff, float* dlogits,
                                         unsigned long long groups, const Sample& p, float lambda, bool hard) {
    __shared__ float2 sm[3 * kThreads];
    const unsigned long long first = blockIdx.x * (unsigned long long)kThreads;
    const unsigned n = (unsigned)min((unsigned long long)kThreads, groups - first);
    stage_in(logits, first, n, sm);
    if (threadIdx.x < n) {
        const unsigned long long g = first + threadIdx.x;
        float pi[6], y[6], m[4];
        read6(sm, pi);
        sample_group(pi, g, p, hard, y, m);
        uint32_t we[4], de[4];
        T::load4(w, g, we);
        T::load4(dw_eff, g, de);
        float dm[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const float wk = T::to_f(we[k]);
            dm[k] = fmaf(T::to_f(de[k]), wk, -2.f * lambda * wk * wk * m[k]);
        }
        const float dy[6] = {dm[0] + dm[1], dm[0] + dm[2], dm[0] + dm[3],
                             dm[1] + dm[2], dm[1] + dm[3], dm[2] + dm[3]};
        // dy_j − Σ_i y_i·dy_i as Σ_i y_i·(dy_j − dy_i): at low temperature y is nearly
        // one-hot and the plain difference cancels catastrophically in f32.
        const float scale = p.kappa * p.inv_tau;
        float out[6];
#pragma unroll
        for (int j = 0; j < 6; ++j) {
            float acc = 0.f;
#pragma unroll
            for (int i = 0; i < 6; ++i) acc = fmaf(y[i], dy[j] - dy[i], acc);
            out[j] = scale * y[j] * acc;
        }
        write6(sm, out);
    }
    stage_out(dlogits, first, n, sm);
}

// status: [0] non-finite logit (element index), [1] non-finite kept weight (element
// index): NaN and ±Inf alike, the policy of src/dtype.rs (check_finite).
template <class T>
__device__ __forceinline__ void hard_compress(const void* w, const float* logits, void* values, uint16_t* meta,
                                              unsigned long long* status, unsigned long long groups) {
    __shared__ float2 sm[3 * kThreads];
    const unsigned long long first = blockIdx.x * (unsigned long long)kThreads;
    const unsigned n = (unsigned)min((unsigned long long)kThreads, groups - first);
    stage_in(logits, first, n, sm);
    uint32_t code = 0;
    const bool valid = threadIdx.x < n;
    if (valid) {
        const unsigned long long g = first + threadIdx.x;
        float pi[6];
        read6(sm, pi);
        uint32_t nonfinite = 0;
#pragma unroll
        for (int i = 0; i < 6; ++i) nonfinite |= (uint32_t)!s24::F32::is_finite(__float_as_uint(pi[i])) << i;
        if (nonfinite) atomicMin(status, 6 * g + __ffs(nonfinite) - 1);
        const uint32_t keep = candidate_keep(argmax6(pi));
        uint32_t e[4];
        T::load4(w, g, e);
        uint32_t bad = 0;
#pragma unroll
        for (int k = 0; k < 4; ++k) bad |= (uint32_t)!T::is_finite(e[k]) << k;
        bad &= keep;
        if (bad) atomicMin(status + 1, 4 * g + __ffs(bad) - 1);
        code = s24::code_of_keep(keep);
        const uint32_t a = code & 3u, b = code >> 2;
        uint32_t va = e[0], vb = e[1];
#pragma unroll
        for (uint32_t i = 1; i < 4; ++i) {
            va = a == i ? e[i] : va;
            vb = b == i ? e[i] : vb;
        }
        T::store2(values, g, va, vb);
    }
    // Lanes of one metadata word are in one warp: the block size is a multiple of 32.
    const uint32_t word = s24::gather_word(code);
    if (valid && (threadIdx.x & 3) == 0) meta[(first + threadIdx.x) >> 2] = (uint16_t)word;
}

// sin/cos of 2πu for u = ((x >> 8) + 0.5)·2⁻²⁴, from an exact argument: above ½,
// through v = 1 − u (sin 2πu = −sin 2πv, cos 2πu = cos 2πv).
__device__ __forceinline__ void sincos_2pi_uniform(uint32_t x, float* s, float* c) {
    const uint32_t k = x >> 8;
    if (k < (1u << 23)) {
        sincospif(((float)k + 0.5f) * 0x1p-23f, s, c);
    } else {
        sincospif(((float)(0xFFFFFFu - k) + 0.5f) * 0x1p-23f, s, c);
        *s = -*s;
    }
}

}  // namespace

#define S24_MASK_KERNELS(SUFFIX, T)                                                                             \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                      \
        mask_forward_##SUFFIX(const void* __restrict__ w, const float* __restrict__ logits,                    \
                              void* __restrict__ w_eff, float* __restrict__ partials, unsigned long long groups, \
                              unsigned seed_lo, unsigned seed_hi, unsigned step, float kappa, float inv_tau,     \
                              unsigned hard) {                                                                   \
        forward<T>(w, logits, w_eff, partials, groups, Sample{seed_lo, seed_hi, step, kappa, inv_tau}, hard != 0); \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                      \
        mask_backward_##SUFFIX(const void* __restrict__ w, const float* __restrict__ logits,                   \
                               const void* __restrict__ dw_eff, float* __restrict__ dlogits,                   \
                               unsigned long long groups, unsigned seed_lo, unsigned seed_hi, unsigned step,     \
                               float kappa, float inv_tau, float lambda, unsigned hard) {                        \
        backward<T>(w, logits, dw_eff, dlogits, groups, Sample{seed_lo, seed_hi, step, kappa, inv_tau}, lambda,  \
                    hard != 0);                                                                                  \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                      \
        hard_mask_compress_##SUFFIX(const void* __restrict__ w, const float* __restrict__ logits,              \
                                    void* __restrict__ values, uint16_t* __restrict__ meta,                     \
                                    unsigned long long* status, unsigned long long groups) {                     \
        hard_compress<T>(w, logits, values, meta, status, groups);                                               \
    }

S24_MASK_KERNELS(f32, s24::F32)
S24_MASK_KERNELS(f16, s24::F16)
S24_MASK_KERNELS(bf16, s24::BF16)

// The eight Philox words of every group (tests compare them with the CPU's).
extern "C" __global__ void mask_philox_words(uint4* __restrict__ out, unsigned long long groups, unsigned seed_lo,
                                             unsigned seed_hi, unsigned step) {
    const unsigned long long g = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (g >= groups) return;
    const s24::Words8 r = s24::group_words(seed_lo, seed_hi, g, step);
    out[2 * g] = make_uint4(r.w[0], r.w[1], r.w[2], r.w[3]);
    out[2 * g + 1] = make_uint4(r.w[4], r.w[5], r.w[6], r.w[7]);
}

// Initial logits π0 = 0.01·N(0,1) (Box–Muller on word pairs, as src/philox.rs's
// normal6) and one partial sum per block.
extern "C" __global__ void __launch_bounds__(kThreads)
    mask_init_normal(float* __restrict__ logits, float* __restrict__ partials, unsigned long long groups,
                     unsigned seed_lo, unsigned seed_hi, unsigned step) {
    __shared__ float2 sm[3 * kThreads];
    __shared__ float red[kThreads];
    const unsigned long long first = blockIdx.x * (unsigned long long)kThreads;
    const unsigned n = (unsigned)min((unsigned long long)kThreads, groups - first);
    float sum = 0.f;
    if (threadIdx.x < n) {
        const s24::Words8 r = s24::group_words(seed_lo, seed_hi, first + threadIdx.x, step);
        float v[6];
#pragma unroll
        for (int q = 0; q < 3; ++q) {
            const float rad = sqrtf(2.f * s24::neg_ln_uniform(r.w[2 * q]));
            float s, c;
            sincos_2pi_uniform(r.w[2 * q + 1], &s, &c);
            v[2 * q] = 0.01f * (rad * c);
            v[2 * q + 1] = 0.01f * (rad * s);
            sum += v[2 * q] + v[2 * q + 1];
        }
        write6(sm, v);
    }
    stage_out(logits, first, n, sm);
    const float s = s24::block_sum<kThreads>(sum, red);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// out[0] = Σ partials[0..n) in a fixed order (f64), one block.
extern "C" __global__ void __launch_bounds__(kThreads)
    mask_reduce_sum(const float* __restrict__ partials, unsigned n, float* __restrict__ out) {
    __shared__ double red[kThreads];
    const double total = s24::ordered_sum_f64<kThreads>(partials, n, red);
    if (threadIdx.x == 0) out[0] = (float)total;
}

// Partial sums of (π − mean)² over a flat [n] logits array, mean = sum[0] / n.
extern "C" __global__ void __launch_bounds__(kThreads)
    mask_centered_sq(const float* __restrict__ logits, const float* __restrict__ sum, float* __restrict__ partials,
                     unsigned long long n) {
    __shared__ float red[kThreads];
    const unsigned long long i = blockIdx.x * (unsigned long long)kThreads + threadIdx.x;
    const float mean = __ldg(sum) / (float)n;
    const float d = i < n ? __ldg(logits + i) - mean : 0.f;
    const float s = s24::block_sum<kThreads>(d * d, red);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// π += (overlap(candidate, prior) − 1)·std·strength, std = √(sq[0] / n); the prior is
// given as logical metadata words [rows, cols/16].
extern "C" __global__ void __launch_bounds__(kThreads)
    mask_init_prior(float* __restrict__ logits, const uint16_t* __restrict__ prior, const float* __restrict__ sq,
                    unsigned long long n, float strength) {
    const unsigned long long i = blockIdx.x * (unsigned long long)kThreads + threadIdx.x;
    if (i >= n) return;
    const float raise = sqrtf(__ldg(sq) / (float)n) * strength;
    const unsigned long long g = i / 6;
    const uint32_t code = (__ldg(prior + (g >> 2)) >> (4 * (g & 3))) & 0xFu;
    const uint32_t pkeep = (1u << (code & 3u)) | (1u << (code >> 2));
    const int overlap = __popc(pkeep & candidate_keep((int)(i - 6 * g)));
    logits[i] = fmaf((float)(overlap - 1), raise, logits[i]);
}
