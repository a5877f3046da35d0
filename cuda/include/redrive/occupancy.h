// Occupancy grid over an axis-aligned box and ray marching through it.
//
// Cells are indexed x fastest: idx = ix + rx * (iy + ry * iz). Occupancy is a bitfield (bit idx&7
// of byte idx>>3) so that a 128^3 grid is 256 KiB and stays in L2. A coarse bitfield, one bit per
// block of cf^3 cells, lets the marcher leap over empty blocks in one step.
#pragma once

#include "redrive/common.h"

namespace rd {

struct OccGridParams {
    float lo[3];
    float hi[3];
    int res[3];   // cells per axis
    int cf;       // coarse factor: coarse cell = cf^3 cells
    int cres[3];  // coarse cells per axis = ceil(res / cf)
};

struct MarchParams {
    float dt_min;      // smallest step (world units)
    float dt_max;      // largest step
    float cone;        // step = clamp(t * cone, dt_min, dt_max): steps grow with distance
    int max_samples;   // per-ray cap
    int stretch;       // nonzero: a ray whose occupied cells hold more steps than the cap gets
                       // proportionally longer steps, so that its samples still reach `far`
};

// A stretched ray's steps grow at most this many times (a longer run is cut at the cap;
// redrive.ops.occupancy.MAX_STRETCH mirrors it).
constexpr int kMaxStretch = 8;

RD_HD bool bit_get(const uint8_t* bits, int64_t idx) { return (bits[idx >> 3] >> (idx & 7)) & 1; }

RD_HD float safe_inv(float v) {
    // A zero direction component never crosses that slab; a huge inverse keeps the min/max
    // logic valid without IEEE infinities.
    return fabsf(v) > 1e-20f ? 1.0f / v : (v >= 0.0f ? 1e30f : -1e30f);
}

// Entry/exit of the ray with an axis-aligned box [lo, hi]; returns false if it misses.
RD_HD bool ray_aabb(const float o[3], const float id[3], const float lo[3], const float hi[3],
                    float& t0, float& t1) {
    t0 = -1e30f;
    t1 = 1e30f;
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        float a = (lo[k] - o[k]) * id[k];
        float b = (hi[k] - o[k]) * id[k];
        t0 = rd_max(t0, rd_min(a, b));
        t1 = rd_min(t1, rd_max(a, b));
    }
    return t0 <= t1;
}

// t at which the ray leaves the axis-aligned cell [cell_lo, cell_lo + size].
RD_HD float cell_exit(const float o[3], const float d[3], const float id[3], const float cell_lo[3],
                      const float size[3]) {
    float t = 1e30f;
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        float b = cell_lo[k] + (d[k] > 0.0f ? size[k] : 0.0f);
        float tk = (b - o[k]) * id[k];
        // Directions with a zero component give +-1e30 here: never the minimum that matters.
        if (d[k] != 0.0f) t = rd_min(t, tk);
    }
    return t;
}

// Where a ray goes on after an empty cell or block: the exit, at least eps further. Far out
// eps can fall below the float spacing of t, and where the exit computed for the cell is t itself
// (a ray leaving the grid one ulp before its end) the ray would stand still: it then moves to the
// end of the current step instead (whose midpoint was tested empty).
RD_HD float leave_empty(float exit, float t, float eps, float te) {
    const float next = rd_max(exit, t + eps);
    return next > t ? next : te;
}

struct CountEmit {
    RD_HD void operator()(int, float, float) {}
};

// March one ray with steps `scale` times the nominal ones, at most `limit` samples; calls
// emit(i, t_start, t_end) for each sample, returns the number of samples.
template <typename Emit>
RD_HD int march_steps(const OccGridParams& g, const MarchParams& m, float scale, int limit, const float o[3],
                      const float d[3], float near, float far, const uint8_t* bits, const uint8_t* coarse,
                      Emit& emit) {
    float id[3] = {safe_inv(d[0]), safe_inv(d[1]), safe_inv(d[2])};
    float b0, b1;
    if (!ray_aabb(o, id, g.lo, g.hi, b0, b1)) return 0;
    float t = rd_max(b0, near);
    const float tend = rd_min(b1, far);
    if (!(t < tend)) return 0;

    float csz[3], inv_csz[3], bsz[3];
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        csz[k] = (g.hi[k] - g.lo[k]) / (float)g.res[k];
        inv_csz[k] = (float)g.res[k] / (g.hi[k] - g.lo[k]);
        bsz[k] = csz[k] * (float)g.cf;
    }
    // Each step is one long dependency chain (t -> position -> cell -> bit -> next t), so the
    // step's latency is the marcher's speed: no integer division in it (the coarse index is
    // cell >> log2(cf) when cf is a power of two).
    const bool cf_pow2 = rd_is_pow2(g.cf);
    const int cf_shift = rd_log2_ceil(g.cf);
    // Minimal progress after an empty-space jump: guards against a jump that lands exactly on
    // the boundary it started from.
    const float eps = 1e-5f * rd_min(csz[0], rd_min(csz[1], csz[2]));
    int n = 0;
    while (t < tend && n < limit) {
        float dt = rd_clamp(t * m.cone, m.dt_min, m.dt_max) * scale;
        float te = rd_min(t + dt, tend);
        // Rounding in the accumulated t can leave a sliver (~1e-7) before tend: fold it into
        // this step rather than emitting a near-zero-length sample.
        if (tend - te < 1e-3f * dt) te = tend;
        float tm = 0.5f * (t + te);
        int ic[3];
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            float p = o[k] + d[k] * tm;
            int c = (int)floorf((p - g.lo[k]) * inv_csz[k]);
            ic[k] = c < 0 ? 0 : (c >= g.res[k] ? g.res[k] - 1 : c);
        }
        int cc[3];
        if (cf_pow2) {
            cc[0] = ic[0] >> cf_shift;
            cc[1] = ic[1] >> cf_shift;
            cc[2] = ic[2] >> cf_shift;
        } else {
            cc[0] = ic[0] / g.cf;
            cc[1] = ic[1] / g.cf;
            cc[2] = ic[2] / g.cf;
        }
        int64_t cidx = cc[0] + (int64_t)g.cres[0] * (cc[1] + (int64_t)g.cres[1] * cc[2]);
        if (!bit_get(coarse, cidx)) {
            float blo[3] = {g.lo[0] + cc[0] * bsz[0], g.lo[1] + cc[1] * bsz[1], g.lo[2] + cc[2] * bsz[2]};
            t = leave_empty(cell_exit(o, d, id, blo, bsz), t, eps, te);
            continue;
        }
        int64_t idx = ic[0] + (int64_t)g.res[0] * (ic[1] + (int64_t)g.res[1] * ic[2]);
        if (bit_get(bits, idx)) {
            emit(n, t, te);
            ++n;
            t = te;
        } else {
            float clo[3] = {g.lo[0] + ic[0] * csz[0], g.lo[1] + ic[1] * csz[1], g.lo[2] + ic[2] * csz[2]};
            t = leave_empty(cell_exit(o, d, id, clo, csz), t, eps, te);
        }
    }
    return n;
}

