// CPU (OpenMP) loop of the MLP inference (redrive/mlp.h). Where the compiler targets AVX2 + FMA,
// 8 points run per instruction (16 with AVX-512): the points lie across the vector lanes and each
// weight is broadcast, so no horizontal sums are needed and a block of 8 hidden units keeps 8
// independent accumulators in flight (what the FMA latency asks for).
#include <omp.h>

#include <vector>

#include "redrive/launchers.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define RD_MLP_AVX2 1
#endif

namespace rd {
namespace cpu {
namespace {

#if defined(RD_MLP_AVX2)
// The weights in the order the lane loop reads them: per block of 8 units (hidden units for
// the first layer, outputs for the second), the 8 weights of one input side by side.
struct PackedMlp {
    int n_in, n_hidden, n_out, out_blocks;
    std::vector<float> w1;  // [H / 8][I][8]
    std::vector<float> b1;  // [H]
    std::vector<float> w2;  // [ceil(O / 8)][H][8], zero padded
    std::vector<float> b2;  // [ceil(O / 8) * 8], zero padded
};

PackedMlp pack(const MlpParams& p) {
    PackedMlp q{p.n_in, p.n_hidden, p.n_out, (p.n_out + 7) / 8, {}, {}, {}, {}};
    q.w1.resize((size_t)p.n_hidden * p.n_in);
    for (int hb = 0; hb < p.n_hidden / 8; ++hb)
        for (int k = 0; k < p.n_in; ++k)
            for (int j = 0; j < 8; ++j) q.w1[((size_t)hb * p.n_in + k) * 8 + j] = p.w1[(size_t)(hb * 8 + j) * p.n_in + k];
    q.b1.assign(p.b1, p.b1 + p.n_hidden);
    q.w2.assign((size_t)q.out_blocks * p.n_hidden * 8, 0.0f);
    q.b2.assign((size_t)q.out_blocks * 8, 0.0f);
    for (int o = 0; o < p.n_out; ++o) {
        q.b2[o] = p.b2[o];
        for (int j = 0; j < p.n_hidden; ++j) q.w2[((size_t)(o / 8) * p.n_hidden + j) * 8 + o % 8] = p.w2[(size_t)o * p.n_hidden + j];
    }
    return q;
}

// The lane registers the loop runs on: 8 points (AVX2) or 16 (AVX-512).
struct Lanes8 {
    using V = __m256;
    static constexpr int kWidth = 8;
    static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V relu(V a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
    static void store(float* p, V a) { _mm256_store_ps(p, a); }
    // feature k of the points whose rows start `stride` floats apart from x
    static V column(const float* x, int stride) {
        return _mm256_i32gather_ps(x, _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride)), 4);
    }
};
#if defined(__AVX512F__)
struct Lanes16 {
    using V = __m512;
    static constexpr int kWidth = 16;
    static V bcast(const float* p) { return _mm512_set1_ps(*p); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V relu(V a) { return _mm512_max_ps(a, _mm512_setzero_ps()); }
    static void store(float* p, V a) { _mm512_store_ps(p, a); }
    static V column(const float* x, int stride) {
        const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        return _mm512_i32gather_ps(_mm512_mullo_epi32(lane, _mm512_set1_epi32(stride)), x, 4);
    }
};
using WideLanes = Lanes16;
#else
using WideLanes = Lanes8;
#endif

// 8 accumulators (one per unit of a block) over `n` inputs given as lane vectors `in`.
template <typename L>
inline void block8(const float* w, const float* bias, const typename L::V* in, int n, typename L::V acc[8]) {
    for (int u = 0; u < 8; ++u) acc[u] = L::bcast(bias + u);
    for (int k = 0; k < n; ++k) {
        const typename L::V v = in[k];
        const float* wk = w + 8 * k;
        for (int u = 0; u < 8; ++u) acc[u] = L::fma(L::bcast(wk + u), v, acc[u]);
    }
}

// Points i..i+W-1: rows of x [., I] -> rows of out [., O]; xs [I] and hs [H] are lane scratch.
template <typename L>
inline void mlp_lanes(const PackedMlp& q, const float* x, float* out, typename L::V* xs, typename L::V* hs) {
    constexpr int W = L::kWidth;
    for (int k = 0; k < q.n_in; ++k) xs[k] = L::column(x + k, q.n_in);
    typename L::V acc[8];
    for (int hb = 0; hb < q.n_hidden / 8; ++hb) {
        block8<L>(q.w1.data() + (size_t)hb * q.n_in * 8, q.b1.data() + hb * 8, xs, q.n_in, acc);
        for (int u = 0; u < 8; ++u) hs[hb * 8 + u] = L::relu(acc[u]);
    }
    for (int ob = 0; ob < q.out_blocks; ++ob) {
        block8<L>(q.w2.data() + (size_t)ob * q.n_hidden * 8, q.b2.data() + ob * 8, hs, q.n_hidden, acc);
        alignas(64) float t[8][W];
        for (int u = 0; u < 8; ++u) L::store(t[u], acc[u]);
        const int units = q.n_out - ob * 8 < 8 ? q.n_out - ob * 8 : 8;
        for (int lane = 0; lane < W; ++lane)
            for (int u = 0; u < units; ++u) out[(int64_t)lane * q.n_out + ob * 8 + u] = t[u][lane];
    }
}
#endif

void mlp_scalar(const MlpParams& p, int64_t b, int64_t e, const float* x, float* out) {
    std::vector<float> hidden(p.n_hidden);
    for (int64_t i = b; i < e; ++i) mlp_point(p, x + i * p.n_in, hidden.data(), out + i * p.n_out);
}

}  // namespace

void mlp_forward(const MlpParams& p, int64_t n, const float* x, float* out, void*) {
    int64_t done = 0;
#if defined(RD_MLP_AVX2)
    if (p.n_hidden % 8 == 0) {
        using L = WideLanes;
        constexpr int W = L::kWidth;
        const PackedMlp q = pack(p);
        const int64_t groups = n / W;
#pragma omp parallel
        {
            std::vector<typename L::V> xs(q.n_in), hs(q.n_hidden);
#pragma omp for schedule(static)
            for (int64_t g = 0; g < groups; ++g)
                mlp_lanes<L>(q, x + g * W * q.n_in, out + g * W * q.n_out, xs.data(), hs.data());
        }
        done = groups * W;
    }
#endif
    const int64_t rest = n - done;
    if (rest <= 0) return;
    const int nt = omp_get_max_threads();
    const int64_t chunk = (rest + nt - 1) / nt;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < nt; ++t) {
        const int64_t b = done + t * chunk, e = b + chunk < n ? b + chunk : n;
        if (b < e) mlp_scalar(p, b, e, x, out);
    }
}

}  // namespace cpu
}  // namespace rd
