#!/usr/bin/env python3
"""Export a torchvision classifier as TorchScript, its head replaced for N outputs, for
sluice's train.model with arch = "torchscript" (model = "FILE.pt").

The module is scripted (torch.jit.script), so batch norm and dropout follow training
and evaluation mode in sluice as they do in Python. Save with the torch whose version
matches the LibTorch sluice is built with (Debian: python3-torch 1.13 with
libtorch-dev 1.13): a file saved by a newer torch may not load in an older LibTorch.

  # ImageNet weights (torchvision's download cache), a new 3-class head
  tools/export_torchscript.py resnet18-3.pt --arch resnet18 --num-classes 3 --pretrained
  # random init with a fixed seed (tests)
  tools/export_torchscript.py resnet18-3.pt --arch resnet18 --num-classes 3 --seed 7

Without torchvision, --arch tiny_resnet builds a small ResNet in plain torch.nn with
torchvision's layer names (conv1, bn1, layer1.0.conv1, ..., fc).
"""
import argparse
import sys

import torch
import torch.nn as nn


class BasicBlock(nn.Module):
    """torchvision's BasicBlock, for --arch tiny_resnet."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class TinyResNet(nn.Module):
    """A two-stage ResNet (8 and 16 channels) named as torchvision's resnet18."""

    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8, 1))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(arch, num_classes, pretrained):
    if arch == "tiny_resnet":
        return TinyResNet(num_classes)
    import torchvision

    ctor = getattr(torchvision.models, arch)
    if pretrained:
        try:
            model = ctor(weights=torchvision.models.get_model_weights(arch).IMAGENET1K_V1)
        except AttributeError:  # torchvision < 0.14
            model = ctor(pretrained=True)
    else:
        model = ctor(weights=None)
    replace_head(model, num_classes)
    return model


def replace_head(model, num_classes):
    """The last linear layer (ResNet's fc, VGG's classifier[6], ...) gets num_classes units."""
    if isinstance(getattr(model, "fc", None), nn.Linear):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
        return
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and isinstance(classifier[-1], nn.Linear):
        classifier[-1] = nn.Linear(classifier[-1].in_features, num_classes)
        return
    if isinstance(classifier, nn.Linear):
        model.classifier = nn.Linear(classifier.in_features, num_classes)
        return
    sys.exit(f"{type(model).__name__}: no fc or classifier layer to replace")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output", help="file to write (torch.jit.save)")
    p.add_argument("--arch", default="resnet18",
                   help="a torchvision.models constructor (resnet18, vgg16, mobilenet_v3_small, "
                   "...) or tiny_resnet")
    p.add_argument("--num-classes", type=int, required=True,
                   help="outputs of the new head: classes of a categorical label, 1 for binary")
    p.add_argument("--pretrained", action="store_true", help="ImageNet weights for the trunk")
    p.add_argument("--seed", type=int, default=0, help="seed of the random init")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    model = build(args.arch, args.num_classes, args.pretrained)
    model.eval()
    scripted = torch.jit.script(model)
    scripted.save(args.output)
    count = sum(t.numel() for t in model.parameters())
    print(f"{args.output}: {args.arch}, {args.num_classes} output(s), {count} parameters, "
          f"torch {torch.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
