"""redrive: recorded driving logs in, editable neural scenes and re-simulated sensors out.

Importing the package is cheap: it never compiles or loads the native kernels and does not
import torch or open3d; submodules import what they need when they are used.
"""

__version__ = "0.1.0"

import os as _os



def _omp_spin_count() -> str:
    """How long an idle OpenMP thread spins before it sleeps: 20000 iterations (~1 ms) while
    the machine is mostly idle, else none.

    Sleeping at once makes every one of a step's many small parallel regions wait for its
    threads to wake: on the idle 2-core machine a default training step took 330 ms that way
    and 258-266 ms with the spin, an evaluation frame 2.6 s against 2.1. But where other jobs
    want the cores, spinning threads take them away: two trainings side by side ran 815 ms per
    step each with the spin against 437 without (docs/kernels.md). So the spin is only the
    default when the 1-minute load average is below half the usable cores."""
    try:
        load = _os.getloadavg()[0]
        cores = len(_os.sched_getaffinity(0)) if hasattr(_os, "sched_getaffinity") else (_os.cpu_count() or 1)
    except OSError:
        return "0"
    return "20000" if load < cores / 2 else "0"


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
