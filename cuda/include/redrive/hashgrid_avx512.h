// AVX-512 hash-grid forward for 16 points at once (CPU build only): the AVX2 path of
// hashgrid_avx2.h at twice the width (cell lookup, weights, corner gathers), for the forward pass
// (inference spends its time there); the backward keeps the AVX2 loops. Results equal the scalar
// path up to fp32 rounding (FMA). Only compiled where the host compiler targets AVX-512 F + DQ
// (-march=native on such a CPU); elsewhere the AVX2 and scalar paths run.
#pragma once

#if !defined(__CUDACC__) && defined(__AVX512F__) && defined(__AVX512DQ__)
#define RD_HG_AVX512 1
#include <immintrin.h>

#include "redrive/hashgrid.h"

namespace rd {
namespace avx512 {

struct Cell16 {
    __m512i rows[8];
    __m512 f[3];
};

// Cell of 16 points whose coordinates are stored by axis (as avx2::cell8); the clamp/floor/
// last-cell rule of rd::hg_cell.
inline void cell16(const HashGridParams& p, int level, const float* xa, int64_t stride, Cell16& c) {
    const __m512 xyz[3] = {_mm512_loadu_ps(xa), _mm512_loadu_ps(xa + stride), _mm512_loadu_ps(xa + 2 * stride)};
    const uint32_t r = p.res[level];
    const __m512 sr = _mm512_set1_ps((float)r);
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    const __m512i rmax = _mm512_set1_epi32((int)r - 1);
    __m512i i0[3];
    for (int d = 0; d < 3; ++d) {
        const __m512 xd = xyz[d];
        // max(x, 0) returns 0 for NaN x: a NaN point reads cell 0 instead of an undefined index.
        const __m512 pos = _mm512_mul_ps(_mm512_min_ps(_mm512_max_ps(xd, zero), one), sr);
        __m512i ii = _mm512_cvttps_epi32(_mm512_roundscale_ps(pos, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
        ii = _mm512_min_epi32(ii, rmax);
        i0[d] = ii;
        c.f[d] = _mm512_sub_ps(pos, _mm512_cvtepi32_ps(ii));
    }
    const __m512i one_i = _mm512_set1_epi32(1);
    if (p.dense[level]) {
        const int v = (int)r + 1;
        const __m512i vy = _mm512_set1_epi32(v), vz = _mm512_set1_epi32(v * v);
        const __m512i base = _mm512_add_epi32(i0[0], _mm512_add_epi32(_mm512_mullo_epi32(i0[1], vy),
                                                                       _mm512_mullo_epi32(i0[2], vz)));
        for (int corner = 0; corner < 8; ++corner) {
            __m512i b = base;
            if (corner & 1) b = _mm512_add_epi32(b, one_i);
            if (corner & 2) b = _mm512_add_epi32(b, vy);
            if (corner & 4) b = _mm512_add_epi32(b, vz);
            c.rows[corner] = b;
        }
    } else {
        const __m512i p1 = _mm512_set1_epi32((int)2654435761u), p2 = _mm512_set1_epi32(805459861);
        const __m512i mask = _mm512_set1_epi32((int)p.hash_mask);
        const __m512i x0 = i0[0], x1 = _mm512_add_epi32(i0[0], one_i);
        const __m512i y0 = _mm512_mullo_epi32(i0[1], p1), y1 = _mm512_add_epi32(y0, p1);
        const __m512i z0 = _mm512_mullo_epi32(i0[2], p2), z1 = _mm512_add_epi32(z0, p2);
        const __m512i yz[4] = {_mm512_xor_si512(y0, z0), _mm512_xor_si512(y1, z0), _mm512_xor_si512(y0, z1),
                               _mm512_xor_si512(y1, z1)};
        for (int corner = 0; corner < 8; ++corner)
            c.rows[corner] = _mm512_and_si512(_mm512_xor_si512((corner & 1) ? x1 : x0, yz[corner >> 1]), mask);
    }
}

// Row reads: feature f of 16 rows as fp32 (fp16 tables: 32-bit words holding a feature pair).
template <int F, typename T> struct Gather16;

template <int F> struct Gather16<F, float> {
    static constexpr bool supported = true;
    static inline void rows(const float* lt, __m512i rows, __m512 v[F]) {
        const __m512i ri = F == 1 ? rows : _mm512_mullo_epi32(rows, _mm512_set1_epi32(F));
        for (int f = 0; f < F; ++f) v[f] = _mm512_i32gather_ps(ri, lt + f, 4);
    }
};

template <int F> struct Gather16<F, half_t> {
    static constexpr bool supported = F % 2 == 0;
    static inline void rows(const half_t* lt, __m512i rows, __m512 v[F]) {
        const __m512i ri = F == 2 ? rows : _mm512_mullo_epi32(rows, _mm512_set1_epi32(F / 2));
        for (int f = 0; f < F; f += 2) {
            const __m512i w = _mm512_i32gather_epi32(ri, (const int*)(lt + f), 4);
            v[f] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(w));  // low halves
            v[f + 1] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(w, 16)));
        }
    }
};

// out[f] = sum_c w_c * table[row_c, f] for 16 points, weights in the scalar code's order.
template <int F, typename T>
inline void level_forward16(const Cell16& c, const T* lt, __m512 out[F]) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 wx[2] = {_mm512_sub_ps(one, c.f[0]), c.f[0]};
    const __m512 wy[2] = {_mm512_sub_ps(one, c.f[1]), c.f[1]};
    const __m512 wz[2] = {_mm512_sub_ps(one, c.f[2]), c.f[2]};
    for (int f = 0; f < F; ++f) out[f] = _mm512_setzero_ps();
    for (int corner = 0; corner < 8; ++corner) {
        const __m512 w = _mm512_mul_ps(_mm512_mul_ps(wx[corner & 1], wy[(corner >> 1) & 1]), wz[(corner >> 2) & 1]);
        __m512 v[F];
        Gather16<F, T>::rows(lt, c.rows[corner], v);
        for (int f = 0; f < F; ++f) out[f] = _mm512_fmadd_ps(w, v[f], out[f]);
    }
}

// Writes F features of 16 points to out rows spaced `stride` floats apart.
template <int F> inline void store16(float* out, int64_t stride, const __m512 v[F]) {
    if constexpr (F == 2) {
        // feature pairs as doubles: unpacklo holds points 0 1 4 5 8 9 12 13, unpackhi the others
        const __m512d lo = _mm512_castps_pd(_mm512_unpacklo_ps(v[0], v[1]));
        const __m512d hi = _mm512_castps_pd(_mm512_unpackhi_ps(v[0], v[1]));
        const __m256i s = _mm256_set1_epi32((int)(stride / 2));
        const __m256i ilo = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13), s);
        const __m256i ihi = _mm256_mullo_epi32(_mm256_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15), s);
        _mm512_i32scatter_pd((double*)out, ilo, lo, 8);
        _mm512_i32scatter_pd((double*)out, ihi, hi, 8);
    } else {
        alignas(64) float tmp[F][16];
        for (int f = 0; f < F; ++f) _mm512_store_ps(tmp[f], v[f]);
        for (int k = 0; k < 16; ++k)
            for (int f = 0; f < F; ++f) out[k * stride + f] = tmp[f][k];
    }
}

}  // namespace avx512
}  // namespace rd
#endif