// How many samples a stretched march first counts (more are not counted: the steps then grow
// kMaxStretch times and the ray may still be cut at the cap).
RD_HD int stretch_count_limit(const MarchParams& m) {
    return m.stretch ? kMaxStretch * m.max_samples : m.max_samples;
}

// Step scale of a ray whose nominal march holds n samples (1 when they fit under the cap).
RD_HD float stretch_scale(const MarchParams& m, int n) {
    // 5 % slack: the stretched march does not fall exactly on n / scale steps
    return (m.stretch && n > m.max_samples) ? 1.05f * (float)n / (float)m.max_samples : 1.0f;
}

// March one ray (see MarchParams). The same function runs in the count pass (emit does nothing)
// and in the fill pass, so both passes agree exactly. Stretching matters on grazing rays: a ray
// running along a road crosses metres of occupied cells before the surface, and a cut ray would
// never see it.
template <typename Emit>
RD_HD int march_ray(const OccGridParams& g, const MarchParams& m, const float o[3], const float d[3],
                    float near, float far, const uint8_t* bits, const uint8_t* coarse, Emit& emit) {
    float scale = 1.0f;
    if (m.stretch) {
        CountEmit count;
        scale = stretch_scale(m, march_steps(g, m, 1.0f, stretch_count_limit(m), o, d, near, far, bits, coarse, count));
    }
    return march_steps(g, m, scale, m.max_samples, o, d, near, far, bits, coarse, emit);
}

struct FillEmit {
    int64_t ray;
    int64_t base;
    int64_t* ray_indices;
    float* t_starts;
    float* t_ends;
    RD_HD void operator()(int i, float t0, float t1) {
        ray_indices[base + i] = ray;
        t_starts[base + i] = t0;
        t_ends[base + i] = t1;
    }
};

// EMA update of one cell's density and its occupancy bit: density = max(decay * density, value),
// occupied = density > threshold (the Instant-NGP rule: a cell stays occupied until it has been
// seen empty for a while, and a new observation of matter marks it at once).
RD_HD float occ_ema(float old_density, float value, float decay) {
    float a = old_density * decay;
    return a > value ? a : value;
}

// Byte `byte` of the occupancy bitfield over n cells: cells 8 * byte .. 8 * byte + 7, their
// densities first EMA-updated with `values` (when given). One byte per call, so that parallel
// callers never write the same byte.
RD_HD uint8_t occ_update_byte(int64_t byte, int64_t n, const float* values, float decay, float threshold,
                              float* density) {
    uint8_t v = 0;
    for (int b = 0; b < 8; ++b) {
        const int64_t i = byte * 8 + b;
        if (i >= n) break;
        const float dv = values ? occ_ema(density[i], values[i], decay) : density[i];
        density[i] = dv;
        if (dv > threshold) v |= (uint8_t)(1u << b);
    }
    return v;
}

// Byte `byte` of the coarse bitfield (nc blocks): a block is occupied when any of its cells is.
RD_HD uint8_t occ_coarse_byte(const OccGridParams& g, int64_t byte, int64_t nc, const uint8_t* bits) {
    uint8_t v = 0;
    for (int b = 0; b < 8; ++b) {
        const int64_t ci = byte * 8 + b;
        if (ci >= nc) break;
        const int cx = (int)(ci % g.cres[0]);
        const int cy = (int)((ci / g.cres[0]) % g.cres[1]);
        const int cz = (int)(ci / ((int64_t)g.cres[0] * g.cres[1]));
        bool any = false;
        for (int z = cz * g.cf; z < (cz + 1) * g.cf && z < g.res[2] && !any; ++z)
            for (int y = cy * g.cf; y < (cy + 1) * g.cf && y < g.res[1] && !any; ++y)
                for (int x = cx * g.cf; x < (cx + 1) * g.cf && x < g.res[0]; ++x)
                    if (bit_get(bits, x + (int64_t)g.res[0] * (y + (int64_t)g.res[1] * z))) {
                        any = true;
                        break;
                    }
        if (any) v |= (uint8_t)(1u << b);
    }
    return v;
}

}  // namespace rd
