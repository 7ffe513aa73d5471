// One MaskLLM learner step on the device, after the fused mask forward of
// kernels/mask_sampling.cu and before its backward (host side: src/learn/device.rs):
//
//   learn_diff_*        D = W − W_eff (f32), W and W_eff in the weight dtype
//   learn_gram_product  P = D·G, a shared-memory tiled SGEMM (f32 accumulate)
//   learn_loss_grad_*   per-block partials of Σ D⊙P, dW_eff = scale·P (weight dtype)
//   learn_loss_finish   one block: the partials in a fixed order (f64) times 1/‖XWᵀ‖²
//   learn_adam          Adam on the f32 logits with bias correction
//
// Elementwise kernels move one group of four per thread (16-byte f32 accesses,
// 8-byte for f16/bf16), contiguous across the warp. Sums are deterministic: a fixed
// shared-memory tree per block, then a single-block pass in a fixed order.
#include "common.cuh"
#include "elem.cuh"
#include "sparse24_abi.cuh"

namespace {


// P tile: kTile × kTile outputs per block (kTile from sparse24_abi.cuh), kK-deep
// slices of D and G; 16×16 threads, each owning a 4×4 strided sub-grid (rows ty + 16i,
// columns tx + 16j).
static_assert(kTile == 64, "the 16x16 threads of learn_gram_product own 4x4 outputs each");
constexpr int kK = 16;


template <class T>
__device__ __forceinline__ void diff(const void* w, const void* w_eff, float4* d, unsigned long long groups) {
    const unsigned long long g = blockIdx.x * (unsigned long long)kThreads + threadIdx.x;
    if (g >= groups) return;
    uint32_t a[4], b[4];
    T::load4(w, g, a);
    T::load4(w_eff, g, b);
    d[g] = make_float4(T::to_f(a[0]) - T::to_f(b[0]), T::to_f(a[1]) - T::to_f(b[1]),
                       T::to_f(a[2]) - T::to_f(b[2]), T::to_f(a[3]) - T::to_f(b[3]));
}

template <class T>
__device__ __forceinline__ void loss_grad(const float4* d, const float4* p, void* dw_eff, float* partials,
                                          unsigned long long groups, float scale) {
    __shared__ float red[kThreads];
    const unsigned long long g = blockIdx.x * (unsigned long long)kThreads + threadIdx.x;
    float acc = 0.f;
    if (g < groups) {
        const float4 x = d[g], y = p[g];
        acc = x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
        const uint32_t e[4] = {T::from_f(scale * y.x), T::from_f(scale * y.y), T::from_f(scale * y.z),
                               T::from_f(scale * y.w)};
        T::store4(dw_eff, g, e);
    }
    const float total = s24::block_sum<kThreads>(acc, red);
    if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

}  // namespace

#define LEARN_DTYPE(SUFFIX, T)                                                                                   \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                      \
        learn_diff_##SUFFIX(const void* __restrict__ w, const void* __restrict__ w_eff, float4* __restrict__ d, \
                            unsigned long long groups) {                                                        \
        diff<s24::T>(w, w_eff, d, groups);                                                                      \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(kThreads)                                                      \
        learn_loss_grad_##SUFFIX(const float4* __restrict__ d, const float4* __restrict__ p,                   \
                                 void* __restrict__ dw_eff, float* __restrict__ partials,                       \
                                 unsigned long long groups, float scale) {                                      \
        loss_grad<s24::T>(d, p, dw_eff, partials, groups, scale);                                               \
    }

LEARN_DTYPE(f32, F32)
LEARN_DTYPE(f16, F16)
LEARN_DTYPE(bf16, BF16)

// P [rows, n] = D [rows, n] · G [n, n]; any shape (tails are bounds-checked).
extern "C" __global__ void __launch_bounds__(kThreads)
    learn_gram_product(const float* __restrict__ d, const float* __restrict__ gram, float* __restrict__ p,
                       unsigned rows, unsigned n) {
    __shared__ float as[kK][kTile + 1];  // D slice, transposed: as[k][row]
    __shared__ float bs[kK][kTile];      // G slice: bs[k][col]
    const unsigned tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const unsigned row0 = blockIdx.y * kTile, col0 = blockIdx.x * kTile;
    float acc[4][4] = {};
    for (unsigned k0 = 0; k0 < n; k0 += kK) {
#pragma unroll
        for (int l = 0; l < kTile * kK / kThreads; ++l) {
            const unsigned idx = threadIdx.x + kThreads * l;
            const unsigned ar = idx / kK, ac = idx % kK;
            const unsigned r = row0 + ar, k = k0 + ac;
            as[ac][ar] = (r < rows && k < n) ? __ldg(d + (unsigned long long)r * n + k) : 0.f;
            const unsigned br = idx / kTile, bc = idx % kTile;
            const unsigned kb = k0 + br, c = col0 + bc;
            bs[br][bc] = (kb < n && c < n) ? __ldg(gram + (unsigned long long)kb * n + c) : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kK; ++k) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = as[k][ty + 16 * i], b[i] = bs[k][tx + 16 * i];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const unsigned r = row0 + ty + 16 * i;
        if (r >= rows) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const unsigned c = col0 + tx + 16 * j;
            if (c < n) p[(unsigned long long)r * n + c] = acc[i][j];
        }
    }
}

// loss = (Σ partials, in order, f64) · inv_norm, as one f64.
extern "C" __global__ void __launch_bounds__(kThreads)
    learn_loss_finish(const float* __restrict__ partials, unsigned n, unsigned long long inv_norm_bits,
                      double* __restrict__ loss) {
    __shared__ double red[kThreads];
    const double total = s24::ordered_sum_f64<kThreads>(partials, n, red);
    if (threadIdx.x == 0) *loss = total * __longlong_as_double((long long)inv_norm_bits);
}

// One Adam step (t = step, from 1) of the logits along grad; moments in f32.
extern "C" __global__ void __launch_bounds__(kThreads)
    learn_adam(float* __restrict__ params, const float* __restrict__ grad, float* __restrict__ m,
               float* __restrict__ v, unsigned long long n, float lr, float beta1, float beta2, float eps,
               unsigned step) {
    const unsigned long long i = blockIdx.x * (unsigned long long)kThreads + threadIdx.x;
    if (i >= n) return;
    const float c1 = 1.f - powf(beta1, (float)step), c2 = 1.f - powf(beta2, (float)step);
    const float g = grad[i];
    const float mi = fmaf(beta1, m[i], (1.f - beta1) * g);
    const float vi = fmaf(beta2, v[i], (1.f - beta2) * g * g);
    m[i] = mi;
    v[i] = vi;
    params[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + eps);
}
