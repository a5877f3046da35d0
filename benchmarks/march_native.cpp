// The CPU marcher (cuda/cpu/raymarch.cpp) timed without Python or torch around it, for
// benchmarks/march_native.py, which builds this file with the extension's flags and writes the
// inputs. Prints one JSON object: the march's median and fastest wall time, its sample count and
// a checksum of the samples, and the time of a plain copy of as many bytes as the march's
// packed outputs, on the same threads (the floor of any single-pass marcher's output copy).
//
// usage: march_native DIR REPEATS   (DIR holds bits.bin, coarse.bin, rays.bin, params.txt)
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "redrive/launchers.h"

namespace {
template <typename T>
std::vector<T> read_file(const std::string& path, size_t n) {
    std::vector<T> v(n);
    std::ifstream f(path, std::ios::binary);
    if (!f.read(reinterpret_cast<char*>(v.data()), (std::streamsize)(n * sizeof(T)))) {
        std::fprintf(stderr, "march_native: cannot read %zu values from %s\n", n, path.c_str());
        std::exit(2);
    }
    return v;
}

// The packed outputs live across repeats: the extension's come from torch's allocator, whose
// freed blocks the malloc setting of `import redrive` keeps mapped, so neither pays page faults.
// Two sets, as the march may allocate twice (an estimate, then the exact size); like
// torch::empty's, they are 64-byte aligned and leave new room uninitialised.
template <typename T>
struct Array {
    T* p = nullptr;
    void reset(size_t n) {
        std::free(p);
        p = static_cast<T*>(std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64));
    }
    T* get() const { return p; }
    T& operator[](size_t i) const { return p[i]; }
};
struct Outputs {
    Array<int64_t> ray_indices;
    Array<float> t_starts, t_ends;
    int64_t capacity = 0;
} g_out[2];
int g_last = 1;

rd::MarchOutput allocate(int64_t capacity, void*) {
    g_last = 1 - g_last;
    Outputs& o = g_out[g_last];
    if (capacity > o.capacity) {  // with room to spare: the estimate varies a little between runs
        o.capacity = capacity + capacity / 4;
        o.ray_indices.reset((size_t)o.capacity);
        o.t_starts.reset((size_t)o.capacity);
        o.t_ends.reset((size_t)o.capacity);
    }
    return {o.ray_indices.get(), o.t_starts.get(), o.t_ends.get()};
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: march_native DIR REPEATS\n");
        return 2;
    }
    const std::string dir = argv[1];
    const int repeats = std::max(1, std::atoi(argv[2]));
    rd::OccGridParams g{};
    rd::MarchParams m{};
    int64_t n = 0;
    {
        std::ifstream p(dir + "/params.txt");
        p >> n >> g.lo[0] >> g.lo[1] >> g.lo[2] >> g.hi[0] >> g.hi[1] >> g.hi[2] >> g.res[0] >> g.res[1] >> g.res[2] >>
            g.cf >> m.dt_min >> m.dt_max >> m.cone >> m.max_samples >> m.stretch;
        if (!p) {
            std::fprintf(stderr, "march_native: bad %s/params.txt\n", dir.c_str());
            return 2;
        }
    }
    for (int k = 0; k < 3; ++k) g.cres[k] = (g.res[k] + g.cf - 1) / g.cf;
    const auto bits = read_file<uint8_t>(dir + "/bits.bin", (size_t)((int64_t)g.res[0] * g.res[1] * g.res[2] + 7) / 8);
    const auto coarse = read_file<uint8_t>(dir + "/coarse.bin", (size_t)((int64_t)g.cres[0] * g.cres[1] * g.cres[2] + 7) / 8);
    const auto rays = read_file<float>(dir + "/rays.bin", (size_t)(8 * n));  // o [n, 3], d [n, 3], near [n], far [n]
    std::vector<int64_t> counts((size_t)n);
    // the grid keeps its occupancy levels (built when its occupancy changes, not per march)
    std::vector<uint32_t> levels((size_t)rd::level_words(g));
    rd::cpu::occgrid_levels(g, bits.data(), coarse.data(), levels.data(), nullptr);

    std::vector<double> march_ms;
    int64_t samples = 0;
    for (int r = 0; r < repeats + 1; ++r) {  // the first run warms up
        const double t0 = omp_get_wtime();
        samples = rd::cpu::raymarch_single_pass(g, m, n, rays.data(), rays.data() + 3 * n, rays.data() + 6 * n, rays.data() + 7 * n,
                                      levels.data(), counts.data(), allocate, nullptr);
        if (r > 0) march_ms.push_back((omp_get_wtime() - t0) * 1e3);
    }
    double checksum = 0.0;
    for (int64_t i = 0; i < samples; ++i) checksum += (double)g_out[g_last].t_starts[i] + (double)g_out[g_last].t_ends[i];

    // The same bytes as the march's copy into the packed outputs: the two float32 of a sample
    // read from the threads' buffers and written, and its int64 ray index written.
    std::vector<char> src((size_t)samples * 8, 1), dst((size_t)samples * 16, 0);
    std::vector<double> copy_ms;
    for (int r = 0; r < repeats + 1; ++r) {
        const double t0 = omp_get_wtime();
#pragma omp parallel
        {
            const size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
            const size_t a = (size_t)samples * t / nt, b = (size_t)samples * (t + 1) / nt;
            std::memcpy(dst.data() + 16 * a, src.data() + 8 * a, 8 * (b - a));
            std::memset(dst.data() + 16 * a + 8 * (b - a), 0, 8 * (b - a));
        }
        if (r > 0) copy_ms.push_back((omp_get_wtime() - t0) * 1e3);
    }
    std::printf("{\"march_ms\": %.4f, \"march_min_ms\": %.4f, \"samples\": %lld, \"checksum\": %.10g, \"copy_ms\": %.4f}\n",
                median(march_ms), *std::min_element(march_ms.begin(), march_ms.end()), (long long)samples, checksum, median(copy_ms));
    return 0;
}
