"""sluice.torch: (x, y) tensors where a PyTorch loop expects a loader, and the
example that trains on the synthetic CelebA to at least 90% validation accuracy."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import sluice  # noqa: E402
import sluice.torch  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_loader_yields_scaled_float_tensors_and_labels(data_config):
    raw = next(iter(sluice.Pipeline(data_config, set={"index.epochs": 1})))
    loader = sluice.torch.Loader(data_config, set={"index.epochs": 1}, split="train",
                                 label_dtype=torch.float32)
    x, y = next(iter(loader))
    loader.close()
    assert x.dtype == torch.float32 and tuple(x.shape) == (16, 3, 40, 32)
    assert y.dtype == torch.float32 and tuple(y.shape) == (16,)
    expected = raw["images"].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6, atol=1e-6)
    assert np.array_equal(y.numpy(), raw["labels"].astype(np.float32))


def test_uint8_tensors_share_the_pool_buffer(data_config):
    loader = sluice.torch.Loader(data_config, set={"index.epochs": 1}, normalize=False)
    batch = next(iter(loader.pipeline))
    x, _ = sluice.torch.to_tensors(batch, normalize=False)
    assert x.data_ptr() == batch["images"].__array_interface__["data"][0]
    loader.close()


def test_batches_export_through_dlpack_without_a_copy(data_config):
    p = sluice.Pipeline(data_config, set={"index.epochs": 1})
    batch = next(iter(p))
    p.close()
    images, labels = batch["images"], batch["labels"]
    expected = images.copy()
    x, y = torch.from_dlpack(images), torch.from_dlpack(labels)
    assert x.data_ptr() == images.__array_interface__["data"][0]
    assert y.tolist() == labels.tolist()
    del batch, images, labels, p  # the tensors keep the pooled buffer alive
    assert np.array_equal(x.numpy(), expected)


def test_dataloader_workers_are_refused_with_the_reason(data_config):
    loader = sluice.torch.Loader(data_config, set={"index.epochs": 1}, split="train")
    workers = torch.utils.data.DataLoader(loader, batch_size=None, num_workers=2)
    with pytest.raises(RuntimeError) as refused:
        list(workers)
    message = str(refused.value)
    assert "sluice already runs its own threads" in message
    assert "num_workers=0" in message
    # In the calling process, a DataLoader yields each batch once.
    direct = [y.tolist() for _, y in loader]
    through = [y.tolist() for _, y in torch.utils.data.DataLoader(loader, batch_size=None)]
    assert through == direct and len(direct) > 5
    loader.close()


def test_len_of_the_loader_is_the_batches_it_yields(data_config):
    loader = sluice.torch.Loader(data_config, split="train")
    assert len(loader) == sum(1 for _ in loader) > 4
    assert len(torch.utils.data.DataLoader(loader, batch_size=None)) == len(loader)
    for epoch in loader.epochs():
        split = epoch.split("train")
        assert len(split) == sum(1 for _ in split) == len(loader) // 2
    loader.close()


def test_an_unknown_split_is_refused_before_anything_runs(data_config):
    with pytest.raises(ValueError, match="no split 'val'.*'train', 'validation'"):
        sluice.torch.Loader(data_config, split="val")
    loader = sluice.torch.Loader(data_config, set={"index.epochs": 1})
    for epoch in loader.epochs():
        with pytest.raises(ValueError, match="no split 'val'"):
            epoch.split("val")
        assert sum(len(y) for _, y in epoch.split("train")) > 0
    loader.close()


def test_example_trains_to_90_percent(tmp_path, sluice_bin):
    root = tmp_path / "celeba"
    subprocess.run([sluice_bin, "synth", "--out", str(root), "--count", "3000", "--seed", "0",
                    "-j", "2"], check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run([sys.executable, str(REPO / "examples" / "python" / "train.py"),
                          str(root), "3"], check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="2")).stdout
    accuracies = [float(a) for a in re.findall(r"val_acc (\d\.\d+)", out)]
    assert len(accuracies) == 3, out
    assert accuracies[-1] >= 0.90, out
