// CPU loops of the occupancy grid: EMA update, ray marching (count/fill), rays vs boxes.
#include <omp.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "redrive/launchers.h"

#if defined(__SSE2__)
#include <immintrin.h>
#endif
#if defined(__AVX2__) && defined(__FMA__)
#define RD_MARCH_AVX2 1
#if defined(__AVX512F__) && defined(__AVX512VL__)
#define RD_MARCH_SCATTER 1
#endif
#endif

namespace rd {
namespace cpu {

void occgrid_update(const OccGridParams& g, const float* values, float decay, float threshold,
                    float* density, uint8_t* bits, uint8_t* coarse_bits, void*) {
    const int64_t n = (int64_t)g.res[0] * g.res[1] * g.res[2];
    const int64_t nc = (int64_t)g.cres[0] * g.cres[1] * g.cres[2];
#pragma omp parallel for schedule(static)
    for (int64_t byte = 0; byte < (n + 7) / 8; ++byte) bits[byte] = occ_update_byte(byte, n, values, decay, threshold, density);
#pragma omp parallel for schedule(static)
    for (int64_t byte = 0; byte < (nc + 7) / 8; ++byte) coarse_bits[byte] = occ_coarse_byte(g, byte, nc, bits);
}

void occgrid_levels(const OccGridParams& g, const uint8_t* bits, const uint8_t* coarse_bits, uint32_t* levels, void*) {
    const int64_t groups = level_row_groups(g), wpr = level_words_per_row(g);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < groups * wpr; ++i) occ_level_words(g, i / wpr, (int)(i % wpr), bits, coarse_bits, levels);
}

// Count pass when ray_indices == nullptr (writes counts), fill pass otherwise (reads offsets).
void raymarch(const OccGridParams& g, const MarchParams& m, int64_t n_rays, const float* o,
              const float* d, const float* near, const float* far, const uint32_t* levels,
              const int64_t* offsets, int64_t* counts, int64_t* ray_indices, float* t_starts, float* t_ends,
              void*) {
#pragma omp parallel for schedule(dynamic, 1024)
    for (int64_t r = 0; r < n_rays; ++r) {
        if (ray_indices == nullptr) {
            CountEmit emit;
            counts[r] = march_ray(g, m, o + 3 * r, d + 3 * r, near[r], far[r], levels, emit);
        } else {
            FillEmit emit{r, offsets[r], ray_indices, t_starts, t_ends};
            march_ray(g, m, o + 3 * r, d + 3 * r, near[r], far[r], levels, emit);
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

// A ray's samples are ~30 floats: a libc call per copy costs about as much as the copy itself.
inline void copy_floats(float* dst, const float* src, int64_t n) {
#if defined(__AVX512F__) && defined(__AVX512VL__)
    // 256-bit moves: 512-bit ones between the marcher's steps made the march ~3 % slower
    for (; n >= 8; n -= 8, dst += 8, src += 8) _mm256_storeu_ps(dst, _mm256_loadu_ps(src));
    if (n > 0) {
        const __mmask8 k = (__mmask8)((1u << n) - 1u);
        _mm256_mask_storeu_ps(dst, k, _mm256_maskz_loadu_ps(k, src));
    }
#else
    std::memcpy(dst, src, (size_t)n * sizeof(float));
#endif
}

// Samples (t_start, t_end) appended ray after ray. Unlike std::vector it leaves appended room
// uninitialised, so each sample is written once.
struct SampleBuffer {
    // Floats readable past the capacity: a ray's samples are copied out in whole vectors.
    static constexpr int64_t kSlack = 32;
    std::unique_ptr<float[]> t0, t1;
    int64_t size = 0, capacity = 0;

    // Room for n more samples; returns where they start.
    int64_t extend(int64_t n) {
        if (size + n > capacity) {
            const int64_t c = rd_max(2 * capacity, size + n);
            std::unique_ptr<float[]> a(new float[c + kSlack]), b(new float[c + kSlack]);
            copy_floats(a.get(), t0.get(), size);
            copy_floats(b.get(), t1.get(), size);
            t0 = std::move(a);
            t1 = std::move(b);
            capacity = c;
        }
        const int64_t at = size;
        size += n;
        return at;
    }
    void release() {
        t0.reset();
        t1.reset();
        size = capacity = 0;
    }
};

struct BufferEmit {
    SampleBuffer* buf;
    int cap;  // samples past it are counted, not kept
    void operator()(int i, float a, float b) {
        if (i >= cap) return;
        const int64_t k = buf->extend(1);
        buf->t0[k] = a;
        buf->t1[k] = b;
    }
};

// rd::march_ray in one march for the rays that fit under the cap: their samples are kept as
// the march counts on; a ray that turns out to need stretching drops them and marches again.
int march_ray_buffered(const OccGridParams& g, const MarchParams& m, const float* o, const float* d, float near,
                       float far, const uint32_t* levels, BufferEmit& emit) {
    const int64_t mark = emit.buf->size;
    const int n = march_steps(g, m, 1.0f, stretch_count_limit(m), o, d, near, far, levels, emit);
    if (n <= m.max_samples) return n;
    emit.buf->size = mark;
    return march_steps(g, m, stretch_scale(m, n), m.max_samples, o, d, near, far, levels, emit);
}
}  // namespace

namespace {
#if defined(RD_MARCH_AVX2)
// The AVX2 marcher handles plain (unstretched) marching with a power-of-two coarse factor, on
// grids whose cell indices fit its 32-bit lanes; each lane writes into room for a few rays at the
// cap, so very large caps stay on the scalar path.
constexpr int kSimdMaxCap = 4096;

bool simd_march_ok(const OccGridParams& g, const MarchParams& m) {
    const bool small = (int64_t)level_row_cells(g) * g.res[1] * g.res[2] < ((int64_t)1 << 31);
    // (the box sizes of empty_box_cells are looked up as bytes)
    return !scalar_kernels_forced() && !m.stretch && m.max_samples > 0 && m.max_samples <= kSimdMaxCap &&
           rd_is_pow2(g.cf) && g.cf <= 64 && small;
}

// Cell index ix + rx * (iy + ry * iz) of per-axis cells: with power-of-two sizes by shifts, else by
// two products side by side (the same integers; each product is ~10 cycles on the step's chain).
template <bool kPow2>
inline __m256i cell_index(const __m256i c[3], __m256i rx_or_shift, __m256i rxy_or_shift) {
    if constexpr (kPow2)
        return _mm256_add_epi32(_mm256_add_epi32(c[0], _mm256_sllv_epi32(c[1], rx_or_shift)), _mm256_sllv_epi32(c[2], rxy_or_shift));
    else
        return _mm256_add_epi32(_mm256_add_epi32(c[0], _mm256_mullo_epi32(c[1], rx_or_shift)), _mm256_mullo_epi32(c[2], rxy_or_shift));
}

// rd::march_steps for 24 rays at a time (three groups of 8 AVX2 lanes): each lane takes one step
// per iteration (float operations that give the same values, so the same samples up to FMA
// contraction), and a lane whose ray ends takes the next ray of the block soon after, so the lanes
// stay busy while rays of different lengths finish. A step has no branches: the occupancy test is
// a gather of the cells' occupancy levels, the empty-space jump and the sample a blend. Each lane
// writes its rays' samples one after the other into a stretch of the thread's buffers that it took
// for itself (no copy when a ray ends); `first[r - r0]` records where each ray starts.
class LaneMarcher {
  public:
    // Three groups of 8 lanes: each step is one long latency chain (position, cell, gather,
    // exit, blend), and three independent ones in flight keep the core busy (with two gathers per
    // step two groups were faster; with one, three are, and four are not).
    static constexpr int kLanes = 24;
    // Ended rays are handed over every kBatch iterations: an ended lane idles until then, and the
    // branch on "some ray ended" (true about every third iteration, unpredictable) is taken almost
    // always; each misprediction discarded the work of the next iteration that had started.
    static constexpr int kBatch = 4;

    LaneMarcher(const OccGridParams& g, const MarchParams& m, const uint32_t* levels)
        : g_(g), m_(m), levels_(levels), stretch_(rd_max(4 * m.max_samples, 1024)), eps_(march_eps(g)) {
        // empty_box_cells by level bits, twice: a byte shuffle looks up each 128-bit half
        for (uint32_t nib = 0; nib < 16; ++nib) box_cells_[nib] = box_cells_[16 + nib] = (uint8_t)empty_box_cells(nib, g.cf);
    }

    // Marches rays [r0, r1) into `out` (also filling counts and first); returns their samples.
    int64_t march(int64_t r0, int64_t r1, const float* o, const float* d, const float* near, const float* far,
                  int64_t* counts, SampleBuffer& out, int64_t* first) {
        out_ = &out;
        at0_ = out.size;
        samples_ = 0;
        for (int j = 0; j < kLanes; ++j) start_[j] = end_[j] = 0;
        if (rd_is_pow2(level_row_cells(g_)) && rd_is_pow2(g_.res[1]))
            march_impl<true>(r0, r1, o, d, near, far, counts, first);
        else
            march_impl<false>(r0, r1, o, d, near, far, counts, first);
        return samples_;
    }

  private:
    template <bool kPow2>
    void march_impl(int64_t r0, int64_t r1, const float* o, const float* d, const float* near, const float* far,
                    int64_t* counts, int64_t* first) {
        next_ = r0;
        r1_ = r1;
        for (int j = 0; j < kLanes; ++j) refill(j, r0, o, d, near, far, counts, first);
        const __m256 cone = _mm256_set1_ps(m_.cone), dt_min = _mm256_set1_ps(m_.dt_min), dt_max = _mm256_set1_ps(m_.dt_max);
        const __m256 half = _mm256_set1_ps(0.5f), sliver = _mm256_set1_ps(1e-3f), zero = _mm256_setzero_ps();
        const __m256 inf = _mm256_set1_ps(1e30f), eps = _mm256_set1_ps(eps_);
        __m256i res_max[3];
        for (int k = 0; k < 3; ++k) res_max[k] = _mm256_set1_epi32(g_.res[k] - 1);
        // the index multipliers, or their log2 where they are powers of two
        const auto mult = [](int v) { return _mm256_set1_epi32(kPow2 ? rd_log2_ceil(v) : v); };
        const __m256i fx = mult(level_row_cells(g_)), fxy = mult(level_row_cells(g_) * g_.res[1]);
        const __m256i zero_i = _mm256_setzero_si256(), one = _mm256_set1_epi32(1), seven = _mm256_set1_epi32(7);
        const __m256i fifteen = _mm256_set1_epi32(15), high_bytes = _mm256_set1_epi32((int)0x80808000u);
        const __m256i box_cells = _mm256_loadu_si256((const __m256i*)box_cells_);
        const __m256i cap_minus_one = _mm256_set1_epi32(m_.max_samples - 1);
#if !defined(RD_MARCH_SCATTER)
        // AVX2 alone has no scatter: each step is staged here and the emitting lanes write theirs
        // one by one once every group has stepped (a branchy loop between the groups' steps would
        // keep their latency chains from overlapping: 8 % slower)
        alignas(32) float ts[kLanes], tes[kLanes];
        alignas(32) int32_t slot[kLanes];
        int emitted = 0;
#endif
        // One step of the 8 lanes from `off`: stores their next t and count, writes (or stages)
        // their samples, idles the lanes whose ray ended and returns them (a bit mask). The step
        // is one dependency chain (t -> cell -> gathered levels -> exit -> next t), so whatever
        // does not need the levels is computed beside the gather, and the chain's operations are
        // the shortest that give rd::march_steps' values.
        auto step = [&](int off) {
            const __m256 t = _mm256_load_ps(t_ + off), tend = _mm256_load_ps(tend_ + off);
            const __m256 dt = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(t, cone), dt_min), dt_max);
            // te = min(t + dt, tend), or tend when that leaves a sliver: past tend the sliver
            // test holds anyway, so the min is not needed
            const __m256 s = _mm256_add_ps(t, dt);
            const __m256 te = _mm256_blendv_ps(s, tend, _mm256_cmp_ps(_mm256_sub_ps(tend, s), _mm256_mul_ps(sliver, dt), _CMP_LT_OQ));
            // 0.5 * (t + te), rounded once either way (halving is exact)
            const __m256 tm = _mm256_fmadd_ps(te, half, _mm256_mul_ps(t, half));
            __m256 dq[3];
            __m256i ic[3];
            for (int k = 0; k < 3; ++k) {
                dq[k] = _mm256_load_ps(dq_[k] + off);
                // truncation, not floor: they differ only on (-1, 0), which the clamp maps to 0 either way
                const __m256i c = _mm256_cvttps_epi32(_mm256_fmadd_ps(dq[k], tm, _mm256_load_ps(oq_[k] + off)));
                ic[k] = _mm256_min_epi32(_mm256_max_epi32(c, zero_i), res_max[k]);
            }
            const __m256i idx = cell_index<kPow2>(ic, fx, fxy);
            const __m256i words = _mm256_i32gather_epi32((const int*)levels_, _mm256_srli_epi32(idx, 3), 4);
            const __m256 t_eps = _mm256_add_ps(t, eps);
            // the cell's 4 level bits in each lane's low byte, the other bytes 0x80 (a zero from
            // the shuffle), and the size of the box to leave in cells (0: occupied)
            const __m256i shift = _mm256_slli_epi32(_mm256_and_si256(idx, seven), 2);
            const __m256i nib = _mm256_or_si256(_mm256_and_si256(_mm256_srlv_epi32(words, shift), fifteen), high_bytes);
            const __m256i size = _mm256_shuffle_epi8(box_cells, nib);
            const __m256i low = _mm256_sub_epi32(size, one);
            // the box's exit: per axis the plane past the box's cells, (ic & ~low) + (dq > 0 ? size : 0)
            __m256 exit = inf;
            for (int k = 0; k < 3; ++k) {
                const __m256i ahead = _mm256_castps_si256(_mm256_cmp_ps(dq[k], zero, _CMP_GT_OQ));
                const __m256i plane = _mm256_add_epi32(_mm256_andnot_si256(low, ic[k]), _mm256_and_si256(ahead, size));
                exit = _mm256_min_ps(exit, _mm256_fmadd_ps(_mm256_cvtepi32_ps(plane), _mm256_load_ps(a_[k] + off), _mm256_load_ps(b_[k] + off)));
            }
            const __m256 nxt = _mm256_max_ps(exit, t_eps);
            const __m256 skip = _mm256_blendv_ps(te, nxt, _mm256_cmp_ps(nxt, t, _CMP_GT_OQ));
            const __m256 occupied = _mm256_castsi256_ps(_mm256_cmpeq_epi32(size, zero_i));
            const __m256i n = _mm256_load_si256((const __m256i*)(n_ + off));
            const __m256 active = _mm256_castsi256_ps(_mm256_load_si256((const __m256i*)(active_ + off)));
            const __m256 emit = _mm256_and_ps(occupied, active);
            const __m256 t_next = _mm256_blendv_ps(skip, te, emit);
            _mm256_store_ps(t_ + off, t_next);
            // The step goes to its lane's next free slot; only an emitting lane advances past it.
            const __m256i at = _mm256_add_epi32(n, _mm256_load_si256((const __m256i*)(start_ + off)));
#if defined(RD_MARCH_SCATTER)
            // every live lane writes (no branch on which emit)
            const __mmask8 live = (__mmask8)_mm256_movemask_ps(active);
            _mm256_mask_i32scatter_ps(t0_, live, at, t, 4);
            _mm256_mask_i32scatter_ps(t1_, live, at, te, 4);
#else
            _mm256_store_ps(ts + off, t);
            _mm256_store_ps(tes + off, te);
            _mm256_store_si256((__m256i*)(slot + off), at);
            emitted |= _mm256_movemask_ps(emit) << off;
#endif
            // ended: past the far end, or the cap reached with this step's sample
            const __m256i n_next = _mm256_sub_epi32(n, _mm256_castps_si256(emit));  // emit lanes are -1
            _mm256_store_si256((__m256i*)(n_ + off), n_next);
            const __m256 full = _mm256_castsi256_ps(_mm256_cmpgt_epi32(n_next, cap_minus_one));
            const __m256 ended = _mm256_and_ps(_mm256_or_ps(_mm256_cmp_ps(t_next, tend, _CMP_GE_OQ), full), active);
            _mm256_store_ps((float*)(active_ + off), _mm256_andnot_ps(ended, active));
            return _mm256_movemask_ps(ended);
        };
        while (live_) {
            int ended = 0;
            for (int it = 0; it < kBatch; ++it) {
                // every group's step first, so the out-of-order core overlaps their latency chains
                for (int off = 0; off < kLanes; off += 8) ended |= step(off) << off;
#if !defined(RD_MARCH_SCATTER)
                for (; emitted; emitted &= emitted - 1) {
                    const int j = __builtin_ctz(emitted);
                    t0_[slot[j]] = ts[j];
                    t1_[slot[j]] = tes[j];
                }
#endif
            }
            for (; ended; ended &= ended - 1) {
                const int j = __builtin_ctz(ended);
                finish(j, counts);
                refill(j, r0, o, d, near, far, counts, first);
            }
        }
    }

    // The lane's ray ended: the lane's next ray starts after its samples.
    void finish(int j, int64_t* counts) {
        counts[ray_[j]] = n_[j];
        start_[j] += n_[j];
        samples_ += n_[j];
        --live_;  // (the step has idled the lane)
    }

    // The lane takes the block's next ray that enters the grid (rays that do not get no samples),
    // with room for the cap after its previous ray's samples or in a new stretch of the buffers.
    void refill(int j, int64_t r0, const float* o, const float* d, const float* near, const float* far,
                int64_t* counts, int64_t* first) {
        while (next_ < r1_) {
            const int64_t r = next_++;
            MarchRay ray;
            if (!march_setup(g_, o + 3 * r, d + 3 * r, near[r], far[r], ray)) {
                counts[r] = 0;
                first[r - r0] = at0_;
                continue;
            }
            if (end_[j] - start_[j] < m_.max_samples) {
                // (positions from the block's start fit the scatters' 32-bit offsets: a block
                // takes at most one stretch per ray and lane)
                start_[j] = (int32_t)(out_->extend(stretch_) - at0_);
                end_[j] = start_[j] + stretch_;
                t0_ = out_->t0.get() + at0_;
                t1_ = out_->t1.get() + at0_;
            }
            first[r - r0] = at0_ + start_[j];
            for (int k = 0; k < 3; ++k) {
                oq_[k][j] = ray.oq[k];
                dq_[k][j] = ray.dq[k];
                a_[k][j] = ray.a[k];
                b_[k][j] = ray.b[k];
            }
            t_[j] = ray.t;
            tend_[j] = ray.tend;
            n_[j] = 0;
            ray_[j] = r;
            active_[j] = -1;  // all bits set: a lane mask
            ++live_;
            return;
        }
        // no ray left: an idle lane marching nothing (t = tend)
        for (int k = 0; k < 3; ++k) oq_[k][j] = dq_[k][j] = a_[k][j] = b_[k][j] = 0.0f;
        t_[j] = tend_[j] = 0.0f;
    }

    const OccGridParams& g_;
    const MarchParams& m_;
    const uint32_t* levels_;       // the grid's occupancy levels
    const int stretch_;            // samples a lane takes from the buffers at a time
    SampleBuffer* out_ = nullptr;  // the thread's buffers
    int64_t at0_ = 0;              // where the block starts in them
    int64_t samples_ = 0;          // the block's samples so far
    float* t0_ = nullptr;          // the block's t_start and t_end in the buffers
    float* t1_ = nullptr;
    const float eps_;  // march_eps of the grid
    alignas(32) uint8_t box_cells_[32];
    int64_t next_ = 0, r1_ = 0;
    int live_ = 0;
    alignas(32) float oq_[3][kLanes] = {}, dq_[3][kLanes] = {}, a_[3][kLanes] = {}, b_[3][kLanes] = {};  // MarchRay's
    alignas(32) float t_[kLanes] = {}, tend_[kLanes] = {};
    alignas(32) int32_t active_[kLanes] = {}, n_[kLanes] = {};
    alignas(32) int32_t start_[kLanes] = {}, end_[kLanes] = {};  // per lane: its ray's samples and room, from at0_
    int64_t ray_[kLanes] = {};
};
#endif
}  // namespace

bool raymarch_simd_active() {
#if defined(RD_MARCH_AVX2)
    return !scalar_kernels_forced();
#else
    return false;
#endif
}

namespace {
// One thread's marching output, kept across calls: fresh buffers per call cost their page faults
// and regrowth copies every time (~1 us per 4 KiB page on a VM). Blocks append to it.
struct MarchBuffers {
    SampleBuffer samples;        // samples of the blocks this thread marched, block after block
    std::vector<int64_t> first;  // per ray of those blocks: where its samples start in `samples`
    // Capacity kept after a call; a larger call's buffers are released (a one-off big render
    // should not hold its memory for the rest of the process).
    static constexpr size_t kKeepBytes = (size_t)64 << 20;

