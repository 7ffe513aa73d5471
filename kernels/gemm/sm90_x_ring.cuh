// The X ring of the Hopper GEMM: STAGES shared-memory slots of one (k 64 × BN tokens)
// box each, filled by the bulk tensor copy engine from the tensor map of X[tokens, in]
// (128B swizzle, out-of-bounds tokens and k read as zeros) and handed between the
// producer thread and the consumer warps by two mbarriers per slot: `full` (the
// copy's bytes arrived) and `empty` (every consumer warp's wgmmas reading it retired).
#pragma once
#include "../ptx_sm90.cuh"

namespace s24::gemm {

template <class T>
struct XRing {
    unsigned char* slots;  // 1024-byte aligned
    uint64_t* full;        // [STAGES]
    uint64_t* empty;       // [STAGES]

    // Thread 0 before the CTA barrier: `full` expects the producer's one arrival (plus
    // the copy's bytes), `empty` one arrival per consumer warp.
    __device__ __forceinline__ void init() const {
#pragma unroll 1
        for (int s = 0; s < T::STAGES; ++s) {
            sm90::mbar_init(&full[s], 1);
            sm90::mbar_init(&empty[s], T::CONSUMER_THREADS / 32);
        }
        sm90::fence_mbar_init();
    }

    // Stages are numbered across the CTA's whole run (`it`: every unit's stages in
    // turn), so the ring and its phases continue from one unit to the next.
    //
    // The producer thread: one unit's nst stages (k from k0 on), its first the CTA's
    // stage it0; stage i goes into slot i % STAGES once its previous use (stage
    // i - STAGES) has been released.
    __device__ __forceinline__ void produce(const void* x_map, unsigned it0, int nst, unsigned k0,
                                            unsigned n0) const {
#pragma unroll 1
        for (int kb = 0; kb < nst; ++kb) {
            const unsigned i = it0 + kb;
            const unsigned s = i % T::STAGES;
            if (i >= T::STAGES) sm90::mbar_wait(&empty[s], ((i / T::STAGES) - 1) & 1);
            sm90::mbar_arrive_expect_tx(&full[s], T::STAGE_BYTES);
            sm90::tma_load_2d(slots + s * T::STAGE_BYTES, x_map, &full[s],
                              static_cast<int>(k0) + kb * T::K_STAGE, static_cast<int>(n0));
        }
    }

    // Consumers: wait until stage i's bytes are in its slot.
    __device__ __forceinline__ void wait_full(unsigned i) const {
        sm90::mbar_wait(&full[i % T::STAGES], (i / T::STAGES) & 1);
    }

    // Consumers (lane 0 of each warp): stage i's slot may be refilled.
    __device__ __forceinline__ void release(unsigned i, int lane) const {
        if (lane == 0) sm90::mbar_arrive(&empty[i % T::STAGES]);
    }

    // The B descriptor of slot 0, step 0; the others add to its address field.
    __device__ __forceinline__ uint64_t desc_base() const { return sm90::desc_kmajor_sw128(sm90::smem_u32(slots)); }

    // The B descriptor of k32 step t (0, 1) of stage i: the slot's rows, advanced by
    // t · 32 elements (64 bytes) inside the 128-byte swizzle row. The address field
    // holds address >> 4 in 14 bits: every slot lies below 256 KiB, so the sum never
    // carries out of it.
    __device__ __forceinline__ static uint64_t desc(uint64_t base, unsigned i, int t) {
        return base + static_cast<uint64_t>((i % T::STAGES) * (T::STAGE_BYTES >> 4) + t * (64 >> 4));
    }
};

}  // namespace s24::gemm
