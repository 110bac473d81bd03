#!/usr/bin/env python3
"""Reference for the ResNet parity test: writes a 256x256 PNG (seeded gradients and
noise), loads WEIGHTS (tools/export_torchvision_weights.py) into torchvision's ARCH,
preprocesses the image with torchvision's ImageNet evaluation transform and prints the
top 5 "CLASS PROBABILITY" lines.

  torchvision_top5.py resnet18 weights.pt image.png > top5.txt
"""
import sys

import torch
import torchvision
from PIL import Image
from torchvision import transforms


def write_image(path):
    g = torch.Generator().manual_seed(3)
    y = torch.linspace(0, 1, 256).view(256, 1).expand(256, 256)
    x = torch.linspace(0, 1, 256).view(1, 256).expand(256, 256)
    rgb = torch.stack([x, y, (x * y).sqrt()]) * 200
    rgb = rgb + torch.rand(3, 256, 256, generator=g) * 55
    Image.fromarray(rgb.clamp(0, 255).byte().permute(1, 2, 0).numpy()).save(path)


def main():
    arch, weights, image = sys.argv[1:4]
    write_image(image)
    model = getattr(torchvision.models, arch)(weights=None)
    model.load_state_dict(torch.load(weights))
    model.eval()
    preprocess = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    with torch.no_grad():
        probs = model(preprocess(Image.open(image).convert("RGB")).unsqueeze(0)).softmax(1)[0]
    top = probs.topk(5)
    for p, i in zip(top.values.tolist(), top.indices.tolist()):
        print(f"{i} {p:.9f}")


if __name__ == "__main__":
    main()
