"""ember.utils: data loading helpers, DLPack interchange, and where the C++
core's CMake package lies (as ``torch.utils.cmake_prefix_path``)."""

import os

from . import data, dlpack

# Pass to CMake as CMAKE_PREFIX_PATH so that find_package(ember) finds the
# static core, its headers and emberConfig.cmake inside the installed wheel.
# A source-tree checkout (PYTHONPATH=python) has no such folder.
cmake_prefix_path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "share", "cmake")

__all__ = ["data", "dlpack", "cmake_prefix_path"]
