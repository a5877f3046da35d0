// CPU (OpenMP) loops of the hash-grid encoding. Per-point math lives in redrive/hashgrid.h.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "redrive/hashgrid_avx2.h"
#include "redrive/hashgrid_avx512.h"
#include "redrive/launchers.h"

namespace rd {
namespace cpu {
namespace {

// Points are processed in large blocks; inside a block, level by level, so that while a level is
// being read its table (1 MiB for 2^17 x 2 fp32 rows, half that in fp16) is the hot working set,
// and it is refetched once per block rather than once per point. Measured on the 2-core
// reference machine: 32768-point blocks run 1.5-4x faster than 256-point blocks on fp32 tables
// (the whole 16 MiB table does not fit the fast part of the cache there).
constexpr int64_t kBlock = 32768;

bool simd_enabled() {
#if defined(RD_HG_AVX2)
    return !scalar_kernels_forced();
#else
    return false;
#endif
}

}  // namespace

bool scalar_kernels_forced() {
    const char* v = std::getenv("REDRIVE_SCALAR_KERNELS");
    return v && v[0] && v[0] != '0';
}

bool hashgrid_simd_active() { return simd_enabled(); }

namespace {

// The SIMD loops exist for fp32 compute with fp32 tables, or fp16 tables with an even F.
template <int F, typename S, typename T> constexpr bool simd_supported() {
#if defined(RD_HG_AVX2)
    if constexpr (std::is_same_v<S, float>) return avx2::Gather<F, T>::supported;
#endif
    return false;
}

// Points [b, e) of one level, scalar.
template <int F, typename S, typename T>
inline void forward_level_scalar(const HashGridParams& p, int l, int64_t b, int64_t e, const S* x,
                                 const T* lt, S* out) {
    const int L = p.n_levels;
    for (int64_t i = b; i < e; ++i) {
        HgCell<S> c;
        hg_cell(p, l, x + 3 * i, c);
        S v[F];
        hg_level_forward<F, S, T>(c, lt, v);
        S* o = out + (i * L + l) * F;
        for (int f = 0; f < F; ++f) o[f] = v[f];
    }
}

#if defined(RD_HG_AVX2)
// Points [b, e) by axis (x of all, then y, then z, kBlock apart) in a buffer of the calling
// thread: every level's SIMD loop then loads 8 or 16 coordinates instead of gathering them from
// the [N, 3] rows (3 of the fp16 forward's 11 gathers per point group and level): the forward of
// 2^18 points ~6 % faster, builds alternated; the backward, bound by its scatter, the same.
const float* points_by_axis(const float* x, int64_t b, int64_t e) {
    thread_local std::vector<float> xa;
    if (xa.size() < (size_t)3 * kBlock) xa.resize((size_t)3 * kBlock);
    for (int64_t i = b; i < e; ++i)
        for (int d = 0; d < 3; ++d) xa[(size_t)d * kBlock + (i - b)] = x[3 * i + d];
    return xa.data();
}
#endif

// The block's points by axis where the SIMD loops will read them so, else nullptr.
template <int F, typename S, typename T>
const float* simd_points(bool simd, const S* x, int64_t b, int64_t e) {
#if defined(RD_HG_AVX2)
    if constexpr (simd_supported<F, S, T>())
        if (simd) return points_by_axis(x, b, e);
#endif
    return nullptr;
}

template <int F, typename S, typename T>
void forward_impl(const HashGridParams& p, int64_t n, const S* x, const T* table, S* out) {
    const int L = p.n_levels;
    // Small batches still use every thread: blocks shrink to n / threads (at least 256 points).
    // A thread with more points than kBlock reads every level's table once per block anyway; its
    // blocks then also shrink until their output rows fit in L2 (1 MiB: 8192 points for 16 x 2
    // features), since each level pass writes F values into every row: ~5-10 % faster than
    // 32768-point blocks (4 MiB of rows, refetched by every level pass) on 2^18 points. A thread
    // with one block reads each table once; there the smaller blocks' table rereads cost more
    // than they save when the tables are not in cache (1 thread, 2^15 points, between reference
    // runs: 4.6-5.0 -> 5.2-5.6 ms).
    const int64_t nt = omp_get_max_threads();
    int64_t block = (n + nt - 1) / nt;
    if (block > kBlock) block = rd_max<int64_t>(256, rd_min<int64_t>(kBlock, ((int64_t)1 << 20) / ((int64_t)L * F * (int64_t)sizeof(S))));
    block = block < 256 ? 256 : block;
    const int64_t n_blocks = (n + block - 1) / block;
    [[maybe_unused]] const bool simd = simd_enabled();
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < n_blocks; ++blk) {
        const int64_t b = blk * block;
        const int64_t e = b + block < n ? b + block : n;
        [[maybe_unused]] const float* xa = simd_points<F, S, T>(simd, x, b, e);
        for (int l = 0; l < L; ++l) {
            const T* lt = table + (size_t)p.offsets[l] * F;
            int64_t i = b;
#if defined(RD_HG_AVX2)
            // 16 points at a time with AVX-512, then 8; the remainder (< 8) takes the scalar path
            // below. Measured and not kept: a level-major scratch transposed once per block
            // (slower: the transpose costs more than the strided stores), software prefetch of
            // the rows of a group two ahead (+-5%, within the noise).
            if constexpr (simd_supported<F, S, T>()) {
                if (simd) {
#if defined(RD_HG_AVX512)
                    if constexpr (avx512::Gather16<F, T>::supported) {
                        for (; i + 16 <= e; i += 16) {
                            avx512::Cell16 c;
                            avx512::cell16(p, l, xa + (i - b), kBlock, c);
                            __m512 v[F];
                            avx512::level_forward16<F, T>(c, lt, v);
                            avx512::store16<F>(out + (i * L + l) * F, (int64_t)L * F, v);
                        }
                    }
#endif
                    for (; i + 8 <= e; i += 8) {
                        avx2::Cell8 c;
                        avx2::cell8(p, l, xa + (i - b), kBlock, c);
                        __m256 v[F];
                        avx2::level_forward8<F, T>(c, lt, v);
                        avx2::store8<F>(out + (i * L + l) * F, (int64_t)L * F, v);
                    }
                }
            }
#endif
            forward_level_scalar<F, S, T>(p, l, i, e, x, lt, out);
        }
    }
}

// The input gradient sums over levels, and levels are split across threads: thread 0 adds into
// the output directly, the others into their own [N, 3] partials, summed once at the end.
template <typename S>
class InputGradPartials {
  public:
    InputGradPartials(S* gx, int64_t n, int nt) : gx_(gx), n_(n), partial_(gx && nt > 1 ? nt - 1 : 0) {}

