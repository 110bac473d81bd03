"""tools/export_torchvision_weights.py without a network: one line that says what to
download and how to pass it with --from, never a urllib traceback."""

import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "tools" / "export_torchvision_weights.py"


def run_offline(tmp_path, *args):
    pytest.importorskip("torchvision")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    # An empty hub cache, and every download sent to a closed local port.
    env.update(TORCH_HOME=str(tmp_path / "torch-home"), HTTPS_PROXY="http://127.0.0.1:9",
               HTTP_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
               http_proxy="http://127.0.0.1:9")
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_offline_download_fails_in_one_line_naming_the_file_and_from(tmp_path):
    out = tmp_path / "vgg16-imagenet.pt"
    r = run_offline(tmp_path, str(out))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in lines[0]
    assert "--from" in lines[0]
    assert not out.exists()


def test_a_missing_from_file_is_one_line(tmp_path):
    r = run_offline(tmp_path, str(tmp_path / "w.pt"), "--arch", "resnet18", "--from",
                    str(tmp_path / "resnet18-f37072fd.pth"))
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "resnet18-f37072fd.pth" in r.stderr and "Traceback" not in r.stderr
