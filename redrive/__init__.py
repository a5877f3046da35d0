"""redrive: recorded driving logs in, editable neural scenes and re-simulated sensors out.

Importing the package is cheap: it never compiles or loads the native kernels and does not
import torch or open3d; submodules import what they need when they are used.
"""

__version__ = "0.1.0"

import os as _os


def _omp_spin_count(proc_loadavg: str = "/proc/loadavg") -> str:
    """How long an idle OpenMP thread spins before it sleeps: 20000 iterations (~1 ms) when no
    other task is running at the moment of import, else none.

    Sleeping at once makes every one of a step's many small parallel regions wait for its
    threads to wake: on the idle 2-core machine a default training step took 330 ms that way
    and 258-266 ms with the spin, an evaluation frame 2.6 s against 2.1. But where other jobs
    want the cores, spinning threads take them away: two trainings side by side ran 815 ms per
    step each with the spin against 437 without (docs/kernels.md). The count of running tasks
    (``/proc/loadavg``, this process included) tells the two apart as they are now; the load
    average would lag a job that has just ended by minutes. A passing task often shows in one
    read, so up to 5 reads 2 ms apart count; the first that finds the machine free decides (an
    idle machine costs one read at import)."""
    import time

    try:
        cores = len(_os.sched_getaffinity(0))
        for attempt in range(5):
            if attempt:
                time.sleep(0.002)
            with open(proc_loadavg) as f:
                running = int(f.read().split()[3].split("/")[0])
            if running - 1 < cores / 2:
                return "20000"
    except (OSError, ValueError, IndexError, AttributeError):  # not Linux: keep passive waiting
        return "0"
    return "0"


# torch and the native kernels share torch's OpenMP runtime, whose idle threads spin-wait by
# default and then steal the cores from the next parallel region and from other jobs: training
# steps were 2.3-2.8x slower on the 2-core machine under load (docs/kernels.md); passive
# waiting, with a short spin first on an idle machine (above). Set before torch is imported;
# explicit settings in the environment win.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("GOMP_SPINCOUNT", _omp_spin_count())

_MMAP_THRESHOLD = 256 << 20
"""Blocks up to this size come from glibc's heap, not from a fresh mmap each (``_keep_freed_memory``)."""
_TRIM_THRESHOLD = 512 << 20
"""Free memory that glibc keeps at the top of its heap rather than returning to the system."""


def _keep_freed_memory() -> bool:
    """Let glibc's malloc reuse freed large blocks: returns whether the settings were made.

    By default glibc serves every block above 32 MiB (and smaller ones until its adaptive
    threshold has grown) with a fresh mmap and unmaps it on free, so a tensor of that size made
    in every call (a ray march's packed samples, a render chunk's buffers) pays a page fault per
    4 KiB page each time, ~1 us apiece on a VM: a quarter of a 2^18-ray march (docs/kernels.md).
    Blocks up to ``_MMAP_THRESHOLD`` from the heap, and up to ``_TRIM_THRESHOLD`` of free heap kept,
    reuse pages that are already mapped (what jemalloc or tcmalloc, which torch's CPU
    performance guide recommends, do by other means). An allocator chosen in the environment
    wins: ``LD_PRELOAD``, ``MALLOC_*_`` variables, or malloc tunables in ``GLIBC_TUNABLES``."""
    env = _os.environ
    chosen = env.get("LD_PRELOAD") or "malloc" in env.get("GLIBC_TUNABLES", "")
    if chosen or any(k.startswith("MALLOC_") and k.endswith("_") for k in env):
        return False
    try:
        if not _os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, ValueError, AttributeError):  # not glibc (or not Linux)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, _MMAP_THRESHOLD)) and bool(mallopt(m_trim_threshold, _TRIM_THRESHOLD))


_keep_freed_memory()


def load(run_or_edits):
    """The editable scene of a reconstruction run directory, or of a saved edit list / scenario
    file (``redrive.editing.EditableScene``; see docs/editing.md). Imports the editing package
    on first use, so ``import redrive`` stays light."""
    from redrive.editing import load as _load

    return _load(run_or_edits)
