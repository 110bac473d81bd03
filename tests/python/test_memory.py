"""Zero copy, lifetime and back-pressure: the images array is the pooled batch
buffer itself, keeps it alive after the pipeline is gone, gives it back to the
pool when it dies, and a slow consumer holds the graph back."""

import gc
import time

import numpy as np

import sluice
from sluice import _core


def test_images_are_the_pool_buffer_not_a_copy(data_config):
    _core._record_allocations()
    p = sluice.Pipeline(data_config, set={"index.epochs": 1})
    batch = next(iter(p))
    images = batch["images"]
    allocations = _core._allocations()
    address = images.__array_interface__["data"][0]
    # The array's data pointer is a buffer sluice allocated for a whole batch.
    assert allocations.get(address) == images.nbytes == 16 * 40 * 32 * 3
    assert not images.flags.owndata
    # Writing through the array changes the buffer others see: one memory, no copy.
    view = np.frombuffer(images, dtype=np.uint8)
    images[0, 0, 0, 0] ^= 0xFF
    assert view[0] == images[0, 0, 0, 0]
    p.close()


def test_buffers_return_to_the_pool(data_config):
    _core._record_allocations()
    p = sluice.Pipeline(data_config, set={"index.epochs": 4}, max_in_flight=8)
    addresses, batches = set(), 0
    for batch in p:
        addresses.add(batch["images"].__array_interface__["data"][0])
        batches += 1
        del batch
    batch_buffers = [a for a, n in _core._allocations().items() if n == 16 * 40 * 32 * 3]
    # Many batches, few buffers: each array gave its buffer back when it died.
    assert batches >= 40
    assert len(addresses) <= len(batch_buffers) <= 12


def test_arrays_outlive_the_pipeline(data_config):
    p = sluice.Pipeline(data_config, set={"index.epochs": 1})
    kept, copies = [], []
    for i, batch in enumerate(p):
        kept.append(batch["images"])
        copies.append(batch["images"].copy())
        if i == 5:
            break
    p.close()
    del p, batch
    gc.collect()
    # A new pipeline reuses no buffer a live array still points into.
    q = sluice.Pipeline(data_config, set={"index.epochs": 1, "augment.flip": False})
    for _ in q:
        pass
    del q
    gc.collect()
    for a, b in zip(kept, copies):
        assert np.array_equal(a, b)


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_slow_consumer_keeps_memory_flat(data_config):
    # 224x224 batches of 16 are 2.4 MB each: 60 batches held anywhere would be 140 MB.
    p = sluice.Pipeline(data_config, set={"index.epochs": 6, "augment.width": 224,
                                          "augment.height": 224}, max_in_flight=8)
    rss, batches = [], 0
    for batch in p:
        time.sleep(0.02)
        batches += 1
        if batches in (5, 15):
            gc.collect()
            rss.append(rss_bytes())
    gc.collect()
    rss.append(rss_bytes())
    assert batches >= 55
    assert rss[-1] - rss[0] < 40 * 2**20, [r // 2**20 for r in rss]
    assert p.profile()["peak_in_flight"] <= 8
