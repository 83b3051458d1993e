"""What an installed wheel carries beside the module: the C++ core's CMake
package (found through ember.utils.cmake_prefix_path, as libtorch's is
through torch.utils.cmake_prefix_path), its headers and static library. A
source tree (PYTHONPATH=python) has none of them, so these skip there."""
import pathlib
import re

import pytest

import ember
import ember.utils

PACKAGE = pathlib.Path(ember.__file__).resolve().parent
CONFIG = pathlib.Path(ember.utils.cmake_prefix_path) / "ember" / "emberConfig.cmake"
installed = pytest.mark.skipif(not CONFIG.exists(), reason="not an installed wheel (no CMake package)")


def test_cmake_prefix_path_is_inside_the_package():
    assert isinstance(ember.utils.cmake_prefix_path, str)
    assert pathlib.Path(ember.utils.cmake_prefix_path).resolve().parent.parent == PACKAGE


@installed
def test_cmake_package_names_the_static_core_and_its_headers():
    folder = CONFIG.parent
    targets = (folder / "emberTargets.cmake").read_text()
    assert "ember::core" in targets and "OpenMP::OpenMP_CXX" in targets
    assert "find_dependency(OpenMP" in CONFIG.read_text()
    assert (PACKAGE / "lib" / "libember_core.a").stat().st_size > 1_000_000
    for header in ("tensor.h", "ops/ops.h", "autograd/node.h", "backend.h"):
        assert (PACKAGE / "include" / "csrc" / header).exists(), header


@installed
def test_package_version_matches_the_module():
    version_file = (CONFIG.parent / "emberConfigVersion.cmake").read_text()
    assert re.search(r'set\(PACKAGE_VERSION "([^"]+)"\)', version_file).group(1) == ember.__version__
