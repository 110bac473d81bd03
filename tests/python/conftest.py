"""Fixtures of the Python module's tests: the built `sluice` command, the C++
reference dump, and a small synthetic CelebA written once per session."""

import os
import pathlib
import subprocess
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _tool(env, fallback):
    path = os.environ.get(env) or str(REPO / "build" / fallback)
    if not os.path.exists(path):
        pytest.skip(f"{path} not built (set {env})")
    return path


@pytest.fixture(scope="session")
def sluice_bin():
    return _tool("SLUICE_BIN", "sluice")


@pytest.fixture(scope="session")
def reference_dump():
    return _tool("SLUICE_REFERENCE_DUMP", "python_reference_dump")


@pytest.fixture(scope="session")
def celeba(tmp_path_factory, sluice_bin):
    """240 synthetic faces (train 160, validation 40, test 40 or so)."""
    root = tmp_path_factory.mktemp("data") / "celeba"
    subprocess.run([sluice_bin, "synth", "--out", str(root), "--count", "240", "--seed", "3",
                    "-j", "2"], check=True, stdout=subprocess.DEVNULL)
    return root


def write_config(directory, text, name="pipeline.toml"):
    path = pathlib.Path(directory) / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def data_config(tmp_path, celeba):
    """A CelebA data path (index, decode, augment, batch) ending in a batch sink."""
    return write_config(tmp_path, f"""
        [pipeline]
        name = "python-test"
        seed = 11
        threads = 2

        [stages.index]
        use = "celeba.index"
        root = "{celeba}"
        split = ["train", "validation"]
        label = "Male"
        attributes = ["Eyeglasses", "Young"]
        epochs = 2

        [stages.decode]
        use = "image.decode"
        input = "index"

        [stages.augment]
        use = "image.augment"
        input = "decode"
        width = 32
        height = 40
        shear = 0.1
        zoom = [0.9, 1.1]
        flip = true
        normalize = "none"
        rescale = 0.00392156862745098

        [stages.batch]
        use = "image.batch"
        input = "augment"
        batch_size = 16

        [stages.sink]
        use = "util.discard"
        input = "batch"
        """)
