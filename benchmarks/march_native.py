"""Speed of the CPU ray marcher on the kernels benchmark's scene, without Python or torch around it.

`kernels.py` times `ray_march` through its Python wrapper; on this shared machine that figure
swings by more than most changes to the marcher move it. This builds
`benchmarks/march_native.cpp` with `cuda/cpu/raymarch.cpp` and the extension's compiler flags,
feeds it the same 128^3 grid and 2^18 rays, and prints:
- the march's median time and rays/s, on 2 threads;
- the extension's `ray_march` on the same inputs, timed in the same run (the baseline);
- a plain copy of as many bytes as the march's packed outputs, on the same threads: the floor of
  the copy that ends any single-pass marcher.
The native march must give the extension's samples (count and checksum), or the run fails.

    python benchmarks/march_native.py [--quick] [--json PATH]
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, BenchmarkReport, median_time, standard_parser  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kernels import march_scene  # noqa: E402
from redrive.ops import MarchConfig, ray_march  # noqa: E402
from redrive.ops import _ext  # noqa: E402

THREADS = 2


def build_driver() -> Path:
    """The driver binary, built once per source and flag set into the extension's cache."""
    src = REPO / "cuda"
    sources = [REPO / "benchmarks" / "march_native.cpp", src / "cpu" / "raymarch.cpp", src / "cpu" / "hashgrid.cpp"]
    flags = [*_ext._CXX_FLAGS, f"-I{src / 'include'}"]
    cxx = _ext._find_cxx()
    # the extension's cache key: sources, headers, flags, compiler and CPU (-march=native)
    key = _ext._build_key("march-native", sources + _ext._headers(src), flags + _ext._LD_FLAGS,
                          [_ext._compiler_id(cxx), _ext._cpu_model()])
    out = _ext.cache_root() / f"march-native-{key}" / "march_native"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        cmd = [cxx, *flags, *map(str, sources), "-o", str(tmp), *_ext._LD_FLAGS]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"building {out.name} failed:\n{' '.join(cmd)}\n{done.stderr}")
        tmp.replace(out)
    return out


def write_inputs(folder: Path, grid, o, d, near, far, march: MarchConfig) -> None:
    c = grid.config
    folder.joinpath("bits.bin").write_bytes(grid.bits.numpy().tobytes())
    folder.joinpath("coarse.bin").write_bytes(grid.coarse_bits.numpy().tobytes())
    rays = np.concatenate([o.numpy().ravel(), d.numpy().ravel(), near.numpy(), far.numpy()]).astype(np.float32)
    folder.joinpath("rays.bin").write_bytes(rays.tobytes())
    params = [o.shape[0], *c.aabb, *c.resolution, c.coarse_factor, march.dt_min, march.dt_max, march.cone,
              march.max_samples, int(march.stretch)]
    folder.joinpath("params.txt").write_text(" ".join(repr(float(v)) if isinstance(v, float) else str(v) for v in params))


def main() -> int:
    args = standard_parser(__doc__).parse_args()
    torch.set_num_threads(THREADS)
    report = BenchmarkReport("march_native")
    res, n = 128, 2**16 if args.quick else 2**18
    reps = 5 if args.quick else 21
    grid, o, d, near, far, march = march_scene(n, res)
    report.section(f"Ray marching without Python: {n} rays through a {res}^3 grid, {THREADS} threads")

    driver = build_driver()
    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(Path(tmp), grid, o, d, near, far, march)
        env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
        done = subprocess.run([str(driver), tmp, str(reps)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{driver} failed:\n{done.stderr}")
    native = json.loads(done.stdout)

    ps = ray_march(o, d, grid, near, far, march)
    want = float(ps.t_starts.double().sum() + ps.t_ends.double().sum())
    if native["samples"] != ps.n_samples or not math.isclose(native["checksum"], want, rel_tol=1e-9):
        raise SystemExit(f"the native march's samples differ from ray_march's: {native} vs {ps.n_samples} samples, checksum {want}")
    wrapped = median_time(lambda: ray_march(o, d, grid, near, far, march), reps)

    report.add("native_march_ms", native["march_ms"], "native march, median (ms)")
    report.add("native_march_mrays_s", n / native["march_ms"] * 1e-3, "native march (M rays/s; kernels.py's target >= 10)")
    report.add("native_march_fastest_mrays_s", n / native["march_min_ms"] * 1e-3, "native march, fastest run (M rays/s)")
    report.add("ray_march_mrays_s", n / wrapped / 1e6, "ray_march through Python, same run (M rays/s)")
    report.add("output_copy_floor_ms", native["copy_ms"], f"plain copy of the packed outputs' bytes, {ps.n_samples / n:.1f} samples/ray (ms)")
    report.add("output_copy_floor_frac", native["copy_ms"] / native["march_ms"], "that copy / native march")
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
