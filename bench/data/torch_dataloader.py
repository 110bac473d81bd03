#!/usr/bin/env python3
"""PyTorch DataLoader + torchvision baseline for `sluice bench data`.

Reads the train split of a CelebA folder (Kaggle layout, as `sluice synth`
writes it) and runs the usual torchvision recipe: Resize 224, RandomAffine with
shear and scale, RandomHorizontalFlip, ToTensor, batched by a DataLoader with
N worker processes. Prints images_per_second over one pass (and the rate after
the first batch, which excludes worker start-up).
"""
import argparse
import csv
import os
import time

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class CelebaTrain(Dataset):
    def __init__(self, root, limit, transform):
        images = os.path.join(root, "img_align_celeba", "img_align_celeba")
        if not os.path.isdir(images):
            images = os.path.join(root, "img_align_celeba")
        with open(os.path.join(root, "list_eval_partition.csv"), newline="") as f:
            train = {row["image_id"] for row in csv.DictReader(f) if row["partition"] == "0"}
        self.items = []
        with open(os.path.join(root, "list_attr_celeba.csv"), newline="") as f:
            for row in csv.DictReader(f):
                if row["image_id"] in train:
                    self.items.append((os.path.join(images, row["image_id"]),
                                       1 if row["Male"] == "1" else 0))
        if limit >= 0:
            self.items = self.items[:limit]
        self.transform = transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        with Image.open(path) as im:
            return self.transform(im.convert("RGB")), label


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--limit", type=int, default=-1)
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args()
    torch.set_num_threads(1)
    tf = transforms.Compose([
        transforms.Resize((a.size, a.size)),
        transforms.RandomAffine(degrees=0, shear=0.2, scale=(0.8, 1.2)),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
    ])
    ds = CelebaTrain(a.root, a.limit, tf)
    loader = DataLoader(ds, batch_size=a.batch, shuffle=True, num_workers=a.workers)
    start = time.perf_counter()
    first = None
    images = 0
    after_first = 0
    for x, _ in loader:
        images += x.shape[0]
        if first is None:
            first = time.perf_counter()
        else:
            after_first += x.shape[0]
    end = time.perf_counter()
    print(f"images: {images}")
    print(f"workers: {a.workers}")
    print(f"wall_seconds: {end - start:.3f}")
    print(f"images_per_second: {images / (end - start):.1f}")
    if first is not None and end > first:
        print(f"images_per_second_after_first_batch: {after_first / (end - first):.1f}")
    print(f"torch: {torch.__version__}")


if __name__ == "__main__":
    main()
