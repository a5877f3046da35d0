"""Lazy build and load of the native extension (CPU, and CUDA where a GPU is present).

Nothing here runs at import time of :mod:`redrive`. The first call of an op (or ``redrive
build-ext``) compiles ``cuda/`` with the host compiler and OpenMP into a cache directory keyed by a
hash of the sources, the flags, the compiler, torch and the CPU model, so a second process (or a
second pytest worker) loads the finished ``.so`` without invoking ninja at all.

Cache location: ``$REDRIVE_CACHE/ext`` if set, else ``~/.cache/redrive/ext``.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

from redrive.errors import RedriveError

__all__ = [
    "ExtensionBuildError",
    "cache_root",
    "cuda_source_root",
    "load_cpu",
    "load_cuda",
    "get",
    "nvcc_compile_check",
]


class ExtensionBuildError(RedriveError):
    """The native extension could not be built (no compiler, compile error, missing sources)."""


# torch adds -std=c++20 itself (its headers need it).
_CXX_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-DNDEBUG"]
_LD_FLAGS = ["-fopenmp"]
# Kernels and their math are built for every architecture the project may meet; sm_80 is the
# floor (atomicAdd on doubles, fast fp16 conversions).
_NVCC_ARCHS = ["80", "86", "89", "90"]
_NVCC_FLAGS = ["-O3", "--use_fast_math", "--expt-relaxed-constexpr"]

_lock = threading.Lock()
_loaded: dict[str, ModuleType] = {}


def cuda_source_root() -> Path:
    """The ``cuda/`` directory of the sources (a sibling of the ``redrive`` package)."""
    env = os.environ.get("REDRIVE_CUDA_SRC")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "cuda"
    if not (root / "include" / "redrive" / "launchers.h").is_file():
        raise ExtensionBuildError(
            f"kernel sources not found at {root}; set REDRIVE_CUDA_SRC to the repository's cuda/ directory"
        )
    return root


def cache_root() -> Path:
    base = os.environ.get("REDRIVE_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "redrive") / "ext"


def _cpu_sources(root: Path) -> list[Path]:
    return [root / "bindings.cpp", *sorted((root / "cpu").glob("*.cpp"))]


def _cuda_sources(root: Path) -> list[Path]:
    return sorted((root / "cuda").glob("*.cu"))


def _headers(root: Path) -> list[Path]:
    return sorted((root / "include").rglob("*.h"))


def _find_cxx() -> str:
    cxx = os.environ.get("CXX", "c++")
    path = shutil.which(cxx)
    if path is None:
        raise ExtensionBuildError(
            f"no C++ compiler found (looked for {cxx!r} on PATH): the native kernels need one. "
            "Install g++ (e.g. `apt-get install g++`) or set CXX to a compiler."
        )
    return path


def _compiler_id(cxx: str) -> str:
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else cxx
    except (OSError, subprocess.SubprocessError):
        return cxx


def _cpu_model() -> str:
    # -march=native makes the binary specific to this CPU.
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _build_key(kind: str, files: list[Path], flags: list[str], extra: list[str]) -> str:
    import torch

    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    for item in [*flags, *extra, torch.__version__, sys.version, kind]:
        h.update(item.encode())
    return h.hexdigest()[:16]


def _import_so(name: str, so_path: Path) -> ModuleType:
    import torch  # noqa: F401  (the extension links against libtorch: load it first)

    loader = importlib.machinery.ExtensionFileLoader(name, str(so_path))
    spec = importlib.util.spec_from_file_location(name, str(so_path), loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _build(name: str, sources: list[Path], build_dir: Path, *, cuda: bool, verbose: bool) -> ModuleType:
    _default_cuda_home()
    from torch.utils import cpp_extension

    root = cuda_source_root()
    build_dir.mkdir(parents=True, exist_ok=True)
    cflags = list(_CXX_FLAGS) + (["-DRD_CUDA"] if cuda else [])
    kwargs = {}
    if cuda:
        gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in _NVCC_ARCHS]
        kwargs["extra_cuda_cflags"] = _NVCC_FLAGS + gencode
    try:
        return cpp_extension.load(
            name=name,
            sources=[str(s) for s in sources],
            extra_cflags=cflags,
            extra_ldflags=list(_LD_FLAGS),  # torch appends its libraries to the list it is given
            extra_include_paths=[str(root / "include")],
            build_directory=str(build_dir),
            with_cuda=cuda,
            verbose=verbose,
            **kwargs,
        )
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        lines = str(exc).splitlines()
        # Compiler output can be thousands of lines; the first errors are what matters.
        errors = [ln for ln in lines if "error" in ln.lower()][:20] or lines[-30:]
        raise ExtensionBuildError(
            f"building the native extension {name!r} in {build_dir} failed:\n" + "\n".join(errors) + "\n"
            "Run `redrive build-ext --verbose` to see the compiler output."
        ) from exc


def load_cpu(verbose: bool = False) -> ModuleType:
    """Build (once, cached) and load the CPU extension."""
    with _lock:
        if "cpu" in _loaded:
            return _loaded["cpu"]
        root = cuda_source_root()
        ids = [_compiler_id(_find_cxx()), _cpu_model()]
        return _load_cached("cpu", root, _cpu_sources(root), _CXX_FLAGS + _LD_FLAGS, ids, verbose)


def _load_cached(kind: str, root: Path, sources: list[Path], flags: list[str], ids: list[str],
                 verbose: bool) -> ModuleType:
    """The ``kind`` extension of these sources, flags and tool ids: from the cache, else built into it."""
    key = _build_key(kind, sources + _headers(root), flags, ids)
    name = f"redrive_ext_{kind}_{key}"
    build_dir = cache_root() / name
    so = build_dir / f"{name}.so"
    module = _import_so(name, so) if so.is_file() else _build(name, sources, build_dir, cuda=kind == "cuda", verbose=verbose)
    _loaded[kind] = module
    return module


def _default_cuda_home() -> None:
    # torch.utils.cpp_extension looks for CUDA when imported and warns when it finds a toolkit but
    # no GPU runtime (the normal case on a CPU machine with nvcc installed): point it at the usual
    # toolkit location and keep that warning out of the user's output.
    if not os.environ.get("CUDA_HOME") and Path("/usr/local/cuda/bin/nvcc").is_file():
        os.environ["CUDA_HOME"] = "/usr/local/cuda"
    import logging

    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def _find_nvcc() -> str:
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    for cand in (Path(cuda_home) / "bin" / "nvcc", shutil.which("nvcc")):
        if cand and Path(cand).is_file():
            return str(cand)
    raise ExtensionBuildError("nvcc not found: set CUDA_HOME to the CUDA toolkit (e.g. /usr/local/cuda)")


def load_cuda(verbose: bool = False) -> ModuleType:
    """Build (once, cached) and load the CUDA extension: bindings + ``cuda/cuda/*.cu``."""
    with _lock:
        if "cuda" in _loaded:
            return _loaded["cuda"]
        root = cuda_source_root()
        nvcc = _find_nvcc()
        os.environ.setdefault("CUDA_HOME", str(Path(nvcc).parents[1]))
        sources = [root / "bindings.cpp", *_cuda_sources(root)]
        flags = _CXX_FLAGS + _NVCC_FLAGS + _NVCC_ARCHS
        return _load_cached("cuda", root, sources, flags, [_compiler_id(nvcc)], verbose)


def get(device) -> ModuleType:
    """The extension for tensors on ``device`` (a torch.device or its string)."""
    kind = device.type if hasattr(device, "type") else str(device).split(":")[0]
    if kind == "cpu":
        return load_cpu()
    if kind == "cuda":
        return load_cuda()
    raise ExtensionBuildError(f"no native kernels for device type {kind!r} (cpu and cuda are supported)")


def nvcc_compile_check(out_dir: Path | None = None, verbose: bool = False) -> list[Path]:
    """Compile every ``cuda/cuda/*.cu`` to an object with a bare nvcc (no GPU needed).

    The .cu files include only ``cuda/include`` (no torch headers), so this checks exactly the
    device code that the CUDA extension links. Returns the object files; raises on failure.
    """
    root = cuda_source_root()
    nvcc = _find_nvcc()
    out_dir = out_dir or (cache_root() / "nvcc-check")
    out_dir.mkdir(parents=True, exist_ok=True)
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in _NVCC_ARCHS]
    objects = []
    for src in _cuda_sources(root):
        obj = out_dir / (src.stem + ".o")
        cmd = [nvcc, "-c", str(src), "-o", str(obj), "-I", str(root / "include"), "-Xcompiler", "-fPIC", "-std=c++17",
               *_NVCC_FLAGS, *gencode]
        if verbose:
            print(" ".join(cmd), flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ExtensionBuildError(f"nvcc failed on {src.name}:\n{proc.stdout}{proc.stderr}")
        if proc.stderr.strip() and verbose:
            print(proc.stderr, file=sys.stderr)
        objects.append(obj)
    return objects
