// CPU loops of the occupancy grid: EMA update, ray marching (count/fill), rays vs boxes.
#include <omp.h>

#include <cstring>
#include <vector>

#include "redrive/launchers.h"

namespace rd {
namespace cpu {

void occgrid_update(const OccGridParams& g, const float* values, float decay, float threshold,
                    float* density, uint8_t* bits, uint8_t* coarse_bits, void*) {
    const int64_t n = (int64_t)g.res[0] * g.res[1] * g.res[2];
    const int64_t n_bytes = (n + 7) / 8;
    // One byte (8 cells) per iteration so that no two threads write the same byte.
#pragma omp parallel for schedule(static)
    for (int64_t byte = 0; byte < n_bytes; ++byte) {
        uint8_t v = 0;
        for (int b = 0; b < 8; ++b) {
            int64_t i = byte * 8 + b;
            if (i >= n) break;
            float dv = values ? occ_ema(density[i], values[i], decay) : density[i];
            density[i] = dv;
            if (dv > threshold) v |= (uint8_t)(1u << b);
        }
        bits[byte] = v;
    }
    const int64_t nc = (int64_t)g.cres[0] * g.cres[1] * g.cres[2];
    const int64_t nc_bytes = (nc + 7) / 8;
#pragma omp parallel for schedule(static)
    for (int64_t byte = 0; byte < nc_bytes; ++byte) {
        uint8_t v = 0;
        for (int b = 0; b < 8; ++b) {
            int64_t ci = byte * 8 + b;
            if (ci >= nc) break;
            int cx = (int)(ci % g.cres[0]);
            int cy = (int)((ci / g.cres[0]) % g.cres[1]);
            int cz = (int)(ci / ((int64_t)g.cres[0] * g.cres[1]));
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
        coarse_bits[byte] = v;
    }
}

// Count pass when ray_indices == nullptr (writes counts), fill pass otherwise (reads offsets).
void raymarch(const OccGridParams& g, const MarchParams& m, int64_t n_rays, const float* o,
              const float* d, const float* near, const float* far, const uint8_t* bits,
              const uint8_t* coarse_bits, const int64_t* offsets, int64_t* counts,
              int64_t* ray_indices, float* t_starts, float* t_ends, void*) {
#pragma omp parallel for schedule(dynamic, 1024)
    for (int64_t r = 0; r < n_rays; ++r) {
        if (ray_indices == nullptr) {
            CountEmit emit;
            counts[r] = march_ray(g, m, o + 3 * r, d + 3 * r, near[r], far[r], bits, coarse_bits, emit);
        } else {
            FillEmit emit{r, offsets[r], ray_indices, t_starts, t_ends};
            march_ray(g, m, o + 3 * r, d + 3 * r, near[r], far[r], bits, coarse_bits, emit);
        }
    }
}

namespace {
// Where each block's buffered output starts in the packed arrays (one-pass kernels below).
template <typename Buffer>
std::vector<int64_t> block_bases(const std::vector<Buffer>& blocks) {
    std::vector<int64_t> base(blocks.size() + 1, 0);
    for (size_t b = 0; b < blocks.size(); ++b) base[b + 1] = base[b] + (int64_t)blocks[b].size();
    return base;
}

struct BufferEmit {
    std::vector<float>* t0;
    std::vector<float>* t1;
    int cap;  // samples past it are counted, not kept
    void operator()(int i, float a, float b) {
        if (i >= cap) return;
        t0->push_back(a);
        t1->push_back(b);
    }
};

// rd::march_ray in one march for the rays that fit under the cap: their samples are kept as
// the march counts on; a ray that turns out to need stretching drops them and marches again.
int march_ray_buffered(const OccGridParams& g, const MarchParams& m, const float* o, const float* d, float near,
                       float far, const uint8_t* bits, const uint8_t* coarse, BufferEmit& emit) {
    const size_t mark = emit.t0->size();
    const int n = march_steps(g, m, 1.0f, stretch_count_limit(m), o, d, near, far, bits, coarse, emit);
    if (n <= m.max_samples) return n;
    emit.t0->resize(mark);
    emit.t1->resize(mark);
    return march_steps(g, m, stretch_scale(m, n), m.max_samples, o, d, near, far, bits, coarse, emit);
}
}  // namespace

void raymarch_single_pass(const OccGridParams& g, const MarchParams& m, int64_t n_rays, const float* o,
                          const float* d, const float* near, const float* far, const uint8_t* bits,
                          const uint8_t* coarse_bits, int64_t* counts,
                          MarchOutput (*allocate)(int64_t total, void* ctx), void* ctx) {
    // Many more blocks than threads so that dynamic scheduling balances uneven rays.
    const int64_t block = 2048;
    const int64_t n_blocks = (n_rays + block - 1) / block;
    std::vector<std::vector<float>> t0(n_blocks), t1(n_blocks);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
        const int64_t r0 = b * block, r1 = r0 + block < n_rays ? r0 + block : n_rays;
        t0[b].reserve((size_t)(r1 - r0) * 16);
        t1[b].reserve((size_t)(r1 - r0) * 16);
        BufferEmit emit{&t0[b], &t1[b], m.max_samples};
        for (int64_t r = r0; r < r1; ++r)
            counts[r] = march_ray_buffered(g, m, o + 3 * r, d + 3 * r, near[r], far[r], bits, coarse_bits, emit);
    }
    const std::vector<int64_t> base = block_bases(t0);
    MarchOutput out = allocate(base[n_blocks], ctx);
    if (base[n_blocks] == 0) return;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
        std::memcpy(out.t_starts + base[b], t0[b].data(), t0[b].size() * sizeof(float));
        std::memcpy(out.t_ends + base[b], t1[b].data(), t1[b].size() * sizeof(float));
        int64_t k = base[b];
        const int64_t r0 = b * block, r1 = r0 + block < n_rays ? r0 + block : n_rays;
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t i = 0; i < counts[r]; ++i) out.ray_indices[k++] = r;
    }
}