    // Inside the parallel region: this thread's accumulator, or nullptr when gx is not wanted.
    S* for_thread(int tid) {
        if (!gx_) return nullptr;
        if (tid == 0) return gx_;
        partial_[tid - 1].assign((size_t)n_ * 3, (S)0);
        return partial_[tid - 1].data();
    }

    void reduce(const S* x) {
        if (!gx_) return;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n_; ++i) {
            for (int k = 0; k < 3; ++k) {
                S v = gx_[3 * i + k];
                for (auto& pt : partial_) v += pt[3 * i + k];
                // Clamped coordinates do not move the encoding.
                gx_[3 * i + k] = v * hg_inside(x[3 * i + k]);
            }
        }
    }

  private:
    S* gx_;
    int64_t n_;
    std::vector<std::vector<S>> partial_;
};

// An uninitialised table gradient (`zero_gtable`) is zeroed level by level, by the thread that owns
// the level and just before its first pass: no separate pass over the whole gradient (a zeroed
// tensor per call cost ~8 % of a forward+backward), and the level's rows are then in cache.
template <typename S>
void zero_level_rows(const HashGridParams& p, int l, int F, bool zero_gtable, S* lg) {
    if (zero_gtable && lg) std::fill(lg, lg + (size_t)(p.offsets[l + 1] - p.offsets[l]) * F, S(0));
}

// The table gradient is a scatter-add. Rather than atomics or per-thread copies of the table,
// each thread owns whole levels (round robin, so cheap dense levels are spread out) and walks all
// points for them: no conflicts, deterministic sums, and the owned level's gradient rows stay in
// cache.
template <int F, typename S, typename T>
void backward_impl(const HashGridParams& p, int64_t n, const S* x, const T* table, const S* gout,
                   S* gtable, bool zero_gtable, S* gx) {
    const int L = p.n_levels;
    const int nt = omp_get_max_threads() < L ? omp_get_max_threads() : L;
    InputGradPartials<S> gx_parts(gx, n, nt);
    [[maybe_unused]] const bool simd = simd_enabled();
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        S* my_gx = gx_parts.for_thread(tid);
        // This thread's levels of the block's grad_out, level-major: read in place, every level
        // pass would fetch each point's whole [L * F] row again (4 MiB per block and level for
        // 16 x 2 features, beyond L2), which bound the backward; copied once per block, each
        // level then reads its F values per point contiguously. The buffer stays with the thread
        // across calls: a fresh one (2 MiB here) would cost its page faults every call.
        const int own = (L - tid + nt - 1) / nt;
        thread_local std::vector<S> gown;
        if (gown.size() < (size_t)own * kBlock * F) gown.resize((size_t)own * kBlock * F);
        for (int64_t b = 0; b < n; b += kBlock) {
            const int64_t e = b + kBlock < n ? b + kBlock : n;
            for (int64_t i = b; i < e; ++i) {
                const S* row = gout + i * L * F;
                for (int k = 0, l = tid; l < L; ++k, l += nt)
                    for (int f = 0; f < F; ++f) gown[((size_t)k * kBlock + (i - b)) * F + f] = row[l * F + f];
            }
            [[maybe_unused]] const float* xa = simd_points<F, S, T>(simd, x, b, e);
            for (int k = 0, l = tid; l < L; ++k, l += nt) {
                const T* lt = table + (size_t)p.offsets[l] * F;
                S* lg = gtable ? gtable + (size_t)p.offsets[l] * F : nullptr;
                if (b == 0) zero_level_rows(p, l, F, zero_gtable, lg);
                const S* gk = gown.data() + (size_t)k * kBlock * F;  // point i at (i - b) * F
                int64_t i = b;
#if defined(RD_HG_AVX2)
                if constexpr (simd_supported<F, S, T>()) {
                    if (simd) {
                        const float scale = (float)p.res[l];
                        for (; i + 8 <= e; i += 8) {
                            avx2::Cell8 c;
                            avx2::cell8(p, l, xa + (i - b), kBlock, c);
                            __m256 g[F];
                            avx2::load8<F>(gk + (i - b) * F, (int64_t)F, g);
                            __m256 gxv[3] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
                            avx2::level_backward8<F, T>(c, scale, lt, g, lg, my_gx != nullptr, gxv);
                            if (my_gx) {
                                alignas(32) float t[3][8];
                                for (int d = 0; d < 3; ++d) _mm256_store_ps(t[d], gxv[d]);
                                for (int k = 0; k < 8; ++k)
                                    for (int d = 0; d < 3; ++d) my_gx[3 * (i + k) + d] += t[d][k];
                            }
                        }
                    }
                }
#endif
                for (; i < e; ++i) {
                    HgCell<S> c;
                    hg_cell(p, l, x + 3 * i, c);
                    const S* g = gk + (i - b) * F;
                    S gl[F];
                    for (int f = 0; f < F; ++f) gl[f] = g[f];
                    S gxi[3] = {0, 0, 0};
                    hg_level_backward<F, S, T, PlainAdd>(c, lt, gl, lg, my_gx != nullptr, gxi);
                    if (my_gx) {
                        my_gx[3 * i + 0] += gxi[0];
                        my_gx[3 * i + 1] += gxi[1];
                        my_gx[3 * i + 2] += gxi[2];
                    }
                }
            }
        }
    }
    gx_parts.reduce(x);
}

