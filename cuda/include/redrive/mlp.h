// Inference of the fields' small MLPs: one hidden layer with ReLU, a linear output layer.
//
// Every MLP of redrive's fields is Linear(I, H) -> ReLU -> Linear(H, O) with H = 64 and I, O
// below ~70. torch runs such a layer as separate matmul, bias and ReLU passes over [N, H]
// temporaries in memory (~6 M points/s on 2 cores here); computed per point, the hidden layer
// never leaves the registers. Forward only: training keeps torch's autograd.
#pragma once

#include "redrive/common.h"

namespace rd {

struct MlpParams {
    int n_in;         // I
    int n_hidden;     // H
    int n_out;        // O
    const float* w1;  // [H, I] (torch's Linear.weight layout)
    const float* b1;  // [H]
    const float* w2;  // [O, H]
    const float* b2;  // [O]
};

// out[O] = w2 relu(w1 x + b1) + b2 for one point; `hidden` is scratch of H floats.
RD_HD void mlp_point(const MlpParams& p, const float* x, float* hidden, float* out) {
    for (int j = 0; j < p.n_hidden; ++j) {
        const float* w = p.w1 + (int64_t)j * p.n_in;
        float acc = p.b1[j];
        for (int k = 0; k < p.n_in; ++k) acc += w[k] * x[k];
        hidden[j] = acc > 0.0f ? acc : 0.0f;
    }
    for (int o = 0; o < p.n_out; ++o) {
        const float* w = p.w2 + (int64_t)o * p.n_hidden;
        float acc = p.b2[o];
        for (int j = 0; j < p.n_hidden; ++j) acc += w[j] * hidden[j];
        out[o] = acc;
    }
}

}  // namespace rd
