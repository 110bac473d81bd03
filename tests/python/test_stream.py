"""Epochs and splits as the stream's markers draw them; the output a config
names; the profile and the stage list; closing mid-run joins every thread."""

import os
import time

import numpy as np
import pytest

import sluice
from conftest import write_config


def split_sizes(celeba):
    """Rows per split of the synthetic CelebA's partition file (0 train, 1 validation)."""
    counts = {}
    with open(celeba / "list_eval_partition.csv") as f:
        next(f)
        for line in f:
            part = line.strip().split(",")[1]
            counts[part] = counts.get(part, 0) + 1
    return counts.get("0", 0), counts.get("1", 0)


def test_epochs_and_splits(data_config, celeba):
    train, validation = split_sizes(celeba)
    p = sluice.Pipeline(data_config)
    seen = []
    for epoch in p.epochs():
        t = sum(len(b["labels"]) for b in epoch.split("train"))
        v = [b for b in epoch.split("validation")]
        assert all(b["split"] == "validation" and b["epoch"] == epoch.number for b in v)
        seen.append((epoch.number, t, sum(len(b["labels"]) for b in v)))
    assert seen == [(0, train, validation), (1, train, validation)]


def test_validation_alone_skips_train(data_config, celeba):
    _, validation = split_sizes(celeba)
    p = sluice.Pipeline(data_config)
    counts = [sum(len(b["ids"]) for b in e.split("validation")) for e in p.epochs()]
    assert counts == [validation, validation]


def test_an_unknown_split_raises_naming_the_splits_and_skips_nothing(data_config, celeba):
    train, validation = split_sizes(celeba)
    p = sluice.Pipeline(data_config)
    assert p.splits == ["train", "validation"]
    seen = []
    for epoch in p.epochs():
        with pytest.raises(ValueError, match="no split 'val' in this stream: its splits are "
                                             "'train', 'validation'"):
            epoch.split("val")
        t = sum(len(b["labels"]) for b in epoch.split("train"))
        v = sum(len(b["labels"]) for b in epoch.split("validation"))
        seen.append((epoch.number, t, v))
    assert seen == [(0, train, validation), (1, train, validation)]


@pytest.mark.parametrize("options", [
    {}, {"set": {"batch.drop_last": True}}, {"set": {"batch.batch_size": 7}},
    {"rank": 1, "world_size": 3}])
def test_len_is_what_iterating_yields(data_config, options):
    p = sluice.Pipeline(data_config, **options)
    per_epoch = p.lengths()
    assert set(per_epoch) == {"train", "validation"} and per_epoch["train"] > 2
    for epoch in p.epochs():
        total = 0
        for name in ("train", "validation"):
            split = epoch.split(name)
            expected = len(split)
            assert expected == per_epoch[name] == sum(1 for _ in split)
            total += expected
        assert len(epoch) == total
    assert len(p) == 2 * sum(per_epoch.values()) == sum(1 for _ in p)


def test_len_counts_items_when_nothing_batches_them(tmp_path):
    config = write_config(tmp_path, """
        [stages.numbers]
        use = "gen.range"
        count = 5
        epochs = 3

        [stages.total]
        use = "util.sum"
        input = "numbers"
        """)
    p = sluice.Pipeline(config)
    assert len(p) == 15 == len(list(p))


def test_len_of_merged_streams_says_why_it_cannot_count(tmp_path):
    config = write_config(tmp_path, """
        [stages.a]
        use = "gen.range"
        count = 3

        [stages.b]
        use = "gen.range"
        count = 4

        [stages.total]
        use = "util.sum"
        input = ["a", "b"]
        """)
    with pytest.raises(TypeError, match="merges inputs"):
        len(sluice.Pipeline(config))


def test_label_kind_and_class_names_as_python_values(data_config):
    p = sluice.Pipeline(data_config, set={"index.epochs": 1})
    assert p.label_kind == "binary"
    assert p.class_names == ["Female", "Male"]
    assert '"Male" (Female/Male)' in p.element_spec


