// Rays against many oriented boxes (actors) at each ray's frame.
//
// box_from_world: [n_frames, n_actors, 3, 4] rigid transforms (rotation | translation) mapping
// world points into the box frame, where the box is [-half, half]. Because the rotation keeps
// lengths, the t values found in the box frame are world distances along the ray.
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

// All hits of one ray, sorted by entry distance when writing (fill pass). Returns the count.
RD_HD int raybox_ray(int64_t ray, int64_t n_actors, const float o[3], const float d[3], float near,
                     float far, const float* box_from_world_frame, const float* half_sizes,
                     const uint8_t* valid_frame, bool fill, int64_t base, int64_t* ray_indices,
                     int64_t* actor_indices, float* t_in, float* t_out) {
    int n = 0;
    for (int64_t a = 0; a < n_actors; ++a) {
        if (!valid_frame[a]) continue;
        float t0, t1;
        if (!ray_obb(o, d, box_from_world_frame + 12 * a, half_sizes + 3 * a, near, far, t0, t1))
            continue;
        if (fill) {
            // Insertion sort by entry distance: a ray crosses few boxes.
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
        ++n;
    }
    return n;
}

}  // namespace rd
