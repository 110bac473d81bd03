"""A small PyTorch CNN learns Male vs Female on the synthetic CelebA, fed by
the sluice pipeline of configs/demo.toml (decode, augment, batch in C++),
validating after each epoch.

    sluice synth --out demo-out/celeba --count 4000
    PYTHONPATH=build/python python3 examples/python/train.py demo-out/celeba [EPOCHS]
"""
import os
import sys

import torch
from torch import nn

import sluice.torch

root, epochs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
config = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "demo.toml")
loader = sluice.torch.Loader(config, device=device, label_dtype=torch.float32, set={
    "index.root": root, "index.epochs": epochs})  # 64x80 images, batches of 32

block = lambda i, o: [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
model = nn.Sequential(*block(3, 16), *block(16, 32), *block(32, 64), *block(64, 64), nn.Flatten(),
                      nn.Linear(64 * 5 * 4, 64), nn.ReLU(), nn.Linear(64, 1)).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.3)  # per epoch
for epoch in loader.epochs():
    model.train()
    for x, y in epoch.split("train"):
        loss = nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    schedule.step()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in epoch.split("validation"):
            correct += ((model(x).squeeze(1) > 0) == (y > 0.5)).sum().item()
            total += len(y)
    # epoch.number counts from 0; the CLI counts epochs from 1, and so does this line.
    print(f"epoch {epoch.number + 1}/{epochs}: train loss {loss.item():.3f}  "
          f"val_acc {correct / total:.3f}")
