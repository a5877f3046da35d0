// Packed per-ray operations. Samples of ray r occupy [offsets[r], offsets[r+1]) and are sorted by
// t within the ray; one thread (CPU) or one CUDA thread handles one ray, so no write conflicts.
#pragma once

#include "redrive/common.h"

namespace rd {

// trans[i] = prod_{j<i} (1 - a_j), w[i] = trans[i] * a[i].
template <typename S>
RD_HD void weights_ray(int64_t b, int64_t e, const S* a, S* w, S* trans) {
    S T = (S)1;
    for (int64_t i = b; i < e; ++i) {
        trans[i] = T;
        w[i] = T * a[i];
        T *= (S)1 - a[i];
    }
}

// Backward without dividing by (1 - a_i), so it stays exact when an opacity reaches 1:
//   dL/da_i = trans_i (gw_i - Q_i),  Q_i = sum_{j>i} h_j prod_{i<k<j} (1 - a_k),
//   h_j = gw_j a_j + gt_j (everything that flows into trans_j).
template <typename S>
RD_HD void weights_ray_backward(int64_t b, int64_t e, const S* a, const S* trans, const S* gw,
                                const S* gt, S* ga) {
    S Q = (S)0;
    for (int64_t i = e - 1; i >= b; --i) {
        ga[i] = trans[i] * (gw[i] - Q);
        Q = gw[i] * a[i] + (gt ? gt[i] : (S)0) + ((S)1 - a[i]) * Q;
    }
}

template <typename S>
RD_HD void composite_ray(int64_t r, int64_t b, int64_t e, int64_t C, const S* v, const S* w, S* out) {
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = (S)0;
    for (int64_t i = b; i < e; ++i) {
        S wi = w[i];
        for (int64_t c = 0; c < C; ++c) out[r * C + c] += wi * v[i * C + c];
    }
}

template <typename S>
RD_HD void composite_ray_backward(int64_t r, int64_t b, int64_t e, int64_t C, const S* v, const S* w,
                                  const S* g, S* gv, S* gw) {
    for (int64_t i = b; i < e; ++i) {
        S acc = (S)0;
        for (int64_t c = 0; c < C; ++c) {
            S gc = g[r * C + c];
            if (gv) gv[i * C + c] = w[i] * gc;
            acc += v[i * C + c] * gc;
        }
        if (gw) gw[i] = acc;
    }
}

// k-way merge of one ray's samples from several packed sets, by t_start (ties: lower set first).
// set_offsets: [k, n_rays + 1] offsets of each set; set_bases: [k] start of set s in the
// concatenated t_starts. Writes perm (index into the concatenation) and source (set index).
constexpr int MERGE_MAX_SETS = 32;

RD_HD void merge_ray(int64_t r, int64_t n_rays, int64_t k, const int64_t* set_offsets,
                     const int64_t* set_bases, const float* t_starts, int64_t out_begin,
                     int64_t* perm, int64_t* source) {
    int64_t cur[MERGE_MAX_SETS], end[MERGE_MAX_SETS];
    for (int64_t s = 0; s < k; ++s) {
        const int64_t* off = set_offsets + s * (n_rays + 1);
        cur[s] = set_bases[s] + off[r];
        end[s] = set_bases[s] + off[r + 1];
    }
    int64_t o = out_begin;
    while (true) {
        int64_t best = -1;
        float bt = 0.0f;
        for (int64_t s = 0; s < k; ++s) {
            if (cur[s] < end[s] && (best < 0 || t_starts[cur[s]] < bt)) {
                best = s;
                bt = t_starts[cur[s]];
            }
        }
        if (best < 0) break;
        perm[o] = cur[best];
        source[o] = best;
        ++cur[best];
        ++o;
    }
}

// NeuS discrete opacity from the SDF at a section's midpoint, the directional derivative cos
// (already annealed by the caller) and the section length:
//   prev = sdf - cos dt / 2, next = sdf + cos dt / 2,
//   alpha = clamp((Phi(prev) - Phi(next) + eps) / (Phi(prev) + eps), 0, 1), Phi = sigmoid(s x).
template <typename S> RD_HD S rd_sigmoid(S x) { return (S)1 / ((S)1 + exp(-x)); }

constexpr double NEUS_EPS = 1e-5;

template <typename S>
RD_HD S neus_alpha_sample(S sdf, S cs, S dt, S s) {
    S prev = sdf - (S)0.5 * dt * cs;
    S next = sdf + (S)0.5 * dt * cs;
    S p = rd_sigmoid(prev * s);
    S q = rd_sigmoid(next * s);
    S raw = (p - q + (S)NEUS_EPS) / (p + (S)NEUS_EPS);
    return rd_clamp(raw, (S)0, (S)1);
}

// Returns d alpha / d s; writes the other partials.
template <typename S>
RD_HD S neus_alpha_sample_backward(S sdf, S cs, S dt, S s, S g, S& gsdf, S& gcos, S& gdt) {
    S prev = sdf - (S)0.5 * dt * cs;
    S next = sdf + (S)0.5 * dt * cs;
    S p = rd_sigmoid(prev * s);
    S q = rd_sigmoid(next * s);
    S pe = p + (S)NEUS_EPS;
    S raw = (p - q + (S)NEUS_EPS) / pe;
    if (!(raw >= (S)0 && raw <= (S)1)) {
        gsdf = gcos = gdt = (S)0;
        return (S)0;
    }
    // raw = 1 - q / (p + eps)
    S draw_dp = q / (pe * pe);
    S draw_dq = -(S)1 / pe;
    S dp = g * draw_dp * p * ((S)1 - p);  // times d(prev * s)
    S dq = g * draw_dq * q * ((S)1 - q);
    S gprev = dp * s;
    S gnext = dq * s;
    gsdf = gprev + gnext;
    gcos = (S)0.5 * dt * (gnext - gprev);
    gdt = (S)0.5 * cs * (gnext - gprev);
    return dp * prev + dq * next;
}

}  // namespace rd
