"""`redrive build-ext`: build the native kernels ahead of first use.

Without options it builds (or finds in the cache) the CPU extension. ``--cuda`` also compiles the
CUDA sources with nvcc: first every ``cuda/cuda/*.cu`` to an object (a compile check that needs
no GPU), then, unless ``--compile-only``, the linked CUDA extension.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cuda", action="store_true", help="also compile the CUDA sources with nvcc")
    parser.add_argument(
        "--compile-only", action="store_true", help="with --cuda: only compile the .cu files (no link, no GPU needed)"
    )
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU extension")
    parser.add_argument("--verbose", action="store_true", help="show compiler commands and output")


def run(args: argparse.Namespace) -> int:
    import time

    from redrive.ops import _ext

    if not args.no_cpu:
        t0 = time.perf_counter()
        module = _ext.load_cpu(verbose=args.verbose)
        print(f"CPU extension ready: {module.__file__} ({time.perf_counter() - t0:.1f} s)", flush=True)
    if args.cuda:
        t0 = time.perf_counter()
        objects = _ext.nvcc_compile_check(verbose=args.verbose)
        names = ", ".join(o.name for o in objects)
        print(
            f"nvcc compile OK: {len(objects)} CUDA source files compiled ({names}) for sm_{', sm_'.join(_ext._NVCC_ARCHS)} "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        if not args.compile_only:
            t0 = time.perf_counter()
            module = _ext.load_cuda(verbose=args.verbose)
            print(f"CUDA extension linked and loaded: {module.__file__} ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 0