template <int F, typename S, typename T>
void backward_backward_impl(const HashGridParams& p, int64_t n, const S* x, const T* table,
                            const S* gout, const S* ggx, S* gtable, bool zero_gtable, S* ggout,
                            S* gx) {
    const int L = p.n_levels;
    const int nt = omp_get_max_threads() < L ? omp_get_max_threads() : L;
    InputGradPartials<S> gx_parts(gx, n, nt);
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        S* my_gx = gx_parts.for_thread(tid);
        for (int64_t b = 0; b < n; b += kBlock) {
            const int64_t e = b + kBlock < n ? b + kBlock : n;
            for (int l = tid; l < L; l += nt) {
                const T* lt = table + (size_t)p.offsets[l] * F;
                S* lg = gtable ? gtable + (size_t)p.offsets[l] * F : nullptr;
                if (b == 0) zero_level_rows(p, l, F, zero_gtable, lg);
                for (int64_t i = b; i < e; ++i) {
                    HgCell<S> c;
                    hg_cell(p, l, x + 3 * i, c);
                    S gg[3];
                    for (int k = 0; k < 3; ++k) gg[k] = ggx[3 * i + k] * hg_inside(x[3 * i + k]);
                    const S* g = gout + (i * L + l) * F;
                    S gl[F];
                    for (int f = 0; f < F; ++f) gl[f] = g[f];
                    S* ggo = ggout ? ggout + (i * L + l) * F : nullptr;
                    S gxi[3] = {0, 0, 0};
                    hg_level_backward_backward<F, S, T, PlainAdd>(c, lt, gl, gg, lg, ggo,
                                                                  my_gx != nullptr, gxi);
                    if (my_gx) {
                        my_gx[3 * i + 0] += gxi[0];
                        my_gx[3 * i + 1] += gxi[1];
                        my_gx[3 * i + 2] += gxi[2];
                    }
                }
            }
        }
    }
    gx_parts.reduce(x);
}

