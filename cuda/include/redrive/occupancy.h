// Occupancy grid over an axis-aligned box and ray marching through it.
//
// Cells are indexed x fastest: idx = ix + rx * (iy + ry * iz). Occupancy is a bitfield (bit idx&7
// of byte idx>>3) so that a 128^3 grid is 256 KiB and stays in L2, with a coarse bitfield, one bit
// per block of cf^3 cells. The marcher reads the occupancy levels derived from both (below), which
// let it leap out of an empty block, 4^3 or 2^3 group of cells, or cell in one step.
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

// Occupancy levels: what the marcher reads at each step, rebuilt whenever the bitfields change.
// Each cell has 4 bits: bit 0 its own occupancy, bit 1 that of its aligned 2^3 group of cells,
// bit 2 its aligned 4^3 group, bit 3 its block (the coarse bitfield). Groups as large as a block or
// larger are left set (the block stands for them). 8 cells per 32-bit word (cell i in bits
// 4i..4i+3), each row of cells padded to whole words: one read tells a step the largest empty box
// around it.
RD_HD int level_words_per_row(const OccGridParams& g) { return (g.res[0] + 7) / 8; }
// Cells per row of the levels: the grid's, padded to whole words.
RD_HD int level_row_cells(const OccGridParams& g) { return 8 * level_words_per_row(g); }
RD_HD int64_t level_words(const OccGridParams& g) { return (int64_t)level_words_per_row(g) * g.res[1] * g.res[2]; }
// The words are built by groups of 4 x 4 rows (y fastest): a group's rows share their 4^3 groups.
RD_HD int64_t level_row_groups(const OccGridParams& g) { return (int64_t)((g.res[1] + 3) / 4) * ((g.res[2] + 3) / 4); }

// Bits i -> 4i of 8 bits.
RD_HD uint32_t spread_nibbles(uint32_t x) {
    x = (x | (x << 12)) & 0x000F000Fu;
    x = (x | (x << 6)) & 0x03030303u;
    return (x | (x << 3)) & 0x11111111u;
}

// The level words of word column w (cells 8w..8w+7 of each row) in row group `group`.
RD_HD void occ_level_words(const OccGridParams& g, int64_t group, int w, const uint8_t* bits, const uint8_t* coarse,
                           uint32_t* levels) {
    const int groups_y = (g.res[1] + 3) / 4;
    const int y0 = 4 * (int)(group % groups_y), z0 = 4 * (int)(group / groups_y);
    const int x0 = 8 * w, nx = rd_min(8, g.res[0] - x0);
    const int64_t n_bytes = ((int64_t)g.res[0] * g.res[1] * g.res[2] + 7) / 8;
    // the 8 cells' occupancy in each of the 4 x 4 rows (0 past the grid)
    uint32_t fine[4][4];
    uint32_t any = 0;
    for (int dz = 0; dz < 4; ++dz)
        for (int dy = 0; dy < 4; ++dy) {
            uint32_t v = 0;
            if (y0 + dy < g.res[1] && z0 + dz < g.res[2]) {
                const int64_t c0 = x0 + (int64_t)g.res[0] * (y0 + dy + (int64_t)g.res[1] * (z0 + dz));
                const int64_t byte = c0 >> 3;
                v = bits[byte];
                if (byte + 1 < n_bytes) v |= (uint32_t)bits[byte + 1] << 8;
                v = (v >> (c0 & 7)) & ((1u << nx) - 1u);
            }
            fine[dz][dy] = v;
            any |= v;
        }
    // a 4^3 group is occupied when any of its cells is: its rows are all 16, its x run 4 bits
    uint32_t quad = any | (any >> 1) | (any >> 2) | (any >> 3);
    const uint32_t g4 = g.cf > 4 ? (quad & 0x11u) * 0xFu : 0xFFu;
    const int wpr = level_words_per_row(g);
    int last_by = -1, last_bz = -1;
    uint32_t block = 0;
    for (int dz = 0; dz < 4 && z0 + dz < g.res[2]; ++dz)
        for (int dy = 0; dy < 4 && y0 + dy < g.res[1]; ++dy) {
            const int iy = y0 + dy, iz = z0 + dz;
            const uint32_t pair = fine[dz & 2][dy & 2] | fine[dz & 2][(dy & 2) + 1] | fine[(dz & 2) + 1][dy & 2] |
                                  fine[(dz & 2) + 1][(dy & 2) + 1];
            const uint32_t g2 = g.cf > 2 ? ((pair | (pair >> 1)) & 0x55u) * 0x3u : 0xFFu;
            const int by = iy / g.cf, bz = iz / g.cf;
            if (by != last_by || bz != last_bz) {
                block = 0;
                for (int i = 0; i < nx; ++i) {
                    const int64_t b = (x0 + i) / g.cf + (int64_t)g.cres[0] * (by + (int64_t)g.cres[1] * bz);
                    block |= (uint32_t)bit_get(coarse, b) << i;
                }
                last_by = by, last_bz = bz;
            }
            levels[(iy + (int64_t)g.res[1] * iz) * wpr + w] = spread_nibbles(fine[dz][dy]) | (spread_nibbles(g2) << 1) |
                                                             (spread_nibbles(g4) << 2) | (spread_nibbles(block) << 3);
        }
}

