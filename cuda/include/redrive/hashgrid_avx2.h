// AVX2/FMA hash-grid cell lookup and forward for 8 points at once (CPU build only).
//
// The scalar per-point code in redrive/hashgrid.h costs ~50 cycles per point and level (clamp,
// floor, 8 hashes, 8 weights, 8 dependent-address loads); here the same arithmetic runs on 8
// points per instruction and the 8 corner reads become hardware gathers, which also keep 8 cache
// misses in flight instead of one. Results equal the scalar path up to fp32 rounding (FMA).
// Only compiled where the host compiler targets AVX2 + FMA (-march=native on such a CPU); the
// scalar path stays the fallback and the reference (REDRIVE_SCALAR_KERNELS=1 forces it).
#pragma once

#if !defined(__CUDACC__) && defined(__AVX2__) && defined(__FMA__)
#define RD_HG_AVX2 1
#include <immintrin.h>

#include "redrive/hashgrid.h"

namespace rd {
namespace avx2 {

// Cell of 8 points in one level: corner rows (relative to the level start) and the
// per-axis fractions.
struct Cell8 {
    __m256i rows[8];
    __m256 f[3];
};

// Cell of 8 points whose coordinates are stored by axis: x of the 8 at ``xa``, y and z ``stride``
// and 2 ``stride`` floats on; same clamp/floor/last-cell rule as rd::hg_cell.
inline void cell8(const HashGridParams& p, int level, const float* xa, int64_t stride, Cell8& c) {
    const __m256 xyz[3] = {_mm256_loadu_ps(xa), _mm256_loadu_ps(xa + stride), _mm256_loadu_ps(xa + 2 * stride)};
    const uint32_t r = p.res[level];
    const __m256 sr = _mm256_set1_ps((float)r);
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256i rmax = _mm256_set1_epi32((int)r - 1);
    __m256i i0[3];
    for (int d = 0; d < 3; ++d) {
        // max(x, 0) returns 0 for NaN x: a NaN point reads cell 0 instead of an undefined index.
        __m256 pos = _mm256_mul_ps(_mm256_min_ps(_mm256_max_ps(xyz[d], zero), one), sr);
        __m256i ii = _mm256_cvttps_epi32(_mm256_floor_ps(pos));
        ii = _mm256_min_epi32(ii, rmax);
        i0[d] = ii;
        c.f[d] = _mm256_sub_ps(pos, _mm256_cvtepi32_ps(ii));
    }
    if (p.dense[level]) {
        const int v = (int)r + 1;
        const __m256i vy = _mm256_set1_epi32(v), vz = _mm256_set1_epi32(v * v);
        __m256i base = _mm256_add_epi32(i0[0], _mm256_add_epi32(_mm256_mullo_epi32(i0[1], vy),
                                                                 _mm256_mullo_epi32(i0[2], vz)));
        const __m256i one_i = _mm256_set1_epi32(1);
        for (int corner = 0; corner < 8; ++corner) {
            __m256i b = base;
            if (corner & 1) b = _mm256_add_epi32(b, one_i);
            if (corner & 2) b = _mm256_add_epi32(b, vy);
            if (corner & 4) b = _mm256_add_epi32(b, vz);
            c.rows[corner] = b;
        }
    } else {
        const __m256i p1 = _mm256_set1_epi32((int)2654435761u), p2 = _mm256_set1_epi32(805459861);
        const __m256i mask = _mm256_set1_epi32((int)p.hash_mask);
        const __m256i one_i = _mm256_set1_epi32(1);
        const __m256i x0 = i0[0], x1 = _mm256_add_epi32(i0[0], one_i);
        const __m256i y0 = _mm256_mullo_epi32(i0[1], p1), y1 = _mm256_add_epi32(y0, p1);
        const __m256i z0 = _mm256_mullo_epi32(i0[2], p2), z1 = _mm256_add_epi32(z0, p2);
        const __m256i yz[4] = {_mm256_xor_si256(y0, z0), _mm256_xor_si256(y1, z0), _mm256_xor_si256(y0, z1),
                               _mm256_xor_si256(y1, z1)};
        for (int corner = 0; corner < 8; ++corner) {
            __m256i h = _mm256_xor_si256((corner & 1) ? x1 : x0, yz[corner >> 1]);
            c.rows[corner] = _mm256_and_si256(h, mask);
        }
    }
}

// Trilinear weights of the 8 corners, in the scalar code's product order (wx * wy) * wz.
inline void weights8(const Cell8& c, __m256 w[8]) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 wx[2] = {_mm256_sub_ps(one, c.f[0]), c.f[0]};
    const __m256 wy[2] = {_mm256_sub_ps(one, c.f[1]), c.f[1]};
    const __m256 wz[2] = {_mm256_sub_ps(one, c.f[2]), c.f[2]};
    for (int corner = 0; corner < 8; ++corner)
        w[corner] = _mm256_mul_ps(_mm256_mul_ps(wx[corner & 1], wy[(corner >> 1) & 1]), wz[(corner >> 2) & 1]);
}

// Row reads: feature f of 8 rows as fp32. fp32 tables gather each feature; fp16 tables gather
// 32-bit words holding a feature pair (F even), split into two vectors.
template <int F, typename T> struct Gather;

template <int F> struct Gather<F, float> {
    static constexpr bool supported = true;
    static inline void rows(const float* lt, __m256i rows, __m256 v[F]) {
        const __m256i ri = F == 1 ? rows : _mm256_mullo_epi32(rows, _mm256_set1_epi32(F));
        for (int f = 0; f < F; ++f) v[f] = _mm256_i32gather_ps(lt + f, ri, 4);
    }
};

template <int F> struct Gather<F, half_t> {
    static constexpr bool supported = F % 2 == 0;
    static inline void rows(const half_t* lt, __m256i rows, __m256 v[F]) {
        const __m256i ri = F == 2 ? rows : _mm256_mullo_epi32(rows, _mm256_set1_epi32(F / 2));
        const __m256i lo_mask = _mm256_set1_epi32(0xffff);
        for (int f = 0; f < F; f += 2) {
            __m256i w = _mm256_i32gather_epi32((const int*)(lt + f), ri, 4);
            // [lo0..3 hi0..3 | lo4..7 hi4..7] -> [lo0..7 | hi0..7] -> two fp32 vectors.
            __m256i packed = _mm256_packus_epi32(_mm256_and_si256(w, lo_mask), _mm256_srli_epi32(w, 16));
            packed = _mm256_permute4x64_epi64(packed, 0xD8);
            v[f] = _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
            v[f + 1] = _mm256_cvtph_ps(_mm256_extracti128_si256(packed, 1));
        }
    }
};

// out[f] = sum_c w_c * table[row_c, f] for 8 points.
template <int F, typename T>
inline void level_forward8(const Cell8& c, const T* lt, __m256 out[F]) {
    __m256 w[8];
    weights8(c, w);
    for (int f = 0; f < F; ++f) out[f] = _mm256_setzero_ps();
    for (int corner = 0; corner < 8; ++corner) {
        __m256 v[F];
        Gather<F, T>::rows(lt, c.rows[corner], v);
        for (int f = 0; f < F; ++f) out[f] = _mm256_fmadd_ps(w[corner], v[f], out[f]);
    }
}

// Writes F features of 8 points to out rows spaced `stride` floats apart.
template <int F> inline void store8(float* out, int64_t stride, const __m256 v[F]) {
    if constexpr (F == 2) {
        const __m256 lo = _mm256_unpacklo_ps(v[0], v[1]);  // p0 p1 | p4 p5
        const __m256 hi = _mm256_unpackhi_ps(v[0], v[1]);  // p2 p3 | p6 p7
        const __m128 l0 = _mm256_castps256_ps128(lo), l1 = _mm256_extractf128_ps(lo, 1);
        const __m128 h0 = _mm256_castps256_ps128(hi), h1 = _mm256_extractf128_ps(hi, 1);
        _mm_storel_pi((__m64*)(out + 0 * stride), l0);
        _mm_storeh_pi((__m64*)(out + 1 * stride), l0);
        _mm_storel_pi((__m64*)(out + 2 * stride), h0);
        _mm_storeh_pi((__m64*)(out + 3 * stride), h0);
        _mm_storel_pi((__m64*)(out + 4 * stride), l1);
        _mm_storeh_pi((__m64*)(out + 5 * stride), l1);
        _mm_storel_pi((__m64*)(out + 6 * stride), h1);
        _mm_storeh_pi((__m64*)(out + 7 * stride), h1);
    } else {
        alignas(32) float tmp[F][8];
        for (int f = 0; f < F; ++f) _mm256_store_ps(tmp[f], v[f]);
        for (int k = 0; k < 8; ++k)
            for (int f = 0; f < F; ++f) out[k * stride + f] = tmp[f][k];
    }
}

// Loads F features of 8 points from rows spaced `stride` floats apart (the transpose of store8).
template <int F> inline void load8(const float* in, int64_t stride, __m256 v[F]) {
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32((int)stride));
    for (int f = 0; f < F; ++f) v[f] = _mm256_i32gather_ps(in + f, idx, 4);
}

