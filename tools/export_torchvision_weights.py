#!/usr/bin/env python3
"""Write torchvision VGG or ResNet weights as a plain dict of CPU tensors that LibTorch's
torch::pickle_load reads (sluice's `weights = ...` and `sluice predict --weights`).

torchvision's own files hold an OrderedDict, which LibTorch cannot read; this script
re-saves them as a dict in torch.save's zip format.

  # ImageNet weights (downloads through torchvision's cache unless --from is given;
  # offline, it names the file to fetch elsewhere and pass with --from)
  tools/export_torchvision_weights.py vgg16-imagenet.pt
  tools/export_torchvision_weights.py vgg16-imagenet.pt --from ~/Downloads/vgg16-397923af.pth
  tools/export_torchvision_weights.py resnet18-imagenet.pt --arch resnet18
  # a random-init model with a fixed seed (tests), plus reference logits
  tools/export_torchvision_weights.py w.pt --random --seed 7 --reference ref.pt --input-size 64
"""
import argparse
import contextlib
import io
import sys

import torch
import torchvision


def weights_url(arch):
    """Where torchvision downloads the ImageNet weights of `arch` from."""
    try:
        return torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url
    except AttributeError:  # torchvision < 0.14
        family = "vgg" if arch.startswith("vgg") else "resnet"
        return getattr(torchvision.models, family).model_urls[arch]


def build(arch, random_init, seed):
    ctor = getattr(torchvision.models, arch)
    if random_init:
        torch.manual_seed(seed)
        return ctor(weights=None)
    try:
        weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
    except AttributeError:  # torchvision < 0.14
        return ctor(pretrained=True)
    return ctor(weights=weights)


def fail(message):
    """One line on stderr, exit status 1: no traceback for a missing file or network."""
    print(f"{sys.argv[0]}: error: {message}", file=sys.stderr)
    sys.exit(1)


def load_model(args):
    if args.source:
        model = getattr(torchvision.models, args.arch)(weights=None)
        try:
            state = torch.load(args.source, map_location="cpu")
        except OSError as e:
            fail(f"--from {args.source}: {e.strerror or e}")
        model.load_state_dict(state)
        return model
    # torch.hub says "Downloading ..." before it knows whether it can: in a log it is
    # held back and shown only once the download worked; a terminal shows it, and
    # the progress bar, as they come.
    said = io.StringIO()
    hold = contextlib.nullcontext() if sys.stderr.isatty() else contextlib.redirect_stderr(said)
    try:
        with hold:
            model = build(args.arch, args.random, args.seed)
        sys.stderr.write(said.getvalue())
        return model
    except OSError as e:  # urllib's URLError, a refused or timed-out connection
        reason = getattr(e, "reason", None) or e
        fail(f"cannot download the {args.arch} ImageNet weights ({reason}); on a machine with "
             f"network access download {weights_url(args.arch)} and pass it with "
             f"--from FILE (e.g. {sys.argv[0]} {args.output} --arch {args.arch} "
             f"--from {weights_url(args.arch).rsplit('/', 1)[-1]})")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output", help="file to write (torch.save of a plain dict)")
    p.add_argument("--arch", default="vgg16", choices=["vgg11", "vgg13", "vgg16", "vgg19",
                                                       "resnet18", "resnet34", "resnet50"])
    p.add_argument("--from", dest="source", help="a state_dict file (.pth) to convert "
                   "instead of torchvision's download")
    p.add_argument("--random", action="store_true", help="random init instead of ImageNet")
    p.add_argument("--seed", type=int, default=0, help="seed for --random and --reference")
    p.add_argument("--reference", help="also write {input, logits} of the model in eval "
                   "mode on a seeded random batch, for equivalence tests")
    p.add_argument("--input-size", type=int, default=224, help="reference input height/width")
    p.add_argument("--batch", type=int, default=2, help="reference batch size")
    args = p.parse_args()

    model = load_model(args)
    model.eval()
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    torch.save(dict(state), args.output)
    count = sum(v.numel() for v in state.values())
    print(f"{args.output}: {len(state)} tensors, {count} values ({args.arch})", file=sys.stderr)

    if args.reference:
        g = torch.Generator().manual_seed(args.seed + 1)
        x = torch.rand(args.batch, 3, args.input_size, args.input_size, generator=g)
        with torch.no_grad():
            logits = model(x)
        torch.save({"input": x.contiguous(), "logits": logits.contiguous()}, args.reference)


if __name__ == "__main__":
    main()
