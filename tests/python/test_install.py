"""`pip install --no-build-isolation .` from the source tree, offline: the
package builds with CMake (LibTorch-free), installs with its libraries and
runs a pipeline from the installed copy. Slow (a build), so it runs as its own
ctest entry, python_pip_install, which sets SLUICE_TEST_PIP_INSTALL=1."""

import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.skipif(os.environ.get("SLUICE_TEST_PIP_INSTALL") != "1",
                                reason="set SLUICE_TEST_PIP_INSTALL=1 (ctest python_pip_install)")


def test_pip_install_from_the_source_tree(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                    "--no-index", "--target", str(target), str(REPO)], check=True,
                   stdout=subprocess.DEVNULL)
    script = ("import sluice; p = sluice.Pipeline({config!r}, output='numbers', "
              "set={{'numbers.count': 7}}); print(sluice.__file__); print(sum(p))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    out = subprocess.run([sys.executable, "-c", script.format(
        config=str(REPO / "configs" / "numbers.toml"))], env=env, cwd=tmp_path, check=True,
        capture_output=True, text=True).stdout.split()
    assert out[0].startswith(str(target))
    assert int(out[1]) == 2 * sum(range(7))  # two epochs of 0..6