void raybox(int64_t n_rays, int64_t n_frames, int64_t n_actors, const float* o, const float* d,
            const float* near, const float* far, const int64_t* frames, const float* box_from_world,
            const float* spheres, const float* half_sizes, const uint8_t* valid, const int64_t* offsets,
            int64_t* counts, int64_t* ray_indices, int64_t* actor_indices, float* t_in, float* t_out, void*) {
    (void)n_frames;
#pragma omp parallel for schedule(dynamic, 1024)
    for (int64_t r = 0; r < n_rays; ++r) {
        const int64_t f = frames[r];
        const bool fill = ray_indices != nullptr;
        int n = raybox_ray(r, n_actors, o + 3 * r, d + 3 * r, near[r], far[r], box_from_world + f * n_actors * 12,
                           spheres + f * n_actors * 4, half_sizes, valid + f * n_actors, fill,
                           fill ? offsets[r] : 0, ray_indices, actor_indices, t_in, t_out);
        if (!fill) counts[r] = n;
    }
}

void raybox_single_pass(int64_t n_rays, int64_t n_actors, const float* o, const float* d, const float* near,
                        const float* far, const int64_t* frames, const float* box_from_world,
                        const float* spheres, const float* half_sizes, const uint8_t* valid, int64_t* counts,
                        BoxOutput (*allocate)(int64_t total, void* ctx), void* ctx) {
    const int64_t block = 4096;
    const int64_t n_blocks = (n_rays + block - 1) / block;
    struct Hit {
        int64_t actor;
        float t0, t1;
    };
    std::vector<std::vector<Hit>> hits(n_blocks);
#pragma omp parallel
    {
        // one ray's hits, sorted by the fill emitter, before they join the block's list
        std::vector<int64_t> ri(n_actors), ai(n_actors);
        std::vector<float> t0(n_actors), t1(n_actors);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < n_blocks; ++b) {
            const int64_t r0 = b * block, r1 = r0 + block < n_rays ? r0 + block : n_rays;
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t f = frames[r];
                BoxFillEmit emit{r, 0, ri.data(), ai.data(), t0.data(), t1.data()};
                const int n = raybox_hits(n_actors, o + 3 * r, d + 3 * r, near[r], far[r], box_from_world + f * n_actors * 12,
                                          spheres + f * n_actors * 4, half_sizes, valid + f * n_actors, emit);
                counts[r] = n;
                for (int i = 0; i < n; ++i) hits[b].push_back({ai[i], t0[i], t1[i]});
            }
        }
    }
    const std::vector<int64_t> base = block_bases(hits);
    BoxOutput out = allocate(base[n_blocks], ctx);
    if (base[n_blocks] == 0) return;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
        int64_t k = base[b];
        const int64_t r0 = b * block, r1 = r0 + block < n_rays ? r0 + block : n_rays;
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t i = 0; i < counts[r]; ++i, ++k) {
                const Hit& h = hits[b][k - base[b]];
                out.ray_indices[k] = r;
                out.actor_indices[k] = h.actor;
                out.t_in[k] = h.t0;
                out.t_out[k] = h.t1;
            }
    }
}

}  // namespace cpu
}  // namespace rd
