#!/usr/bin/env python3
"""PyTorch eager baseline for `sluice bench train`: the same training step in Python.

Same model (torchvision's vgg16 with the last classifier layer replaced by one unit,
the recipe's "replace_last" head; a layer-for-layer equivalent when torchvision is
missing or for narrow smoke-test models), same optimizer (Adam, lr 1e-4, over the
trainable parameters), same freezing (features frozen by default), same precision
(bf16 autocast on CUDA, fp32 on CPU), same memory format (channels_last on CUDA),
same input handling (random uint8 NHWC batches in pinned host memory, uploaded and
normalised with the ImageNet mean/std on the device every step) and, by default, the
same synchronisation (the loss and the correct count are read back every step, as
sluice's trainer does). Prints `key: value` lines ending with images_per_second.
"""
import argparse
import contextlib
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VGG16_PLAN = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
              512, 512, 512, "M", 512, 512, 512, "M"]


class Vgg(nn.Module):
    """torchvision.models.VGG's layout (features / avgpool / classifier)."""

    def __init__(self, divisor=1, num_classes=1000, dropout=0.5):
        super().__init__()
        layers, c = [], 3
        for v in VGG16_PLAN:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                out = max(1, v // divisor)
                layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(inplace=True)]
                c = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        hidden = max(1, 4096 // divisor)
        self.classifier = nn.Sequential(
            nn.Linear(c * 49, hidden), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build_model(divisor):
    if divisor == 1:
        try:
            import torchvision
            model = torchvision.models.vgg16(weights=None)
            source = "torchvision.models.vgg16 " + torchvision.__version__
        except (ImportError, TypeError):  # none, or one without the weights= API
            model, source = Vgg(1), "VGG16 in torchvision's layout (torchvision not installed)"
    else:
        model, source = Vgg(divisor), "VGG16 in torchvision's layout, width/%d" % divisor
    last = model.classifier[6]
    model.classifier[6] = nn.Linear(last.in_features, 1)  # replace_last
    return model, source


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--distinct-batches", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--width-divisor", type=int, default=1)
    p.add_argument("--freeze", choices=["features", "none"], default="features")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--sync", choices=["step", "end"], default="step",
                   help="step: read loss and accuracy back every step (as sluice); "
                        "end: only once at the end")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--peak-tflops", type=float, default=0.0)
    p.add_argument("--model-gflops", type=float, default=0.0,
                   help="GFLOPs per image for the utilisation (sluice bench train prints "
                        "model_gflops_per_image for the same model)")
    a = p.parse_args()

    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if a.device == "auto" else a.device))
    cuda = device.type == "cuda"
    bf16 = cuda and a.precision != "fp32"
    if a.precision == "bf16" and not cuda:
        raise SystemExit("bf16 needs CUDA")
    channels_last = cuda and not a.no_channels_last
    torch.manual_seed(a.seed)
    if cuda:
        torch.backends.cudnn.benchmark = True

    model, source = build_model(a.width_divisor)
    if a.freeze == "features":
        for q in model.features.parameters():
            q.requires_grad_(False)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.Adam(params, lr=a.lr)

    g = torch.Generator().manual_seed(a.seed)
    batches = []
    for _ in range(a.distinct_batches):
        x = torch.randint(0, 256, (a.batch, a.size, a.size, 3), dtype=torch.uint8, generator=g)
        y = torch.randint(0, 2, (a.batch,), generator=g)
        if cuda:
            x = x.pin_memory()
        batches.append((x, y))
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64)
    scale = (1.0 / (255.0 * std)).float().view(1, 3, 1, 1).to(device)
    shift = (-mean / std).float().view(1, 3, 1, 1).to(device)

    def step(i):
        host, labels = batches[i % len(batches)]
        x = host.to(device, non_blocking=cuda).permute(0, 3, 1, 2).float()
        x = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
        x.mul_(scale).add_(shift)
        y = labels.to(device, torch.float)
        opt.zero_grad()
        with (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if bf16
              else contextlib.nullcontext()):
            logits = model(x).float()
        logits = logits.squeeze(1)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        loss.backward()
        opt.step()
        if a.sync == "step":
            value = loss.item()
            (logits.detach().ge(0) == y.ge(0.5)).sum().item()
            return value
        return loss

    for i in range(a.warmup):
        step(i)
    if cuda:
        torch.cuda.synchronize()
    times = []
    start = time.perf_counter()
    last = None
    for i in range(a.warmup, a.warmup + a.steps):
        t0 = time.perf_counter()
        last = step(i)
        times.append((time.perf_counter() - t0) * 1e3)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    last = float(last)
    times.sort()
    images = a.steps * a.batch
    ips = images / seconds
    n_params = sum(q.numel() for q in model.parameters())
    print("model: %s (replace_last head)" % source)
    print("torch: %s" % torch.__version__)
    print("device: %s" % (torch.cuda.get_device_name(device) if cuda else "cpu"))
    print("precision: %s" % ("bf16-autocast" if bf16 else "fp32"))
    print("channels_last: %s" % str(channels_last).lower())
    print("freeze: %s" % a.freeze)
    print("sync: %s" % a.sync)
    print("size: %d\nbatch: %d" % (a.size, a.batch))
    print("parameters: %d\ntrainable_parameters: %d" % (n_params, sum(q.numel() for q in params)))
    print("steps: %d\nimages: %d\nseconds: %.3f" % (a.steps, images, seconds))
    print("step_ms_median: %.3f\nstep_ms_min: %.3f\nstep_ms_max: %.3f"
          % (times[len(times) // 2], times[0], times[-1]))
    print("last_loss: %.4f" % last)
    if a.model_gflops > 0:
        tflops = ips * a.model_gflops / 1e3
        print("model_tflops: %.3f" % tflops)
        if a.peak_tflops > 0:
            print("mfu: %.4f" % (tflops / a.peak_tflops))
    print("images_per_second: %.1f" % ips)


if __name__ == "__main__":
    main()
