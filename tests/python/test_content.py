"""What Python iterates is what a C++ consumer of the same graph sees: the
same batches in the same order, with the same ids, labels, markers and pixel
bytes, for the same config and seed (and another thread count)."""

import subprocess

import numpy as np

import sluice


def cpp_reference(reference_dump, config, tmp_path, threads):
    text, pixels = tmp_path / "batches.txt", tmp_path / "pixels.bin"
    subprocess.run([reference_dump, str(config),
                    "--set", f'sink.use="test.dump"',
                    "--set", f'sink.text="{text}"', "--set", f'sink.pixels="{pixels}"',
                    "--set", f"pipeline.threads={threads}"], check=True)
    return text.read_text().splitlines(), np.fromfile(pixels, dtype=np.uint8)


def python_stream(config, threads):
    lines, pixels = [], []
    p = sluice.Pipeline(config, threads=threads, output="sink")
    for epoch in p.epochs():
        for split in ("train", "validation"):
            for b in epoch.split(split):
                n, h, w, c = b["images"].shape
                lines.append(f"batch {b['split']} {b['epoch']} {n} {h} {w} {c}")
                lines += [f"{i} {l}" for i, l in zip(b["ids"], b["labels"])]
                pixels.append(b["images"].reshape(-1).copy())
            lines.append(f"-- end_of_split {split} {epoch.number}")
        lines.append(f"-- end_of_epoch  {epoch.number}")
    return lines, np.concatenate(pixels)


def test_batches_equal_the_cpp_consumers(reference_dump, data_config, tmp_path):
    cpp_lines, cpp_pixels = cpp_reference(reference_dump, data_config, tmp_path, threads=1)
    py_lines, py_pixels = python_stream(data_config, threads=2)
    assert py_lines == cpp_lines
    assert py_pixels.size == cpp_pixels.size > 0
    assert np.array_equal(py_pixels, cpp_pixels)


def test_batch_fields(data_config):
    p = sluice.Pipeline(data_config, set={"index.epochs": 1})
    b = next(iter(p))
    p.close()
    assert b["images"].dtype == np.uint8 and b["images"].shape == (16, 40, 32, 3)
    assert b["labels"].dtype == np.int64 and set(b["labels"]) <= {0, 1}
    assert len(b["ids"]) == len(b["paths"]) == 16
    assert b["split"] == "train" and b["epoch"] == 0
    assert sorted(b["attributes"]) == ["Eyeglasses", "Young"]
    assert set(np.unique(b["attributes"]["Young"])) <= {-1, 1}
    assert b["normalization"] == {"kind": "rescale", "scale": 0.00392156862745098}
    assert "Batch{16 x 40x32x3" in p.element_spec


def test_normalize_gives_float_nchw_with_the_scaling_applied(data_config):
    raw = next(iter(sluice.Pipeline(data_config, set={"index.epochs": 1})))
    scaled = next(iter(sluice.Pipeline(data_config, set={"index.epochs": 1}, normalize=True)))
    assert scaled["images"].dtype == np.float32 and scaled["images"].shape == (16, 3, 40, 32)
    expected = raw["images"].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    np.testing.assert_allclose(scaled["images"], expected, rtol=1e-6, atol=1e-6)
