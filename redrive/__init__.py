"""redrive: recorded driving logs in, editable neural scenes and re-simulated sensors out.

Importing the package is cheap: it never compiles or loads the native kernels and does not
import torch or open3d; submodules import what they need when they are used.
"""

__version__ = "0.1.0"
