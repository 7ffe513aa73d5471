// The decode tiles' W stream: fragment-ordered W (w_loader.cuh's pointers) read with
// an L2 evict-first policy and without L1 allocation, one 8-step stage (one metadata
// group) at a time into a ring of register stages. W is read exactly once per GEMM,
// so marking it evict-first keeps X, C and the split-K partials in L2 instead.
// (sm_80's `ld` takes no `.L2::evict_first` on 128-bit loads, only a cache policy:
// ptxas 13.0 refuses the qualifier below `.v8.b32`.)
#pragma once
#include "../ptx.cuh"
#include "w_loader.cuh"

namespace s24::gemm {

// An L2 policy that evicts first every line it is attached to.
__device__ __forceinline__ unsigned long long l2_evict_first_policy() {
    unsigned long long pol;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(pol));
    return pol;
}

// ld.global.nc of 16 bytes, no L1 allocation, the L2 policy `pol`.
__device__ __forceinline__ uint4 ldg_stream_v4(const uint4* p, unsigned long long pol) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p), "l"(pol));
    return v;
}

// One warp's W stream from the WLoader's pointers: stage kb (k32 steps 8kb .. 8kb + 7 of
// the CTA's k range, one metadata group) of every row tile into f.
template <class T>
struct WRing {
    static_assert(T::KS == 8, "a decode stage is one 8-step metadata group");
    const WLoader<T>& w;
    unsigned long long pol;

    __device__ __forceinline__ void load(int kb, AFrag<T::KS, T::MT>& f) const {
#pragma unroll
        for (int i = 0; i < T::MT; ++i) {
            f.m[i] = ldg_stream_v4(w.mp[i] + kb * 32, pol);
#pragma unroll
            for (int s = 0; s < T::KS; ++s) f.a[s][i] = ldg_stream_v4(w.ap[i] + (kb * T::KS + s) * 32, pol);
        }
    }
};

}  // namespace s24::gemm
