"""sluice for PyTorch: a pipeline where a training loop expects a loader.

    import sluice, sluice.torch
    loader = sluice.torch.Loader("configs/demo.toml", set={"index.root": root},
                                 device="cuda")
    for epoch in loader.epochs():
        for x, y in epoch.split("train"):       # x: float NCHW on the device
            ...
        for x, y in epoch.split("validation"):
            ...

Images travel to the device as uint8 (a quarter of float32's bytes) straight
from the pooled batch buffer (torch.from_numpy shares it), and are scaled
there, once per batch, as the graph's normalisation says.
"""

import torch

import sluice


def _scale(x, normalization):
    """uint8 NHWC -> float NCHW with the batch's pending scaling, on x's device."""
    x = x.permute(0, 3, 1, 2).float()
    if normalization is None:
        return x
    if normalization["kind"] == "rescale":
        return x.mul_(normalization["scale"])
    mean = torch.tensor(normalization["mean"], device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(normalization["std"], device=x.device).view(1, -1, 1, 1)
    return x.div_(255.0).sub_(mean).div_(std)


def to_tensors(batch, device=None, normalize=True, label_dtype=torch.int64):
    """(images, labels) of a sluice batch as tensors on `device`."""
    x = torch.from_numpy(batch["images"])
    y = torch.from_numpy(batch["labels"])
    if device is not None:
        pin = x.device.type == "cpu" and torch.device(device).type == "cuda"
        x = x.pin_memory() if pin else x
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
    if normalize:
        x = _scale(x, batch["normalization"])
    return x, y.to(label_dtype)


_IN_WORKER = ("sluice.torch.Loader cannot run in a DataLoader worker process: sluice already "
              "runs its own threads, and each worker would run the whole pipeline and repeat "
              "every batch. Use DataLoader(loader, batch_size=None, num_workers=0), or iterate "
              "the Loader itself")


class _Epoch:
    def __init__(self, epoch, convert):
        self._epoch = epoch
        self._convert = convert
        self.number = epoch.number

    def split(self, name):
        batches = self._epoch.split(name)  # an unknown name raises here
        return sluice.Split((self._convert(batch) for batch in batches), batches.__len__)

    def __len__(self):
        return len(self._epoch)

    def __iter__(self):
        for batch in self._epoch:
            yield self._convert(batch)


class Loader(torch.utils.data.IterableDataset):
    """(images, labels) tensor pairs from a sluice pipeline.

    pipeline   a sluice.Pipeline, or a config path (then **kwargs go to Pipeline)
    split      only this split's batches when iterating the loader itself
    device     where the tensors go ("cuda", "cpu", a torch.device; None: stay)
    normalize  scale to float NCHW as the graph says (on `device`); False:
               the uint8 NHWC pixels as they are
    label_dtype  e.g. torch.float32 for BCEWithLogitsLoss

    sluice runs decode and augmentation on its own threads: give the loader to
    a DataLoader with num_workers=0 (and batch_size=None), or iterate it
    directly. DataLoader worker processes would each run the whole pipeline
    and repeat every batch, so the loader refuses to iterate in one.
    """

    def __init__(self, pipeline, split=None, device=None, normalize=True,
                 label_dtype=torch.int64, **kwargs):
        super().__init__()
        self.pipeline = pipeline if isinstance(pipeline, sluice.Pipeline) else \
            sluice.Pipeline(pipeline, **kwargs)
        self.split = split
        self.device = torch.device(device) if device is not None else None
        self.normalize = normalize
        self.label_dtype = label_dtype
        if split is not None:
            self.pipeline._check_split(split)

    def _convert(self, batch):
        return to_tensors(batch, self.device, self.normalize, self.label_dtype)

    def __iter__(self):
        if torch.utils.data.get_worker_info() is not None:
            raise RuntimeError(_IN_WORKER)
        for batch in self.pipeline:
            if self.split is None or batch.get("split") == self.split:
                yield self._convert(batch)

    def __len__(self):
        """What iterating the loader yields: the batches of `split` (else of
        every split) of every epoch of the run; per epoch, len(epoch.split(name))
        or self.pipeline.lengths()."""
        if self.split is None:
            return len(self.pipeline)
        return self.pipeline.lengths().get(self.split, 0) * self.pipeline._epochs_in_run

    def epochs(self):
        for epoch in self.pipeline.epochs():
            yield _Epoch(epoch, self._convert)

    def close(self):
        self.pipeline.close()
