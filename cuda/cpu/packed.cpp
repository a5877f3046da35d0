// CPU loops of the packed per-ray ops (one ray per iteration: no write conflicts).
#include <omp.h>

#include "redrive/launchers.h"

namespace rd {
namespace cpu {
namespace {

template <typename S>
void weights_fwd(int64_t n_rays, const int64_t* off, const S* a, S* w, S* t) {
#pragma omp parallel for schedule(dynamic, 1024)
    for (int64_t r = 0; r < n_rays; ++r) weights_ray<S>(off[r], off[r + 1], a, w, t);
}

template <typename S>
void weights_bwd(int64_t n_rays, const int64_t* off, const S* a, const S* t, const S* gw,
                 const S* gt, S* ga) {
#pragma omp parallel for schedule(dynamic, 1024)
    for (int64_t r = 0; r < n_rays; ++r) weights_ray_backward<S>(off[r], off[r + 1], a, t, gw, gt, ga);
}

template <typename S>
void composite_fwd(int64_t n_rays, int64_t c, const int64_t* off, const S* v, const S* w, S* out) {
#pragma omp parallel for schedule(dynamic, 1024)
    for (int64_t r = 0; r < n_rays; ++r) composite_ray<S>(r, off[r], off[r + 1], c, v, w, out);
}

template <typename S>
void composite_bwd(int64_t n_rays, int64_t c, const int64_t* off, const S* v, const S* w, const S* g,
                   S* gv, S* gw) {
#pragma omp parallel for schedule(dynamic, 1024)
    for (int64_t r = 0; r < n_rays; ++r)
        composite_ray_backward<S>(r, off[r], off[r + 1], c, v, w, g, gv, gw);
}

template <typename S>
void neus_fwd(int64_t n, const S* sdf, const S* cs, const S* dt, S s, S* out) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = neus_alpha_sample<S>(sdf[i], cs[i], dt[i], s);
}

template <typename S>
void neus_bwd(int64_t n, const S* sdf, const S* cs, const S* dt, S s, const S* g, S* gsdf, S* gcs,
              S* gdt, S* gs) {
    // The sharpness gradient is a sum over all samples; static chunks keep it deterministic for a
    // given thread count.
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (int64_t i = 0; i < n; ++i) {
        S a, b, c;
        S sh = neus_alpha_sample_backward<S>(sdf[i], cs[i], dt[i], s, g[i], a, b, c);
        if (gsdf) gsdf[i] = a;
        if (gcs) gcs[i] = b;
        if (gdt) gdt[i] = c;
        total += (double)sh;
    }
    if (gs) *gs = (S)total;
}

}  // namespace

void packed_weights_forward(int64_t n_rays, Dtype scalar, const int64_t* off, const void* a,
                            void* w, void* t, void*) {
    if (scalar == Dtype::F64)
        weights_fwd<double>(n_rays, off, (const double*)a, (double*)w, (double*)t);
    else
        weights_fwd<float>(n_rays, off, (const float*)a, (float*)w, (float*)t);
}

void packed_weights_backward(int64_t n_rays, Dtype scalar, const int64_t* off, const void* a,
                             const void* t, const void* gw, const void* gt, void* ga, void*) {
    if (scalar == Dtype::F64)
        weights_bwd<double>(n_rays, off, (const double*)a, (const double*)t, (const double*)gw,
                            (const double*)gt, (double*)ga);
    else
        weights_bwd<float>(n_rays, off, (const float*)a, (const float*)t, (const float*)gw,
                           (const float*)gt, (float*)ga);
}

void composite_forward(int64_t n_rays, int64_t c, Dtype scalar, const int64_t* off, const void* v,
                       const void* w, void* out, void*) {
    if (scalar == Dtype::F64)
        composite_fwd<double>(n_rays, c, off, (const double*)v, (const double*)w, (double*)out);
    else
        composite_fwd<float>(n_rays, c, off, (const float*)v, (const float*)w, (float*)out);
}

void composite_backward(int64_t n_rays, int64_t c, Dtype scalar, const int64_t* off, const void* v,
                        const void* w, const void* g, void* gv, void* gw, void*) {
    if (scalar == Dtype::F64)
        composite_bwd<double>(n_rays, c, off, (const double*)v, (const double*)w, (const double*)g,
                              (double*)gv, (double*)gw);
    else
        composite_bwd<float>(n_rays, c, off, (const float*)v, (const float*)w, (const float*)g,
                             (float*)gv, (float*)gw);
}

void merge_packed(int64_t n_rays, int64_t k, const int64_t* set_offsets, const int64_t* set_bases,
                  const float* t_starts, const int64_t* out_offsets, int64_t* perm, int64_t* source,
                  void*) {
#pragma omp parallel for schedule(dynamic, 1024)
    for (int64_t r = 0; r < n_rays; ++r)
        merge_ray(r, n_rays, k, set_offsets, set_bases, t_starts, out_offsets[r], perm, source);
}

void neus_alpha_forward(int64_t n, Dtype scalar, const void* sdf, const void* cs, const void* dt,
                        const void* inv_s, void* alpha, void*) {
    if (scalar == Dtype::F64)
        neus_fwd<double>(n, (const double*)sdf, (const double*)cs, (const double*)dt,
                         *(const double*)inv_s, (double*)alpha);
    else
        neus_fwd<float>(n, (const float*)sdf, (const float*)cs, (const float*)dt,
                        *(const float*)inv_s, (float*)alpha);
}

void neus_alpha_backward(int64_t n, Dtype scalar, const void* sdf, const void* cs, const void* dt,
                         const void* inv_s, const void* g, void* gsdf, void* gcs, void* gdt,
                         void* gs, void*) {
    if (scalar == Dtype::F64)
        neus_bwd<double>(n, (const double*)sdf, (const double*)cs, (const double*)dt,
                         *(const double*)inv_s, (const double*)g, (double*)gsdf, (double*)gcs,
                         (double*)gdt, (double*)gs);
    else
        neus_bwd<float>(n, (const float*)sdf, (const float*)cs, (const float*)dt,
                        *(const float*)inv_s, (const float*)g, (float*)gsdf, (float*)gcs,
                        (float*)gdt, (float*)gs);
}

}  // namespace cpu
}  // namespace rd