def test_categorical_class_names_are_the_class_folders(tmp_path):
    for name in ("dog", "cat", "fox"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        (tmp_path / "pets" / name / "a.jpg").write_bytes(b"")
    config = write_config(tmp_path, f"""
        [stages.index]
        use = "dir.index"
        root = "{tmp_path / 'pets'}"
        split = ["train"]

        [stages.sink]
        use = "util.discard"
        input = "index"
        """)
    p = sluice.Pipeline(config)
    assert p.label_kind == "categorical"
    assert p.class_names == ["cat", "dog", "fox"]


def test_a_second_iteration_is_a_new_identical_run(data_config):
    p = sluice.Pipeline(data_config, set={"index.epochs": 1})
    first = [b["ids"] for b in p]
    second = [b["ids"] for b in p]
    assert first == second and len(first) > 5


def test_output_names_a_stage_and_the_rest_is_left_out(tmp_path):
    config = write_config(tmp_path, """
        [pipeline]
        output = "scaled"

        [stages.numbers]
        use = "gen.range"
        count = 5
        epochs = 2

        [stages.scaled]
        use = "math.scale"
        input = "numbers"
        factor = 10

        [stages.total]
        use = "util.sum"
        input = "scaled"
        """)
    p = sluice.Pipeline(config)
    assert p.output == "scaled"
    assert "total" not in p.stage_ids
    assert list(p) == [0, 10, 20, 30, 40] * 2
    assert [list(e) for e in p.epochs()] == [[0, 10, 20, 30, 40]] * 2
    # The argument wins over [pipeline] output.
    assert list(sluice.Pipeline(config, output="numbers", set={"numbers.epochs": 1})) == [
        0, 1, 2, 3, 4]


def test_demo_config_feeds_python_what_feeds_the_trainer(celeba):
    repo = os.path.join(os.path.dirname(__file__), "..", "..")
    p = sluice.Pipeline(os.path.join(repo, "configs", "demo.toml"),
                        set={"index.root": str(celeba), "index.epochs": 1})
    assert p.output == "train"
    b = next(iter(p))
    assert b["images"].shape == (32, 80, 64, 3)
    p.close()


def test_profile_and_table(data_config):
    p = sluice.Pipeline(data_config, set={"index.epochs": 1})
    with pytest.raises(RuntimeError):
        p.profile()
    n = sum(len(b["ids"]) for b in p)
    prof = p.profile()
    stages = {s["id"]: s for s in prof["stages"]}
    assert list(stages) == ["index", "decode", "augment", "batch", "python"]
    assert stages["decode"]["items_in"] == n
    assert stages["python"]["type"] == "python.output"
    assert {"busy_s", "latency_us", "items_per_s", "utilisation"} <= set(stages["augment"])
    assert stages["augment"]["latency_us"]["p50"] > 0
    assert prof["status"] == "completed"
    table = p.profile_table()
    for sid in stages:
        assert sid in table


def test_stage_types_with_parameters():
    types = {s["name"]: s for s in sluice.stages()}
    assert "python.output" not in types
    augment = types["image.augment"]
    assert augment["kind"] == "transform" and augment["input"] == "Image"
    params = {p["name"]: p for p in augment["params"]}
    assert params["width"]["type"] == "integer" and params["width"]["default"] == 224
    assert types["gen.range"]["output"] == "Int"


def live_threads():
    return len(os.listdir("/proc/self/task"))


def threads_back_to(count, seconds=10.0):
    """Whether the thread count falls to `count` or below within `seconds` (no
    thread of the run is left): oneTBB's idle workers, counted in `count`, may
    also leave on their own meanwhile, and a loaded machine takes its time."""
    deadline = time.monotonic() + seconds
    while live_threads() > count and time.monotonic() < deadline:
        time.sleep(0.02)
    return live_threads() <= count


def test_close_mid_epoch_joins_every_thread(data_config):
    list(sluice.Pipeline(data_config, set={"index.epochs": 1}))  # TBB's workers exist from here on
    before = live_threads()
    with sluice.Pipeline(data_config, set={"index.epochs": 50}) as p:
        it = iter(p)
        for _ in range(3):
            next(it)
    assert p.profile()["status"] == "stopped"
    assert threads_back_to(before)
    p2 = sluice.Pipeline(data_config, set={"index.epochs": 50})
    it = iter(p2)
    next(it)
    assert live_threads() > before  # the run's own threads (graph, timeline sampler)
    del p2, it
    assert threads_back_to(before)
    # Leaving a loop early stops the run too.
    p3 = sluice.Pipeline(data_config, set={"index.epochs": 50})
    for _ in p3:
        break
    assert p3.profile()["status"] == "stopped" and threads_back_to(before)
