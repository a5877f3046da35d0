// Multi-resolution hash-grid encoding (Instant-NGP style), per point and per level.
//
// Positions are in [0, 1]^3 (clamped; the gradient is zero where a coordinate was clamped).
// Level l has `res[l]` cells per axis, i.e. res+1 vertices; levels whose (res+1)^3 vertices fit in
// the per-level table are indexed densely (no collisions), finer levels are hashed.
// Table layout: [sum of level sizes, F], level l starting at row offsets[l].
// Output layout: [N, n_levels * F], level-major within a point (what the MLP consumes).
#pragma once

#include "redrive/common.h"

namespace rd {

constexpr int HG_MAX_LEVELS = 32;

struct HashGridParams {
    int n_levels;
    int n_features;          // F, features per level
    uint32_t hash_mask;      // per-level hashed table size - 1 (power of two)
    uint32_t offsets[HG_MAX_LEVELS + 1];
    uint32_t res[HG_MAX_LEVELS];    // cells per axis
    uint32_t dense[HG_MAX_LEVELS];  // 1: dense indexing
};

// Per-level cell lookup: the 8 corner rows and the trilinear factors.
template <typename S> struct HgCell {
    uint32_t rows[8];  // table rows, relative to the level start
    S f[3];            // fractional position inside the cell
    S scale;           // d(pos)/dx = res
};

RD_HD uint32_t hg_index(const HashGridParams& p, int level, uint32_t i, uint32_t j, uint32_t k) {
    if (p.dense[level]) {
        uint32_t v = p.res[level] + 1;
        return i + v * (j + v * k);
    }
    // Spatial hash of Teschner et al., first prime 1 so that x-neighbours stay close in memory.
    return (i ^ (j * 2654435761u) ^ (k * 805459861u)) & p.hash_mask;
}

template <typename S>
RD_HD void hg_cell(const HashGridParams& p, int level, const S x[3], HgCell<S>& c) {
    const uint32_t r = p.res[level];
    const S sr = (S)r;
    uint32_t i0[3];
#pragma unroll
    for (int d = 0; d < 3; ++d) {
        S pos = rd_clamp(x[d], (S)0, (S)1) * sr;
        S fl = floor(pos);
        uint32_t ii = (uint32_t)fl;
        if (ii >= r) ii = r - 1;  // x == 1 lands on the last cell with f == 1
        i0[d] = ii;
        c.f[d] = pos - (S)ii;
    }
    c.scale = sr;
#pragma unroll
    for (int corner = 0; corner < 8; ++corner) {
        c.rows[corner] = hg_index(p, level, i0[0] + (corner & 1), i0[1] + ((corner >> 1) & 1),
                                  i0[2] + ((corner >> 2) & 1));
    }
}

// Trilinear weight of a corner and its gradient with respect to the cell-local fractions.
template <typename S> RD_HD S hg_weight(const HgCell<S>& c, int corner) {
    S wx = (corner & 1) ? c.f[0] : (S)1 - c.f[0];
    S wy = (corner & 2) ? c.f[1] : (S)1 - c.f[1];
    S wz = (corner & 4) ? c.f[2] : (S)1 - c.f[2];
    return wx * wy * wz;
}

template <typename S> RD_HD void hg_weight_factors(const HgCell<S>& c, int corner, S w[3], S s[3]) {
#pragma unroll
    for (int d = 0; d < 3; ++d) {
        bool hi = (corner >> d) & 1;
        w[d] = hi ? c.f[d] : (S)1 - c.f[d];
        s[d] = hi ? (S)1 : (S)-1;
    }
}

// Adds F values to a gradient row. The CPU fp32, F = 2 case (the common configuration) does it
// as one 8-byte load/add/store, halving the store instructions of the scatter (within the noise
// of the shared reference machine: 0.8-0.9 M pts/s per thread either way).
template <int F, typename S, typename Acc> struct RowAdd {
    RD_HD static void add(S* row, const S* v) {
#pragma unroll
        for (int f = 0; f < F; ++f) Acc::add(row + f, v[f]);
    }
};
#if !defined(__CUDACC__) && defined(__SSE2__)
}  // namespace rd
#include <immintrin.h>
namespace rd {
template <> struct RowAdd<2, float, PlainAdd> {
    static inline void add(float* row, const float* v) {
        __m128 r = _mm_castpd_ps(_mm_load_sd((const double*)row));
        __m128 a = _mm_castpd_ps(_mm_load_sd((const double*)v));
        _mm_store_sd((double*)row, _mm_castps_pd(_mm_add_ps(r, a)));
    }
};
#endif

// out[F] = sum_corners w_c * table[c]
template <int F, typename S, typename T>
RD_HD void hg_level_forward(const HgCell<S>& c, const T* level_table, S out[F]) {
#pragma unroll
    for (int f = 0; f < F; ++f) out[f] = (S)0;
#pragma unroll
    for (int corner = 0; corner < 8; ++corner) {
        S w = hg_weight(c, corner);
        const T* row = level_table + (size_t)c.rows[corner] * F;
#pragma unroll
        for (int f = 0; f < F; ++f) out[f] += w * (S)Load<T>::f(row + f);
    }
}

// Backward of one level: grad_table rows += w_c * g  (if grad_table), and
// gx[3] += sum_c (dw_c/dx) <g, table[c]>  (if want_x).
template <int F, typename S, typename T, typename Acc>
RD_HD void hg_level_backward(const HgCell<S>& c, const T* level_table, const S g[F],
                             S* level_grad_table, bool want_x, S gx[3]) {
#pragma unroll
    for (int corner = 0; corner < 8; ++corner) {
        S w[3], s[3];
        hg_weight_factors(c, corner, w, s);
        if (level_grad_table) {
            S wc = w[0] * w[1] * w[2];
            S v[F];
#pragma unroll
            for (int f = 0; f < F; ++f) v[f] = wc * g[f];
            RowAdd<F, S, Acc>::add(level_grad_table + (size_t)c.rows[corner] * F, v);
        }
        if (want_x) {
            const T* row = level_table + (size_t)c.rows[corner] * F;
            S v = 0;
#pragma unroll
            for (int f = 0; f < F; ++f) v += g[f] * (S)Load<T>::f(row + f);
            v *= c.scale;
            gx[0] += v * s[0] * w[1] * w[2];
            gx[1] += v * s[1] * w[0] * w[2];
            gx[2] += v * s[2] * w[0] * w[1];
        }
    }
}

// Backward of the input-gradient path for one level (second order, used by the eikonal loss).
// Forward of that path: gx = sum_c (dw_c/dx) <g, table[c]>. Given gg = dL/dgx (already masked by
// the clamp), accumulate
//   grad_table[c]  += g * <gg, dw_c/dx>
//   grad_g         += sum_c table[c] * <gg, dw_c/dx>
//   grad_x[j]      += sum_c <g, table[c]> sum_i gg_i d2w_c/dx_i dx_j   (trilinear: i != j only)
template <int F, typename S, typename T, typename Acc>
RD_HD void hg_level_backward_backward(const HgCell<S>& c, const T* level_table, const S g[F],
                                      const S gg[3], S* level_grad_table, S* grad_g,
                                      bool want_x, S gx[3]) {
    const S sc = c.scale;
    const S sc2 = sc * sc;
#pragma unroll
    for (int corner = 0; corner < 8; ++corner) {
        S w[3], s[3];
        hg_weight_factors(c, corner, w, s);
        S dw0 = sc * s[0] * w[1] * w[2];
        S dw1 = sc * s[1] * w[0] * w[2];
        S dw2 = sc * s[2] * w[0] * w[1];
        S proj = gg[0] * dw0 + gg[1] * dw1 + gg[2] * dw2;
        const T* row = level_table + (size_t)c.rows[corner] * F;
        if (level_grad_table) {
            S* grow = level_grad_table + (size_t)c.rows[corner] * F;
#pragma unroll
            for (int f = 0; f < F; ++f) Acc::add(grow + f, g[f] * proj);
        }
        S v = 0;
#pragma unroll
        for (int f = 0; f < F; ++f) {
            S t = (S)Load<T>::f(row + f);
            if (grad_g) grad_g[f] += t * proj;
            v += g[f] * t;
        }
        if (want_x) {
            // d2w/dx_i dx_j = sc^2 s_i s_j w_k, k the remaining axis.
            S h01 = sc2 * s[0] * s[1] * w[2];
            S h02 = sc2 * s[0] * s[2] * w[1];
            S h12 = sc2 * s[1] * s[2] * w[0];
            gx[0] += v * (gg[1] * h01 + gg[2] * h02);
            gx[1] += v * (gg[0] * h01 + gg[2] * h12);
            gx[2] += v * (gg[0] * h02 + gg[1] * h12);
        }
    }
}

// 1 strictly inside the cube (gradient passes), else 0: the same convention as torch.clamp,
// whose gradient is zero at the bounds.
template <typename S> RD_HD S hg_inside(S x) { return (x > (S)0 && x < (S)1) ? (S)1 : (S)0; }

}  // namespace rd