    void clear() {
        samples.size = 0;
        first.clear();
    }
    void trim() {
        if (2 * samples.capacity * sizeof(float) + first.capacity() * sizeof(int64_t) > kKeepBytes) {
            samples.release();
            std::vector<int64_t>().swap(first);
        }
    }
};

MarchBuffers& thread_march_buffers() {
    thread_local MarchBuffers buf;
    return buf;
}

// Where a block's output went: which thread's buffers, and from where in them.
struct MarchedBlock {
    MarchBuffers* buf;
    int64_t samples;  // first sample in buf->samples
    int64_t rays;     // first ray's entry in buf->first, or -1: the samples are in ray order
    int64_t count;    // samples of the block
};

// Writes n bytes that will not be read soon (the packed outputs): the whole cache lines with
// non-temporal stores, which do not read each line before writing it (2.2x the rate of plain
// stores for the outputs, on 2 threads here), the partial lines at the ends with plain stores.
// Needs a store fence before another thread reads them.
inline void write_through(void* dst, const void* src, size_t n) {
#if defined(__AVX__)
    char* d = (char*)dst;
    const char* s = (const char*)src;
    const size_t head = rd_min(n, (size_t)(-(uintptr_t)d & 63));
    std::memcpy(d, s, head);
    d += head, s += head, n -= head;
    for (; n >= 64; n -= 64, d += 64, s += 64) {
        _mm256_stream_si256((__m256i*)d, _mm256_loadu_si256((const __m256i*)s));
        _mm256_stream_si256((__m256i*)(d + 32), _mm256_loadu_si256((const __m256i*)(s + 32)));
    }
    std::memcpy(d, s, n);
#else
    std::memcpy(dst, src, n);
#endif
}

// Copies the samples of block `mb`, rays [r0, r1), from its thread's buffers into the packed
// outputs from sample `at`, in ray order. They are gathered ray by ray in an L1-sized stage and
// written from there a stretch of whole lines at a time (non-temporal stores of a ray's ~30
// samples would mostly leave partial lines, which are slower than plain stores).
void copy_block(const MarchedBlock& mb, int64_t r0, int64_t r1, const int64_t* counts, int64_t at,
                const MarchOutput& out) {
    constexpr int64_t kStage = 1024;  // samples: 16 KiB
    constexpr int64_t kMoves = SampleBuffer::kSlack;
    alignas(64) float s0[kStage + kMoves], s1[kStage + kMoves];
    alignas(64) int64_t sr[kStage + kMoves];
    const float* t0 = mb.buf->samples.t0.get() + mb.samples;
    const float* t1 = mb.buf->samples.t1.get() + mb.samples;
    // the stage holds outputs [w, k); it is written out at multiples of kStage and at the end
    int64_t w = at, k = at, w_end = (at / kStage + 1) * kStage;
    const auto write_stage = [&]() {
        write_through(out.ray_indices + w, sr, (size_t)(k - w) * sizeof(int64_t));
        write_through(out.t_starts + w, s0, (size_t)(k - w) * sizeof(float));
        write_through(out.t_ends + w, s1, (size_t)(k - w) * sizeof(float));
        w = k;
        w_end = k + kStage;
    };
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = counts[r];
        // the SIMD lanes finish rays out of order; the scalar path buffers them in order
        const int64_t f = mb.rays >= 0 ? mb.buf->first[mb.rays + r - r0] - mb.samples : k - at;
        for (int64_t i = 0; i < c;) {
            const int64_t n = rd_min(c - i, w_end - k);
#if defined(__AVX__)
            if (n <= kMoves) {
                // most rays: a fixed run of moves past the ray's end (the next ray's samples, or
                // nothing, overwrite them), without a loop whose count changes from ray to ray
                const __m256i rv = _mm256_set1_epi64x(r);
                for (int64_t j = 0; j < kMoves; j += 8) {
                    _mm256_storeu_ps(s0 + (k - w) + j, _mm256_loadu_ps(t0 + f + i + j));
                    _mm256_storeu_ps(s1 + (k - w) + j, _mm256_loadu_ps(t1 + f + i + j));
                    _mm256_storeu_si256((__m256i*)(sr + (k - w) + j), rv);
                    _mm256_storeu_si256((__m256i*)(sr + (k - w) + j + 4), rv);
                }
            } else
#endif
            {
                copy_floats(s0 + (k - w), t0 + f + i, n);
                copy_floats(s1 + (k - w), t1 + f + i, n);
                for (int64_t j = 0; j < n; ++j) sr[k - w + j] = r;
            }
            k += n, i += n;
            if (k == w_end) write_stage();
        }
    }
    write_stage();
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

// Where the blocks go in the packed outputs. A block's place is known once every earlier block
// is marched, and outputs are allocated from an estimate once the first eighth of the blocks are:
// so most blocks are copied right after their march, while their samples are still in the core's
// L2 (from memory at the end, the copy was a third of the march's time). Blocks that do not fit
// the estimate wait for the end, when the outputs get their exact size.
struct BlockPlaces {
    std::vector<MarchedBlock> blocks;
    std::vector<int64_t> base;     // [n_blocks + 1]: where each block starts; known up to frontier
    std::vector<uint8_t> marched;  // per block
    std::vector<uint8_t> copied;   // per block: copied into `out`
    int64_t frontier = 0;          // blocks [0, frontier) are marched
    int64_t capacity = -1;         // samples in `out`; -1 before the estimate
    MarchOutput out{};
    std::mutex lock;

