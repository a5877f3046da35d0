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


def load(run_or_edits):
    """The editable scene of a reconstruction run directory, or of a saved edit list / scenario
    file (``redrive.editing.EditableScene``; see docs/editing.md). Imports the editing package
    on first use, so ``import redrive`` stays light."""
    from redrive.editing import load as _load

    return _load(run_or_edits)
