// Rays against many oriented boxes (actors) at each ray's frame.
//
// box_from_world: [n_frames, n_actors, 3, 4] rigid transforms (rotation | translation) mapping
// world points into the box frame, where the box is [-half, half]. Because the rotation keeps
// lengths, the t values found in the box frame are world distances along the ray.
// spheres: [n_frames, 4, n_actors] each box's bounding sphere in the world (centre, radius^2):
// most (ray, box) pairs miss, and the sphere rejects them with a few multiply-adds, before the
// box-frame transform and the slab test's divisions.
#pragma once

#include "redrive/occupancy.h"

namespace rd {

// Slab test of the ray with one oriented box. Returns true and [t0, t1] clipped to [near, far]
// when the clipped interval has positive length (a grazing ray or a zero-length overlap is a miss).
RD_HD bool ray_obb(const float o[3], const float d[3], const float* M, const float* half, float near,
                   float far, float& t0, float& t1) {
    float ol[3], dl[3];
#pragma unroll
    for (int r = 0; r < 3; ++r) {
        ol[r] = M[4 * r + 0] * o[0] + M[4 * r + 1] * o[1] + M[4 * r + 2] * o[2] + M[4 * r + 3];
        dl[r] = M[4 * r + 0] * d[0] + M[4 * r + 1] * d[1] + M[4 * r + 2] * d[2];
    }
    float id[3] = {safe_inv(dl[0]), safe_inv(dl[1]), safe_inv(dl[2])};
    float lo[3] = {-half[0], -half[1], -half[2]};
    if (!ray_aabb(ol, id, lo, half, t0, t1)) return false;
    t0 = rd_max(t0, near);
    t1 = rd_min(t1, far);
    return t0 < t1;
}

// Whether the ray segment [near, far] may touch the bounding sphere of box a; conservative: float
// rounding must never reject a box the slab test would hit. spheres: this frame's [4, n_actors]
// (centre x, y, z, radius^2 by component, so that a loop over actors vectorises); inv_dd = 1/|d|^2.
RD_HD bool may_touch_sphere(const float o[3], const float d[3], float inv_dd, float near, float far,
                            const float* spheres, int64_t n_actors, int64_t a) {
    const float v0 = spheres[a] - o[0], v1 = spheres[n_actors + a] - o[1], v2 = spheres[2 * n_actors + a] - o[2];
    const float tc = (v0 * d[0] + v1 * d[1] + v2 * d[2]) * inv_dd;  // closest approach
    const float w0 = v0 - tc * d[0], w1 = v1 - tc * d[1], w2 = v2 - tc * d[2];
    const float r2 = spheres[3 * n_actors + a] * 1.001f + 1e-6f;
    const float span = sqrtf(r2 * inv_dd);  // t half-length of the chord through the centre
    return (w0 * w0 + w1 * w1 + w2 * w2 <= r2) & (tc + span >= near) & (tc - span <= far);
}

// All hits of one ray, sorted by entry distance (when `emit` stores them). Returns the count.
// emit(a, t0, t1, j) is called for each hit a (j: rank so far); it may shift earlier hits.
template <typename Emit>
RD_HD int raybox_hits(int64_t n_actors, const float o[3], const float d[3], float near, float far,
                      const float* box_from_world_frame, const float* spheres_frame, const float* half_sizes,
                      const uint8_t* valid_frame, Emit& emit) {
    const float dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    const float inv_dd = dd > 0.0f ? 1.0f / dd : 0.0f;
    constexpr int kBatch = 32;
    bool candidate[kBatch];
    int n = 0;
    for (int64_t a0 = 0; a0 < n_actors; a0 += kBatch) {
        const int m = n_actors - a0 < kBatch ? (int)(n_actors - a0) : kBatch;
        // the sphere test over a batch of boxes without branches (vectorised on the CPU), then
        // the exact test on the few candidates
        for (int i = 0; i < m; ++i)
            candidate[i] = may_touch_sphere(o, d, inv_dd, near, far, spheres_frame, n_actors, a0 + i);
        for (int i = 0; i < m; ++i) {
            const int64_t a = a0 + i;
            if (!candidate[i] || !valid_frame[a]) continue;
            float t0, t1;
            if (!ray_obb(o, d, box_from_world_frame + 12 * a, half_sizes + 3 * a, near, far, t0, t1)) continue;
            emit(a, t0, t1, n);
            ++n;
        }
    }
    return n;
}

struct BoxCountEmit {
    RD_HD void operator()(int64_t, float, float, int) {}
};

// Writes the hits of one ray at [base, base + n), kept sorted by entry distance by insertion
// (a ray crosses few boxes).
struct BoxFillEmit {
    int64_t ray;
    int64_t base;
    int64_t* ray_indices;
    int64_t* actor_indices;
    float* t_in;
    float* t_out;
    RD_HD void operator()(int64_t a, float t0, float t1, int n) {
        int64_t j = base + n;
        while (j > base && t_in[j - 1] > t0) {
            t_in[j] = t_in[j - 1];
            t_out[j] = t_out[j - 1];
            actor_indices[j] = actor_indices[j - 1];
            --j;
        }
        t_in[j] = t0;
        t_out[j] = t1;
        actor_indices[j] = a;
        ray_indices[base + n] = ray;
    }
};

// Count pass (fill == false) or fill pass of one ray; returns the count.
RD_HD int raybox_ray(int64_t ray, int64_t n_actors, const float o[3], const float d[3], float near,
                     float far, const float* box_from_world_frame, const float* spheres_frame,
                     const float* half_sizes, const uint8_t* valid_frame, bool fill, int64_t base,
                     int64_t* ray_indices, int64_t* actor_indices, float* t_in, float* t_out) {
    if (!fill) {
        BoxCountEmit emit;
        return raybox_hits(n_actors, o, d, near, far, box_from_world_frame, spheres_frame, half_sizes, valid_frame, emit);
    }
    BoxFillEmit emit{ray, base, ray_indices, actor_indices, t_in, t_out};
    return raybox_hits(n_actors, o, d, near, far, box_from_world_frame, spheres_frame, half_sizes, valid_frame, emit);
}

}  // namespace rd