// Backward of one level for 8 points: grad-table rows += w_c * g (if lg; scalar read-modify-write,
// since AVX2 has no scatter and lanes may hit the same row), and gx[d] += sum_c dw_c/dx_d <g, t_c>
// (if want_x). g: [F] vectors of the points' output gradients.
template <int F, typename T>
inline void level_backward8(const Cell8& c, float scale, const T* lt, const __m256 g[F], float* lg,
                            bool want_x, __m256 gx[3]) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 wx[2] = {_mm256_sub_ps(one, c.f[0]), c.f[0]};
    const __m256 wy[2] = {_mm256_sub_ps(one, c.f[1]), c.f[1]};
    const __m256 wz[2] = {_mm256_sub_ps(one, c.f[2]), c.f[2]};
    if constexpr (F == 2) {
        if (lg) {
            // The two features of a corner's contribution as an adjacent pair, so that each
            // read-modify-write of a gradient row is one 8-byte load, add and store; the
            // unpacks leave the points in the order 0 1 4 5 2 3 6 7.
            alignas(32) int32_t rows[8][8];
            alignas(32) float pairs[8][16];
            for (int corner = 0; corner < 8; ++corner) {
                const __m256 w = _mm256_mul_ps(_mm256_mul_ps(wx[corner & 1], wy[(corner >> 1) & 1]), wz[(corner >> 2) & 1]);
                const __m256 a = _mm256_mul_ps(w, g[0]), b = _mm256_mul_ps(w, g[1]);
                _mm256_store_si256((__m256i*)rows[corner], c.rows[corner]);
                _mm256_store_ps(pairs[corner], _mm256_unpacklo_ps(a, b));
                _mm256_store_ps(pairs[corner] + 8, _mm256_unpackhi_ps(a, b));
            }
            constexpr int slot[8] = {0, 1, 4, 5, 2, 3, 6, 7};  // point k's pair in pairs[corner]
            for (int k = 0; k < 8; ++k)
                for (int corner = 0; corner < 8; ++corner)
                    RowAdd<2, float, PlainAdd>::add(lg + (size_t)(uint32_t)rows[corner][k] * 2, pairs[corner] + 2 * slot[k]);
        }
    } else if (lg) {
        alignas(32) int32_t rows[8][8];
        alignas(32) float vals[8][F][8];
        for (int corner = 0; corner < 8; ++corner) {
            const __m256 w = _mm256_mul_ps(_mm256_mul_ps(wx[corner & 1], wy[(corner >> 1) & 1]), wz[(corner >> 2) & 1]);
            _mm256_store_si256((__m256i*)rows[corner], c.rows[corner]);
            for (int f = 0; f < F; ++f) _mm256_store_ps(vals[corner][f], _mm256_mul_ps(w, g[f]));
        }
        for (int k = 0; k < 8; ++k) {
            for (int corner = 0; corner < 8; ++corner) {
                float v[F];
                for (int f = 0; f < F; ++f) v[f] = vals[corner][f][k];
                RowAdd<F, float, PlainAdd>::add(lg + (size_t)(uint32_t)rows[corner][k] * F, v);
            }
        }
    }
    if (want_x) {
        const __m256 sc = _mm256_set1_ps(scale);
        for (int corner = 0; corner < 8; ++corner) {
            __m256 t[F];
            Gather<F, T>::rows(lt, c.rows[corner], t);
            __m256 v = _mm256_mul_ps(g[0], t[0]);
            for (int f = 1; f < F; ++f) v = _mm256_fmadd_ps(g[f], t[f], v);
            v = _mm256_mul_ps(v, sc);
            // d w_c / d x_d = s_d * prod of the other two axis weights, s_d = +-1 by corner bit.
            const __m256 ax = wx[corner & 1], ay = wy[(corner >> 1) & 1], az = wz[(corner >> 2) & 1];
            const __m256 t0 = _mm256_mul_ps(v, _mm256_mul_ps(ay, az));
            const __m256 t1 = _mm256_mul_ps(v, _mm256_mul_ps(ax, az));
            const __m256 t2 = _mm256_mul_ps(v, _mm256_mul_ps(ax, ay));
            gx[0] = (corner & 1) ? _mm256_add_ps(gx[0], t0) : _mm256_sub_ps(gx[0], t0);
            gx[1] = (corner & 2) ? _mm256_add_ps(gx[1], t1) : _mm256_sub_ps(gx[1], t1);
            gx[2] = (corner & 4) ? _mm256_add_ps(gx[2], t2) : _mm256_sub_ps(gx[2], t2);
        }
    }
}

}  // namespace avx2
}  // namespace rd
#endif
