// Shared definitions for code compiled both by the host C++ compiler (CPU build, OpenMP) and by
// nvcc (CUDA build). Every per-point / per-ray function is written once, marked RD_HD.
#pragma once

#include <stdint.h>
#include <math.h>

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define RD_HD __host__ __device__ __forceinline__
#define RD_DEVICE_CODE 1
#else
#define RD_HD inline __attribute__((always_inline))
#if defined(__F16C__)
#include <immintrin.h>
#endif
#endif

namespace rd {

// Half-precision tables are stored as raw 16-bit words so that the same pointer type works in
// both compilers; arithmetic is always fp32 (fp16 arithmetic is 15-100x slower on the CPU).
struct half_t {
    uint16_t bits;
};

RD_HD float half_bits_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(h));
#elif defined(__F16C__)
    return _cvtsh_ss(h);
#else
    // Portable decode (IEEE binary16), used only where F16C is unavailable.
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t f;
    if (exp == 0) {
        if (man == 0) {
            f = sign;
        } else {
            exp = 127 - 15 + 1;
            while ((man & 0x400u) == 0) { man <<= 1; --exp; }
            man &= 0x3ffu;
            f = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        f = sign | 0x7f800000u | (man << 13);
    } else {
        f = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float out;
    __builtin_memcpy(&out, &f, 4);
    return out;
#endif
}

template <typename T> struct Load {
    RD_HD static float f(const T* p) { return (float)(*p); }
};
template <> struct Load<double> {
    RD_HD static double f(const double* p) { return *p; }
};
template <> struct Load<half_t> {
    RD_HD static float f(const half_t* p) { return half_bits_to_float(p->bits); }
};

// Compute type for a given (scalar, table) pair: doubles stay doubles (gradcheck), else fp32.
template <typename S> RD_HD S rd_min(S a, S b) { return a < b ? a : b; }
template <typename S> RD_HD S rd_max(S a, S b) { return a > b ? a : b; }
template <typename S> RD_HD S rd_clamp(S v, S lo, S hi) { return v < lo ? lo : (v > hi ? hi : v); }

RD_HD bool rd_is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }
// Smallest s with 2^s >= v (log2 of v when v is a power of two).
RD_HD int rd_log2_ceil(int v) {
    int s = 0;
    while ((1 << s) < v) ++s;
    return s;
}

// Accumulation policy: plain add on the CPU (each address is owned by one thread), atomics on
// the GPU.
struct PlainAdd {
    template <typename S> RD_HD static void add(S* p, S v) { *p += v; }
};
#if defined(__CUDACC__)
struct AtomicAdd {
    template <typename S> __device__ __forceinline__ static void add(S* p, S v) { atomicAdd(p, v); }
};
#endif

}  // namespace rd
