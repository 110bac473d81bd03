"""Builds the `sluice` Python package with the project's CMake build.

    pip install --no-build-isolation .        # offline, Debian's setuptools

CMake configures a LibTorch-free build in build-python/ (the module never
links LibTorch), builds the module and installs it, with the sluice shared
libraries beside it, into the wheel. SLUICE_CMAKE_ARGS adds configure options.
"""
import os
import pathlib
import shlex
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = ROOT / "build-python"
        package = pathlib.Path(self.get_ext_fullpath(ext.name)).resolve().parent.parent
        jobs = os.environ.get("SLUICE_BUILD_JOBS", "2")
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
            "-DSLUICE_WITH_TORCH=OFF", "-DSLUICE_BUILD_TESTS=OFF", "-DSLUICE_PYTHON=ON",
            "-DSLUICE_PYTHON_BUNDLE_LIBS=ON", f"-DPython3_EXECUTABLE={sys.executable}",
            f"-DSLUICE_PYTHON_INSTALL_DIR={package}",
        ] + shlex.split(os.environ.get("SLUICE_CMAKE_ARGS", ""))
        subprocess.run(configure, check=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "sluice_python", "-j", jobs],
                       check=True)
        subprocess.run(["cmake", "--install", str(build), "--component", "python"], check=True)


setup(
    packages=[],
    ext_modules=[Extension("sluice._core", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
