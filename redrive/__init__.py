"""redrive: recorded driving logs in, editable neural scenes and re-simulated sensors out.

Importing the package is cheap: it never compiles or loads the native kernels and does not
import torch or open3d; submodules import what they need when they are used.
"""

__version__ = "0.1.0"

import os as _os

# torch and the native kernels share torch's OpenMP runtime, whose idle threads spin-wait by
# default and then steal the cores from the next parallel region and from other jobs: training
# steps were 2.3-2.8x slower on the 2-core machine (docs/kernels.md). Set before torch is
# imported; an explicit setting in the environment wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load(run_or_edits):
    """The editable scene of a reconstruction run directory, or of a saved edit list / scenario
    file (``redrive.editing.EditableScene``; see docs/editing.md). Imports the editing package
    on first use, so ``import redrive`` stays light."""
    from redrive.editing import load as _load

    return _load(run_or_edits)
