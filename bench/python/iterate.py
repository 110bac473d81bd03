#!/usr/bin/env python3
"""Python iteration of the `sluice bench data` pipeline: the same graph
(celeba.index train split -> image.decode -> image.augment 224x224 with
shear 0.2, zoom 0.2, flip -> image.batch 32), the same seed and threads, its
output taken by Python through the sluice module instead of a C++ sink. Each
batch is touched the way a PyTorch loop would: torch.from_numpy when torch is
there (zero copy), else a NumPy view. Prints images_per_second.

    PYTHONPATH=build/python python3 bench/python/iterate.py --root DIR --threads 2
"""
import argparse
import json
import os
import tempfile
import time

import sluice

CONFIG = """
[pipeline]
name = "bench-python"
seed = 1

[stages.index]
use = "celeba.index"
root = {root}
split = "train"
shuffle = true
epochs = {epochs}

[stages.decode]
use = "image.decode"
input = "index"

[stages.augment]
use = "image.augment"
input = "decode"
width = {size}
height = {size}
shear = 0.2
zoom = 0.2
flip = true
fill_mode = "nearest"
rescale = 0.00392156862745098

[stages.batch]
use = "image.batch"
input = "augment"
batch_size = {batch}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    try:
        import torch
        as_tensor = torch.from_numpy
    except ImportError:
        as_tensor = memoryview
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.toml")
        with open(path, "w") as f:
            f.write(CONFIG.format(root=json.dumps(args.root), epochs=args.epochs,
                                  size=args.size, batch=args.batch))
        p = sluice.Pipeline(path, threads=args.threads)  # validation, as before `sluice bench data` runs
        start = time.perf_counter()
        images = 0
        for batch in p:
            x = as_tensor(batch["images"])
            images += len(batch["labels"])
            del x, batch
        wall = time.perf_counter() - start
    print(p.profile_table())
    print(f"images: {images}")
    print(f"threads: {args.threads}")
    print(f"wall_seconds: {wall:.3f}")
    print(f"images_per_second: {images / wall:.1f}")


if __name__ == "__main__":
    main()