// Dispatch on (scalar, table storage) and the feature count, which is a compile-time constant
// so the per-feature loops unroll.

#define RD_HG_DISPATCH_F(FN, S, T, ...)                                   \
    switch (p.n_features) {                                               \
        case 1: FN<1, S, T>(__VA_ARGS__); break;                          \
        case 2: FN<2, S, T>(__VA_ARGS__); break;                          \
        case 4: FN<4, S, T>(__VA_ARGS__); break;                          \
        case 8: FN<8, S, T>(__VA_ARGS__); break;                          \
        default: throw std::invalid_argument("hash grid: features per level must be 1, 2, 4 or 8"); \
    }

}  // namespace

void hashgrid_forward(const HashGridParams& p, int64_t n, Dtype scalar, Dtype table_dtype,
                      const void* x, const void* table, void* out, void*) {
    if (scalar == Dtype::F64) {
        RD_HG_DISPATCH_F(forward_impl, double, double, p, n, (const double*)x, (const double*)table,
                         (double*)out);
    } else if (table_dtype == Dtype::F16) {
        RD_HG_DISPATCH_F(forward_impl, float, half_t, p, n, (const float*)x, (const half_t*)table,
                         (float*)out);
    } else {
        RD_HG_DISPATCH_F(forward_impl, float, float, p, n, (const float*)x, (const float*)table,
                         (float*)out);
    }
}

void hashgrid_backward(const HashGridParams& p, int64_t n, Dtype scalar, Dtype table_dtype,
                       const void* x, const void* table, const void* gout, void* gtable,
                       bool zero_gtable, void* gx, void*) {
    if (scalar == Dtype::F64) {
        RD_HG_DISPATCH_F(backward_impl, double, double, p, n, (const double*)x, (const double*)table,
                         (const double*)gout, (double*)gtable, zero_gtable, (double*)gx);
    } else if (table_dtype == Dtype::F16) {
        RD_HG_DISPATCH_F(backward_impl, float, half_t, p, n, (const float*)x, (const half_t*)table,
                         (const float*)gout, (float*)gtable, zero_gtable, (float*)gx);
    } else {
        RD_HG_DISPATCH_F(backward_impl, float, float, p, n, (const float*)x, (const float*)table,
                         (const float*)gout, (float*)gtable, zero_gtable, (float*)gx);
    }
}

void hashgrid_backward_backward(const HashGridParams& p, int64_t n, Dtype scalar, Dtype table_dtype,
                                const void* x, const void* table, const void* gout, const void* ggx,
                                void* gtable, bool zero_gtable, void* ggout, void* gx, void*) {
    if (scalar == Dtype::F64) {
        RD_HG_DISPATCH_F(backward_backward_impl, double, double, p, n, (const double*)x,
                         (const double*)table, (const double*)gout, (const double*)ggx,
                         (double*)gtable, zero_gtable, (double*)ggout, (double*)gx);
    } else if (table_dtype == Dtype::F16) {
        RD_HG_DISPATCH_F(backward_backward_impl, float, half_t, p, n, (const float*)x,
                         (const half_t*)table, (const float*)gout, (const float*)ggx,
                         (float*)gtable, zero_gtable, (float*)ggout, (float*)gx);
    } else {
        RD_HG_DISPATCH_F(backward_backward_impl, float, float, p, n, (const float*)x,
                         (const float*)table, (const float*)gout, (const float*)ggx,
                         (float*)gtable, zero_gtable, (float*)ggout, (float*)gx);
    }
}

double gather_probe(const float* table, int64_t rows, int f, int64_t n_points, int reads_per_point) {
    // Random rows from a xorshift stream; the same number of row reads per point as the encoding
    // (8 corners x levels), but with no arithmetic around them and no locality between corners.
    double total = 0.0;
    const uint32_t mask = (uint32_t)rows - 1;  // rows is a power of two
#pragma omp parallel reduction(+ : total)
    {
        uint32_t s = 0x9e3779b9u * (uint32_t)(omp_get_thread_num() + 1);
        float acc = 0.0f;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n_points; ++i) {
            for (int r = 0; r < reads_per_point; ++r) {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                const float* row = table + (size_t)(s & mask) * f;
                for (int k = 0; k < f; ++k) acc += row[k];
            }
        }
        total += acc;
    }
    return total;
}

}  // namespace cpu
}  // namespace rd
