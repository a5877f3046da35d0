// Torch bindings shared by both builds. Compiled once for the CPU extension (rd::cpu launchers)
// and once with -DRD_CUDA for the CUDA extension (rd::cuda launchers). Tensors are allocated here
// with the inputs' options, so outputs live on the inputs' device; the Python wrappers in
// redrive/ops do the user-facing argument checks.
#include <torch/extension.h>

#include <vector>

#include "redrive/launchers.h"

#ifdef RD_CUDA
// c10 stream header only: ATen/cuda/CUDAContext.h would pull in cuSPARSE/cuBLAS headers.
#include <c10/cuda/CUDAStream.h>
namespace be = rd::cuda;
#define RD_STREAM ((void*)c10::cuda::getCurrentCUDAStream().stream())
#define RD_CHECK_DEVICE(t) TORCH_CHECK((t).is_cuda(), #t " must be a CUDA tensor")
#else
namespace be = rd::cpu;
#define RD_STREAM nullptr
#define RD_CHECK_DEVICE(t) TORCH_CHECK((t).device().is_cpu(), #t " must be a CPU tensor")
#endif

#define RD_CHECK(t)                                                   \
    RD_CHECK_DEVICE(t);                                               \
    TORCH_CHECK((t).is_contiguous(), #t " must be contiguous")

using torch::Tensor;
using rd::Dtype;

namespace {

Dtype dtype_of(const Tensor& t) {
    switch (t.scalar_type()) {
        case torch::kFloat32: return Dtype::F32;
        case torch::kFloat64: return Dtype::F64;
        case torch::kFloat16: return Dtype::F16;
        default: TORCH_CHECK(false, "unsupported dtype ", t.scalar_type());
    }
    return Dtype::F32;
}

template <typename T> T* ptr_or_null(const Tensor& t) {
    return t.defined() && t.numel() > 0 ? (T*)t.data_ptr() : nullptr;
}

rd::HashGridParams make_hg(int64_t n_features, int64_t hash_mask, const std::vector<int64_t>& offsets,
                           const std::vector<int64_t>& res, const std::vector<int64_t>& dense) {
    rd::HashGridParams p{};
    TORCH_CHECK(res.size() >= 1 && (int)res.size() <= rd::HG_MAX_LEVELS, "1 to ", rd::HG_MAX_LEVELS,
                " levels supported");
    TORCH_CHECK(offsets.size() == res.size() + 1 && dense.size() == res.size(), "bad level lists");
    p.n_levels = (int)res.size();
    p.n_features = (int)n_features;
    p.hash_mask = (uint32_t)hash_mask;
    for (size_t l = 0; l < res.size(); ++l) {
        p.res[l] = (uint32_t)res[l];
        p.dense[l] = (uint32_t)dense[l];
        p.offsets[l] = (uint32_t)offsets[l];
    }
    p.offsets[res.size()] = (uint32_t)offsets[res.size()];
    return p;
}

Tensor hashgrid_forward(Tensor x, Tensor table, int64_t F, int64_t hash_mask,
                        std::vector<int64_t> offsets, std::vector<int64_t> res,
                        std::vector<int64_t> dense) {
    RD_CHECK(x);
    RD_CHECK(table);
    auto p = make_hg(F, hash_mask, offsets, res, dense);
    const int64_t n = x.size(0);
    auto out = torch::empty({n, (int64_t)p.n_levels * F}, x.options());
    if (n > 0)
        be::hashgrid_forward(p, n, dtype_of(x), dtype_of(table), x.data_ptr(), table.data_ptr(),
                             out.data_ptr(), RD_STREAM);
    return out;
}

// The table gradient: a new tensor in the compute precision (also for half tables), or `into` (a
// gradient buffer of that precision and the table's shape) that the kernel adds to. A new tensor,
// and `into` when `into_uninit`, hold garbage: the kernel zeroes them as it goes (`zeroed` says
// so), saving a separate pass over the whole gradient.
struct TableGrad {
    Tensor t;
    bool zeroed;
};

TableGrad table_grad(const Tensor& x, const Tensor& table, const c10::optional<Tensor>& into,
                     bool into_uninit, int64_t n) {
    if (into.has_value()) {
        RD_CHECK(*into);
        TORCH_CHECK(into->scalar_type() == x.scalar_type() && into->sizes() == table.sizes(),
                    "the table gradient to add to must have the table's shape and the points' dtype");
    }
    TableGrad g{into.has_value() ? *into : torch::empty(table.sizes(), x.options()),
                !into.has_value() || into_uninit};
    if (n == 0 && g.zeroed) g.t.zero_();  // no kernel runs to do it
    return g;
}

// With `into`, the table gradient is added to it and not returned.
std::vector<Tensor> hashgrid_backward(Tensor x, Tensor table, Tensor grad_out, bool want_table,
                                      bool want_x, int64_t F, int64_t hash_mask,
                                      std::vector<int64_t> offsets, std::vector<int64_t> res,
                                      std::vector<int64_t> dense, c10::optional<Tensor> into,
                                      bool into_uninit) {
    RD_CHECK(x);
    RD_CHECK(table);
    RD_CHECK(grad_out);
    auto p = make_hg(F, hash_mask, offsets, res, dense);
    const int64_t n = x.size(0);
    TableGrad gt = want_table ? table_grad(x, table, into, into_uninit, n) : TableGrad{Tensor(), false};
    Tensor gx = want_x ? torch::zeros_like(x) : Tensor();
    if (n > 0)
        be::hashgrid_backward(p, n, dtype_of(x), dtype_of(table), x.data_ptr(), table.data_ptr(),
                              grad_out.data_ptr(), ptr_or_null<void>(gt.t), gt.zeroed,
                              ptr_or_null<void>(gx), RD_STREAM);
    return {into.has_value() ? Tensor() : gt.t, gx};
}

std::vector<Tensor> hashgrid_backward_backward(Tensor x, Tensor table, Tensor grad_out, Tensor gg_x,
                                               bool want_table, bool want_grad_out, bool want_x,
                                               int64_t F, int64_t hash_mask,
                                               std::vector<int64_t> offsets,
                                               std::vector<int64_t> res,
                                               std::vector<int64_t> dense,
                                               c10::optional<Tensor> into, bool into_uninit) {
    RD_CHECK(x);
    RD_CHECK(table);
    RD_CHECK(grad_out);
    RD_CHECK(gg_x);
    auto p = make_hg(F, hash_mask, offsets, res, dense);
    const int64_t n = x.size(0);
    TableGrad gt = want_table ? table_grad(x, table, into, into_uninit, n) : TableGrad{Tensor(), false};
    Tensor ggo = want_grad_out ? torch::zeros_like(grad_out) : Tensor();
    Tensor gx = want_x ? torch::zeros_like(x) : Tensor();
    if (n > 0)
        be::hashgrid_backward_backward(p, n, dtype_of(x), dtype_of(table), x.data_ptr(),
                                       table.data_ptr(), grad_out.data_ptr(), gg_x.data_ptr(),
                                       ptr_or_null<void>(gt.t), gt.zeroed, ptr_or_null<void>(ggo),
                                       ptr_or_null<void>(gx), RD_STREAM);
    return {into.has_value() ? Tensor() : gt.t, ggo, gx};
}

rd::OccGridParams make_grid(const std::vector<double>& lo, const std::vector<double>& hi,
                            const std::vector<int64_t>& res, int64_t cf) {
    rd::OccGridParams g{};
    TORCH_CHECK(lo.size() == 3 && hi.size() == 3 && res.size() == 3, "grid box needs 3 values");
    for (int k = 0; k < 3; ++k) {
        g.lo[k] = (float)lo[k];
        g.hi[k] = (float)hi[k];
        g.res[k] = (int)res[k];
        g.cres[k] = (int)((res[k] + cf - 1) / cf);
    }
    g.cf = (int)cf;
    return g;
}

uint32_t* level_words_of(Tensor& levels, const rd::OccGridParams& g) {
    RD_CHECK(levels);
    TORCH_CHECK(levels.scalar_type() == torch::kInt32 && levels.numel() == rd::level_words(g),
                "occupancy levels: int32 tensor of ", rd::level_words(g), " words expected");
    return reinterpret_cast<uint32_t*>(levels.data_ptr<int32_t>());
}

// Rebuilds the occupancy levels (rd::occ_level_words) from the bitfields.
void occgrid_levels(Tensor bits, Tensor coarse_bits, Tensor levels, std::vector<double> lo, std::vector<double> hi,
                    std::vector<int64_t> res, int64_t cf) {
    RD_CHECK(bits);
    RD_CHECK(coarse_bits);
    auto g = make_grid(lo, hi, res, cf);
    be::occgrid_levels(g, bits.data_ptr<uint8_t>(), coarse_bits.data_ptr<uint8_t>(), level_words_of(levels, g), RD_STREAM);
}

// EMA update of the densities, then the bitfields and the occupancy levels that follow from them.
void occgrid_update(Tensor density, Tensor bits, Tensor coarse_bits, Tensor levels, c10::optional<Tensor> values,
                    double decay, double threshold, std::vector<double> lo, std::vector<double> hi,
                    std::vector<int64_t> res, int64_t cf) {
    RD_CHECK(density);
    RD_CHECK(bits);
    RD_CHECK(coarse_bits);
    auto g = make_grid(lo, hi, res, cf);
    const float* v = nullptr;
    if (values.has_value()) {
        RD_CHECK(*values);
        v = values->data_ptr<float>();
    }
    be::occgrid_update(g, v, (float)decay, (float)threshold, density.data_ptr<float>(),
                       bits.data_ptr<uint8_t>(), coarse_bits.data_ptr<uint8_t>(), RD_STREAM);
    occgrid_levels(bits, coarse_bits, levels, lo, hi, res, cf);
}

Tensor offsets_from_counts(const Tensor& counts) {
    auto offsets = torch::zeros({counts.size(0) + 1}, counts.options());
    if (counts.size(0) > 0) offsets.narrow(0, 1, counts.size(0)).copy_(torch::cumsum(counts, 0));
    return offsets;
}

std::vector<Tensor> raymarch(Tensor o, Tensor d, Tensor near, Tensor far, Tensor levels,
                             std::vector<double> lo, std::vector<double> hi, std::vector<int64_t> res,
                             int64_t cf, double dt_min, double dt_max, double cone,
                             int64_t max_samples, bool stretch) {
    for (auto* t : {&o, &d, &near, &far}) {
        RD_CHECK(*t);
    }
    auto g = make_grid(lo, hi, res, cf);
    const uint32_t* lv = level_words_of(levels, g);
    rd::MarchParams m{(float)dt_min, (float)dt_max, (float)cone, (int)max_samples, stretch ? 1 : 0};
    const int64_t n = o.size(0);
    auto counts = torch::zeros({n}, o.options().dtype(torch::kInt64));
#ifndef RD_CUDA
    {
        // CPU: one marching pass into per-thread buffers (see rd::cpu::raymarch_single_pass).
        struct Ctx {
            torch::TensorOptions opts;
            Tensor ri, t0, t1;
            std::vector<Tensor> earlier;  // an estimate's outputs, read until the march returns
        } ctx{o.options(), Tensor(), Tensor(), Tensor(), {}};
        auto allocate = [](int64_t capacity, void* p) -> rd::MarchOutput {
            auto* c = (Ctx*)p;
            if (c->ri.defined()) c->earlier.insert(c->earlier.end(), {c->ri, c->t0, c->t1});
            c->ri = torch::empty({capacity}, c->opts.dtype(torch::kInt64));
            c->t0 = torch::empty({capacity}, c->opts);
            c->t1 = torch::empty({capacity}, c->opts);
            return {c->ri.data_ptr<int64_t>(), c->t0.data_ptr<float>(), c->t1.data_ptr<float>()};
        };
        int64_t total = 0;
        if (n > 0) {
            total = rd::cpu::raymarch_single_pass(g, m, n, o.data_ptr<float>(), d.data_ptr<float>(), near.data_ptr<float>(),
                                                  far.data_ptr<float>(), lv, counts.data_ptr<int64_t>(), allocate, &ctx);
        } else {
            allocate(0, &ctx);
        }
        ctx.ri = ctx.ri.narrow(0, 0, total);
        ctx.t0 = ctx.t0.narrow(0, 0, total);
        ctx.t1 = ctx.t1.narrow(0, 0, total);
        return {ctx.ri, ctx.t0, ctx.t1, offsets_from_counts(counts)};
    }
#endif
    if (n > 0)
        be::raymarch(g, m, n, o.data_ptr<float>(), d.data_ptr<float>(), near.data_ptr<float>(), far.data_ptr<float>(),
                     lv, nullptr, counts.data_ptr<int64_t>(), nullptr, nullptr, nullptr, RD_STREAM);
    auto offsets = offsets_from_counts(counts);
    const int64_t total = offsets[n].item<int64_t>();
    auto ray_indices = torch::empty({total}, counts.options());
    auto t0 = torch::empty({total}, o.options());
    auto t1 = torch::empty({total}, o.options());
    if (total > 0)
        be::raymarch(g, m, n, o.data_ptr<float>(), d.data_ptr<float>(), near.data_ptr<float>(), far.data_ptr<float>(),
                     lv, offsets.data_ptr<int64_t>(), nullptr, ray_indices.data_ptr<int64_t>(),
                     t0.data_ptr<float>(), t1.data_ptr<float>(), RD_STREAM);
    return {ray_indices, t0, t1, offsets};
}

std::vector<Tensor> raybox(Tensor o, Tensor d, Tensor near, Tensor far, Tensor frames,
                           Tensor box_from_world, Tensor half_sizes, Tensor valid) {
    for (auto* t : {&o, &d, &near, &far, &frames, &box_from_world, &half_sizes, &valid}) {
        RD_CHECK(*t);
    }
    const int64_t n = o.size(0), nf = box_from_world.size(0), na = box_from_world.size(1);
    // bounding spheres [F, 4, A] of the boxes in the world: centre -R^T t, radius^2 |half|^2, for
    // the frames the rays use (a pose table spans the whole log: thousands of frames, while the
    // rays of one camera frame or LiDAR sweep use a few dozen); the other rows are never read
    auto spheres = torch::empty({nf, 4, na}, box_from_world.options());
    if (n > 0 && na > 0) {
        const int64_t f0 = frames.min().item<int64_t>(), f1 = frames.max().item<int64_t>() + 1;
        auto boxes = box_from_world.narrow(0, f0, f1 - f0);
        auto centre = -torch::matmul(boxes.narrow(3, 0, 3).transpose(2, 3), boxes.narrow(3, 3, 1)).squeeze(3);
        auto r2 = half_sizes.square().sum(1).view({1, na, 1}).expand({f1 - f0, na, 1});
        spheres.narrow(0, f0, f1 - f0).copy_(torch::cat({centre, r2}, 2).transpose(1, 2));
    }
    auto counts = torch::zeros({n}, o.options().dtype(torch::kInt64));
#ifndef RD_CUDA
    {
        // CPU: one pass into per-block buffers (see rd::cpu::raybox_single_pass).
        struct Ctx {
            torch::TensorOptions opts;
            Tensor ri, ai, t0, t1;
        } ctx{o.options(), Tensor(), Tensor(), Tensor(), Tensor()};
        auto allocate = [](int64_t total, void* p) -> rd::BoxOutput {
            auto* c = (Ctx*)p;
            c->ri = torch::empty({total}, c->opts.dtype(torch::kInt64));
            c->ai = torch::empty({total}, c->opts.dtype(torch::kInt64));
            c->t0 = torch::empty({total}, c->opts);
            c->t1 = torch::empty({total}, c->opts);
            return {c->ri.data_ptr<int64_t>(), c->ai.data_ptr<int64_t>(), c->t0.data_ptr<float>(), c->t1.data_ptr<float>()};
        };
        if (n > 0 && na > 0) {
            rd::cpu::raybox_single_pass(n, na, o.data_ptr<float>(), d.data_ptr<float>(), near.data_ptr<float>(),
                                        far.data_ptr<float>(), frames.data_ptr<int64_t>(), box_from_world.data_ptr<float>(),
                                        spheres.data_ptr<float>(), half_sizes.data_ptr<float>(), valid.data_ptr<uint8_t>(),
                                        counts.data_ptr<int64_t>(), allocate, &ctx);
        } else {
            allocate(0, &ctx);
        }
        return {ctx.ri, ctx.ai, ctx.t0, ctx.t1, offsets_from_counts(counts)};
    }
#endif
    if (n > 0 && na > 0)
        be::raybox(n, nf, na, o.data_ptr<float>(), d.data_ptr<float>(), near.data_ptr<float>(),
                   far.data_ptr<float>(), frames.data_ptr<int64_t>(), box_from_world.data_ptr<float>(),
                   spheres.data_ptr<float>(), half_sizes.data_ptr<float>(), valid.data_ptr<uint8_t>(), nullptr,
                   counts.data_ptr<int64_t>(), nullptr, nullptr, nullptr, nullptr, RD_STREAM);
    auto offsets = offsets_from_counts(counts);
    const int64_t total = offsets[n].item<int64_t>();
    auto ray_indices = torch::empty({total}, counts.options());
    auto actor_indices = torch::empty({total}, counts.options());
    auto t_in = torch::empty({total}, o.options());
    auto t_out = torch::empty({total}, o.options());
    if (total > 0)
        be::raybox(n, nf, na, o.data_ptr<float>(), d.data_ptr<float>(), near.data_ptr<float>(),
                   far.data_ptr<float>(), frames.data_ptr<int64_t>(), box_from_world.data_ptr<float>(),
                   spheres.data_ptr<float>(), half_sizes.data_ptr<float>(), valid.data_ptr<uint8_t>(),
                   offsets.data_ptr<int64_t>(), nullptr, ray_indices.data_ptr<int64_t>(),
                   actor_indices.data_ptr<int64_t>(), t_in.data_ptr<float>(), t_out.data_ptr<float>(), RD_STREAM);
    return {ray_indices, actor_indices, t_in, t_out, offsets};
}

std::vector<Tensor> packed_weights_forward(Tensor alphas, Tensor offsets) {
    RD_CHECK(alphas);
    RD_CHECK(offsets);
    auto w = torch::empty_like(alphas);
    auto t = torch::empty_like(alphas);
    const int64_t n_rays = offsets.size(0) - 1;
    if (n_rays > 0 && alphas.numel() > 0)
        be::packed_weights_forward(n_rays, dtype_of(alphas), offsets.data_ptr<int64_t>(),
                                   alphas.data_ptr(), w.data_ptr(), t.data_ptr(), RD_STREAM);
    return {w, t};
}

Tensor packed_weights_backward(Tensor alphas, Tensor trans, Tensor grad_w, c10::optional<Tensor> grad_t,
                               Tensor offsets) {
    RD_CHECK(alphas);
    RD_CHECK(trans);
    RD_CHECK(grad_w);
    RD_CHECK(offsets);
    const void* gt = nullptr;
    if (grad_t.has_value()) {
        RD_CHECK(*grad_t);
        gt = grad_t->data_ptr();
    }
    auto ga = torch::zeros_like(alphas);
    const int64_t n_rays = offsets.size(0) - 1;
    if (n_rays > 0 && alphas.numel() > 0)
        be::packed_weights_backward(n_rays, dtype_of(alphas), offsets.data_ptr<int64_t>(),
                                    alphas.data_ptr(), trans.data_ptr(), grad_w.data_ptr(), gt,
                                    ga.data_ptr(), RD_STREAM);
    return ga;
}

Tensor composite_forward(Tensor values, Tensor weights, Tensor offsets) {
    RD_CHECK(values);
    RD_CHECK(weights);
    RD_CHECK(offsets);
    const int64_t n_rays = offsets.size(0) - 1, c = values.size(1);
    auto out = torch::zeros({n_rays, c}, values.options());
    if (n_rays > 0 && c > 0)
        be::composite_forward(n_rays, c, dtype_of(values), offsets.data_ptr<int64_t>(),
                              values.data_ptr(), weights.data_ptr(), out.data_ptr(), RD_STREAM);
    return out;
}

std::vector<Tensor> composite_backward(Tensor values, Tensor weights, Tensor grad_out, Tensor offsets,
                                       bool want_values, bool want_weights) {
    RD_CHECK(values);
    RD_CHECK(weights);
    RD_CHECK(grad_out);
    RD_CHECK(offsets);
    const int64_t n_rays = offsets.size(0) - 1, c = values.size(1);
    Tensor gv = want_values ? torch::zeros_like(values) : Tensor();
    Tensor gw = want_weights ? torch::zeros_like(weights) : Tensor();
    if (n_rays > 0 && values.size(0) > 0 && (want_values || want_weights))
        be::composite_backward(n_rays, c, dtype_of(values), offsets.data_ptr<int64_t>(),
                               values.data_ptr(), weights.data_ptr(), grad_out.data_ptr(),
                               ptr_or_null<void>(gv), ptr_or_null<void>(gw), RD_STREAM);
    return {gv, gw};
}

std::vector<Tensor> merge_packed(Tensor t_starts, Tensor set_offsets, Tensor set_bases) {
    RD_CHECK(t_starts);
    RD_CHECK(set_offsets);
    RD_CHECK(set_bases);
    const int64_t k = set_offsets.size(0), n_rays = set_offsets.size(1) - 1;
    TORCH_CHECK(k <= rd::MERGE_MAX_SETS, "at most ", rd::MERGE_MAX_SETS, " sets can be merged at once");
    auto out_offsets = set_offsets.sum(0);
    const int64_t total = t_starts.size(0);
    auto perm = torch::empty({total}, set_offsets.options());
    auto source = torch::empty({total}, set_offsets.options());
    if (n_rays > 0 && total > 0)
        be::merge_packed(n_rays, k, set_offsets.data_ptr<int64_t>(), set_bases.data_ptr<int64_t>(),
                         t_starts.data_ptr<float>(), out_offsets.data_ptr<int64_t>(),
                         perm.data_ptr<int64_t>(), source.data_ptr<int64_t>(), RD_STREAM);
    return {perm, source, out_offsets};
}

Tensor neus_alpha_forward(Tensor sdf, Tensor cs, Tensor dt, Tensor inv_s) {
    for (auto* t : {&sdf, &cs, &dt, &inv_s}) {
        RD_CHECK(*t);
    }
    auto alpha = torch::empty_like(sdf);
    if (sdf.numel() > 0)
        be::neus_alpha_forward(sdf.numel(), dtype_of(sdf), sdf.data_ptr(), cs.data_ptr(), dt.data_ptr(),
                               inv_s.data_ptr(), alpha.data_ptr(), RD_STREAM);
    return alpha;
}

std::vector<Tensor> neus_alpha_backward(Tensor sdf, Tensor cs, Tensor dt, Tensor inv_s, Tensor grad_alpha) {
    for (auto* t : {&sdf, &cs, &dt, &inv_s, &grad_alpha}) {
        RD_CHECK(*t);
    }
    auto gs = torch::empty_like(sdf);
    auto gc = torch::empty_like(sdf);
    auto gd = torch::empty_like(sdf);
    auto gi = torch::zeros_like(inv_s);
    if (sdf.numel() > 0)
        be::neus_alpha_backward(sdf.numel(), dtype_of(sdf), sdf.data_ptr(), cs.data_ptr(), dt.data_ptr(),
                                inv_s.data_ptr(), grad_alpha.data_ptr(), gs.data_ptr(), gc.data_ptr(),
                                gd.data_ptr(), gi.data_ptr(), RD_STREAM);
    return {gs, gc, gd, gi};
}

Tensor mlp_forward(Tensor x, Tensor w1, Tensor b1, Tensor w2, Tensor b2) {
    for (auto* t : {&x, &w1, &b1, &w2, &b2}) {
        RD_CHECK(*t);
        TORCH_CHECK(t->scalar_type() == torch::kFloat32, "mlp_forward computes in float32");
    }
    TORCH_CHECK(x.dim() == 2 && w1.dim() == 2 && w2.dim() == 2 && w1.size(1) == x.size(1) &&
                    b1.numel() == w1.size(0) && w2.size(1) == w1.size(0) && b2.numel() == w2.size(0),
                "mlp_forward: shapes do not chain");
    rd::MlpParams p{(int)w1.size(1), (int)w1.size(0), (int)w2.size(0), w1.data_ptr<float>(), b1.data_ptr<float>(),
                    w2.data_ptr<float>(), b2.data_ptr<float>()};
    auto out = torch::empty({x.size(0), w2.size(0)}, x.options());
    if (x.size(0) > 0) be::mlp_forward(p, x.size(0), x.data_ptr<float>(), out.data_ptr<float>(), RD_STREAM);
    return out;
}

#ifndef RD_CUDA
double gather_probe(Tensor table, int64_t n_points, int64_t reads_per_point) {
    RD_CHECK(table);
    return rd::cpu::gather_probe(table.data_ptr<float>(), table.size(0), (int)table.size(1), n_points,
                                 (int)reads_per_point);
}
#endif

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.doc() = "redrive native kernels (see docs/kernels.md)";
    m.def("hashgrid_forward", &hashgrid_forward);
    m.def("hashgrid_backward", &hashgrid_backward);
    m.def("hashgrid_backward_backward", &hashgrid_backward_backward);
    m.def("occgrid_update", &occgrid_update);
    m.def("occgrid_levels", &occgrid_levels);
    m.def("raymarch", &raymarch);
    m.def("raybox", &raybox);
    m.def("packed_weights_forward", &packed_weights_forward);
    m.def("packed_weights_backward", &packed_weights_backward);
    m.def("composite_forward", &composite_forward);
    m.def("composite_backward", &composite_backward);
    m.def("merge_packed", &merge_packed);
    m.def("neus_alpha_forward", &neus_alpha_forward);
    m.def("neus_alpha_backward", &neus_alpha_backward);
    m.def("mlp_forward", &mlp_forward);
#ifndef RD_CUDA
    m.def("gather_probe", &gather_probe);
    m.def("hashgrid_simd_active", &rd::cpu::hashgrid_simd_active);
    m.def("raymarch_simd_active", &rd::cpu::raymarch_simd_active);
#endif
}