// Cells across the largest empty box around a cell with level bits `nib`: its block, else its 4^3
// or 2^3 group, else the cell; 0 when the cell is occupied (a sample).
RD_HD int empty_box_cells(uint32_t nib, int cf) {
    return !(nib & 8u) ? cf : !(nib & 4u) ? 4 : !(nib & 2u) ? 2 : !(nib & 1u) ? 1 : 0;
}

// A ray in cell units, set up once: cell coordinate q = oq + dq * t, and the t at which q reaches
// a plane q = c, c * a + b (a = 0, b = 1e30 where the ray never does).
struct MarchRay {
    float oq[3], dq[3], a[3], b[3];
    float t, tend;  // where it enters [near, far] within the grid, and leaves
};

// The ray's setup; false when it has no part inside the grid within [near, far].
RD_HD bool march_setup(const OccGridParams& g, const float o[3], const float d[3], float near, float far, MarchRay& r) {
    float id[3] = {safe_inv(d[0]), safe_inv(d[1]), safe_inv(d[2])};
    float b0, b1;
    if (!ray_aabb(o, id, g.lo, g.hi, b0, b1)) return false;
    r.t = rd_max(b0, near);
    r.tend = rd_min(b1, far);
    if (!(r.t < r.tend)) return false;
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        const float inv_csz = (float)g.res[k] / (g.hi[k] - g.lo[k]);
        r.oq[k] = (o[k] - g.lo[k]) * inv_csz;
        r.dq[k] = d[k] * inv_csz;
        const bool crosses = fabsf(r.dq[k]) > 1e-20f;
        r.a[k] = crosses ? 1.0f / r.dq[k] : 0.0f;
        r.b[k] = crosses ? -r.oq[k] * r.a[k] : 1e30f;
    }
    return true;
}

// Minimal progress after an empty-space jump: guards against a jump that lands exactly on the
// boundary it started from.
RD_HD float march_eps(const OccGridParams& g) {
    float min_csz = 1e30f;
#pragma unroll
    for (int k = 0; k < 3; ++k) min_csz = rd_min(min_csz, (g.hi[k] - g.lo[k]) / (float)g.res[k]);
    return 1e-5f * min_csz;
}

// Where a ray goes on after an empty box: the exit, at least eps (march_eps) further. Far out eps can fall
// below the float spacing of t, and where the exit computed for the box is t itself (a ray
// leaving the grid one ulp before its end) the ray would stand still: it then moves to the end of
// the current step instead (whose midpoint was tested empty).
RD_HD float leave_empty(float exit, float t, float eps, float te) {
    const float next = rd_max(exit, t + eps);
    return next > t ? next : te;
}

struct CountEmit {
    RD_HD void operator()(int, float, float) {}
};

// March one ray with steps `scale` times the nominal ones, at most `limit` samples; calls
// emit(i, t_start, t_end) for each sample, returns the number of samples. Each step tests the
// cell at its midpoint: a sample where it is occupied, else a jump out of the largest empty box
// around it (block, 4^3 or 2^3 group, cell).
template <typename Emit>
RD_HD int march_steps(const OccGridParams& g, const MarchParams& m, float scale, int limit, const float o[3],
                      const float d[3], float near, float far, const uint32_t* levels, Emit& emit) {
    MarchRay r;
    if (!march_setup(g, o, d, near, far, r)) return 0;
    const float tend = r.tend;
    float t = r.t;
    const int64_t row = level_row_cells(g);
    const float eps = march_eps(g);
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
            const int c = (int)floorf(r.oq[k] + r.dq[k] * tm);
            ic[k] = c < 0 ? 0 : (c >= g.res[k] ? g.res[k] - 1 : c);
        }
        const int64_t cell = ic[0] + row * (ic[1] + (int64_t)g.res[1] * ic[2]);
        const int s = empty_box_cells((levels[cell >> 3] >> (4 * (cell & 7))) & 15u, g.cf);
        if (s == 0) {
            emit(n, t, te);
            ++n;
            t = te;
            continue;
        }
        float exit = 1e30f;
#pragma unroll
        for (int k = 0; k < 3; ++k) {
            const int box_lo = s == g.cf ? ic[k] / g.cf * g.cf : ic[k] & -s;
            const int plane = box_lo + (r.dq[k] > 0.0f ? s : 0);
            exit = rd_min(exit, (float)plane * r.a[k] + r.b[k]);
        }
        t = leave_empty(exit, t, eps, te);
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
                    float near, float far, const uint32_t* levels, Emit& emit) {
    float scale = 1.0f;
    if (m.stretch) {
        CountEmit count;
        scale = stretch_scale(m, march_steps(g, m, 1.0f, stretch_count_limit(m), o, d, near, far, levels, count));
    }
    return march_steps(g, m, scale, m.max_samples, o, d, near, far, levels, emit);
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