    explicit BlockPlaces(int64_t n_blocks)
        : blocks((size_t)n_blocks), base((size_t)n_blocks + 1, 0), marched((size_t)n_blocks, 0), copied((size_t)n_blocks, 0) {}
    int64_t size() const { return (int64_t)blocks.size(); }

    // Block b is marched. Moves out of `pending` (the calling thread's marched, uncopied blocks)
    // those that fit the outputs now and returns them with their places.
    std::vector<std::pair<int64_t, int64_t>> place(int64_t b, std::vector<int64_t>& pending, int64_t n_rays,
                                                   int64_t block, MarchOutput (*allocate)(int64_t, void*), void* ctx,
                                                   bool may_allocate) {
        std::vector<std::pair<int64_t, int64_t>> ready;
        std::lock_guard<std::mutex> hold(lock);
        marched[b] = 1;
        for (; frontier < size() && marched[frontier]; ++frontier) base[frontier + 1] = base[frontier] + blocks[frontier].count;
        if (may_allocate && capacity < 0 && frontier >= rd_max((int64_t)1, size() / 8)) {
            // the samples per ray so far, with a tenth more room
            const int64_t rays = rd_min(frontier * block, n_rays);
            const double est = (double)base[frontier] * (double)n_rays / (double)rays;
            capacity = (int64_t)(1.1 * est) + 4096;
            try {
                out = allocate(capacity, ctx);
            } catch (...) {
                capacity = 0;  // the exact allocation at the end reports the error
            }
        }
        size_t kept = 0;
        for (const int64_t p : pending) {
            if (p < frontier && base[p + 1] <= capacity) {
                ready.emplace_back(p, base[p]);
                copied[p] = 1;
            } else {
                pending[kept++] = p;
            }
        }
        pending.resize(kept);
        return ready;
    }
};
}  // namespace

int64_t raymarch_single_pass(const OccGridParams& g, const MarchParams& m, int64_t n_rays, const float* o,
                             const float* d, const float* near, const float* far, const uint32_t* levels,
                             int64_t* counts, MarchOutput (*allocate)(int64_t capacity, void* ctx), void* ctx) {
    // Many more blocks than threads so that dynamic scheduling balances uneven rays.
    const int64_t block = 2048;
    const int64_t n_blocks = (n_rays + block - 1) / block;
    const auto ray_range = [&](int64_t b) { return std::make_pair(b * block, rd_min(b * block + block, n_rays)); };
    BlockPlaces places(n_blocks);
#if defined(RD_MARCH_AVX2)
    const bool simd = simd_march_ok(g, m);
#endif
#pragma omp parallel
    {
        MarchBuffers& buf = thread_march_buffers();
        buf.clear();
        std::vector<int64_t> pending;
#if defined(RD_MARCH_AVX2)
        std::unique_ptr<LaneMarcher> lanes;
        if (simd) lanes = std::make_unique<LaneMarcher>(g, m, levels);
#endif
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < n_blocks; ++b) {
            const auto [r0, r1] = ray_range(b);
            MarchedBlock& mb = places.blocks[b];
            mb = {&buf, buf.samples.size, -1, 0};
#if defined(RD_MARCH_AVX2)
            if (simd) {
                mb.rays = (int64_t)buf.first.size();
                buf.first.resize(buf.first.size() + (size_t)(r1 - r0));
                mb.count = lanes->march(r0, r1, o, d, near, far, counts, buf.samples, buf.first.data() + mb.rays);
            } else
#endif
            {
                BufferEmit emit{&buf.samples, m.max_samples};
                for (int64_t r = r0; r < r1; ++r)
                    counts[r] = march_ray_buffered(g, m, o + 3 * r, d + 3 * r, near[r], far[r], levels, emit);
                mb.count = buf.samples.size - mb.samples;
            }
            pending.push_back(b);
            for (const auto& [p, at] : places.place(b, pending, n_rays, block, allocate, ctx, omp_get_thread_num() == 0)) {
                const auto [p0, p1] = ray_range(p);
                copy_block(places.blocks[p], p0, p1, counts, at, places.out);
            }
            if (pending.empty()) buf.clear();  // the next block reuses the same cached lines
        }
    }
    // Every block is marched: unless the estimate was short (or far too long), the outputs keep it.
    const int64_t total = places.base[n_blocks];
    const bool exact = places.capacity < total || places.capacity > total + total / 4 + 65536;
    const MarchOutput early = places.out;
    if (exact) places.out = allocate(total, ctx);
#pragma omp parallel
    {
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < n_blocks; ++b) {
            const int64_t at = places.base[b], c = places.blocks[b].count;
            if (c == 0) continue;  // (with no samples at all the outputs may be null)
            if (!places.copied[b]) {
                const auto [r0, r1] = ray_range(b);
                copy_block(places.blocks[b], r0, r1, counts, at, places.out);
            } else if (exact) {
                std::memcpy(places.out.ray_indices + at, early.ray_indices + at, (size_t)c * sizeof(int64_t));
                std::memcpy(places.out.t_starts + at, early.t_starts + at, (size_t)c * sizeof(float));
                std::memcpy(places.out.t_ends + at, early.t_ends + at, (size_t)c * sizeof(float));
            }
        }
        // every thread's buffers were read above (the loop ends in a barrier)
        thread_march_buffers().trim();
    }
    return total;
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
