#!/usr/bin/env python3
"""Checks that `Male` in a synthetic CelebA is learnable but not trivially so.

Trains, on CPU, (1) a linear classifier (logistic regression) on raw 64x64
pixels and (2) a narrow VGG-style CNN on the same 64x64 images, and prints the
test accuracy of each. The synthetic data is meant to give the CNN >= 95% in a
few CPU minutes while the linear model stays well below 99%.

usage: synth_learnability.py --root DIR [--epochs 6] [--size 64]
"""
import argparse
import csv
import os
import time

import numpy as np
import torch
from PIL import Image
from torch import nn


def load(root, size):
    images = os.path.join(root, "img_align_celeba", "img_align_celeba")
    with open(os.path.join(root, "list_eval_partition.csv"), newline="") as f:
        part = {r["image_id"]: int(r["partition"]) for r in csv.DictReader(f)}
    xs, ys, ps = [], [], []
    with open(os.path.join(root, "list_attr_celeba.csv"), newline="") as f:
        for r in csv.DictReader(f):
            im = Image.open(os.path.join(images, r["image_id"])).convert("RGB").resize((size, size))
            xs.append(np.asarray(im, dtype=np.uint8))
            ys.append(1 if r["Male"] == "1" else 0)
            ps.append(part[r["image_id"]])
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255.0
    return x, torch.tensor(ys), torch.tensor(ps)


def train(model, x, y, xt, yt, epochs, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            xb = x[idx]
            if torch.rand(1).item() < 0.5:
                xb = xb.flip(3)
            opt.zero_grad()
            loss_fn(model(xb), y[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(xt).argmax(1) == yt).float().mean().item()
        print(f"  epoch {epoch + 1}: test accuracy {acc:.4f}", flush=True)
    return acc


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--linear-epochs", type=int, default=8)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    x, y, part = load(a.root, a.size)
    tr, te = part != 2, part == 2
    print(f"{int(tr.sum())} train+validation, {int(te.sum())} test images, male fraction "
          f"{y.float().mean():.2f}")
    start = time.time()
    print("linear model on raw pixels:")
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * a.size * a.size, 2))
    lin_acc = train(linear, x[tr], y[tr], x[te], y[te], a.linear_epochs, 1e-3)

    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
    print("narrow VGG-style CNN (16-32-64-64, batch norm):")
    vgg = nn.Sequential(*block(3, 16), *block(16, 32), *block(32, 64), *block(64, 64),
                        nn.Flatten(), nn.Linear(64 * (a.size // 16) ** 2, 64), nn.ReLU(),
                        nn.Dropout(0.3), nn.Linear(64, 2))
    cnn_acc = train(vgg, x[tr], y[tr], x[te], y[te], a.epochs, 1e-3)
    print(f"linear_test_accuracy: {lin_acc:.4f}")
    print(f"cnn_test_accuracy: {cnn_acc:.4f}")
    print(f"seconds: {time.time() - start:.0f}")


if __name__ == "__main__":
    main()
