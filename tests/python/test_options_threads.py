"""Options are checked as the CLI checks them (the same ParamSpecs, ranges and
words), and a Pipeline is safe to close from another thread: the loop under way
ends cleanly (no new run, no hang); a second thread iterating the same Pipeline
gets a clear error instead of a hang."""

import subprocess
import threading
import time

import pytest

import sluice
from conftest import write_config

COUNTING = """
    [pipeline]
    threads = 2

    [stages.numbers]
    use = "gen.range"
    count = {count}

    [stages.scaled]
    use = "math.scale"
    input = "numbers"
    factor = 1
    """


@pytest.fixture
def counting(tmp_path):
    def make(count):
        return write_config(tmp_path, COUNTING.format(count=count), name=f"count{count}.toml")
    return make


def refused(config, **options):
    with pytest.raises(sluice.ConfigError) as info:
        sluice.Pipeline(config, output="scaled", **options)
    return str(info.value)


def cli_refusal(sluice_bin, config, *args):
    r = subprocess.run([sluice_bin, "run", str(config), *args], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    return r.stderr


@pytest.mark.parametrize("python, cli, words", [
    ({"threads": 10**6}, ["--threads", "1000000"], "must be in [0, 4096], got 1000000"),
    ({"threads": -1}, ["--threads", "-1"], "must be in [0, 4096], got -1"),
    ({"max_in_flight": 1}, ["--max-in-flight", "1"], "must be 0 (the default) or at least 2, got 1"),
    ({"max_in_flight": 2**21}, ["--max-in-flight", str(2**21)],
     "must be in [0, 1048576], got 2097152"),
])
def test_options_are_refused_with_the_cli_ranges(counting, sluice_bin, python, cli, words):
    config = counting(10)
    assert words in refused(config, **python)
    assert words in cli_refusal(sluice_bin, config, *cli)


def test_an_option_too_large_for_64_bits_is_refused_not_a_type_error(counting):
    assert "threads must be in [0, 4096]" in refused(counting(10), threads=10**30)


@pytest.mark.parametrize("rank, world_size, words", [
    (2, 2, "rank must be below world_size 2, got 2"),
    (-1, 2, "rank must be >= 0, got -1"),
    (-5, 3, "rank must be >= 0, got -5"),
    (0, 0, "world_size must be in [1, 65536], got 0"),
    (None, 2, "world_size is given without rank"),
    (0, -2, "world_size must be in [1, 65536], got -2"),
    (3, None, "rank is given without world_size"),
])
def test_bad_rank_or_world_size_is_refused(counting, rank, world_size, words):
    assert words in refused(counting(10), rank=rank, world_size=world_size)


def test_good_options_still_run(counting):
    config = counting(10)
    assert sorted(sluice.Pipeline(config, output="scaled", threads=2, max_in_flight=2)) == list(
        range(10))
    sluice.Pipeline(config, output="scaled", threads=4096).close()  # the limit itself is fine
    # rank 1 of 2 takes every other item (gen.range is not an index source: all 10).
    assert len(list(sluice.Pipeline(config, output="scaled", rank=1, world_size=2))) == 10


def iterate_in_thread(pipeline, seen, started):
    """Iterates `pipeline` on a new thread, appending what comes to `seen`."""
    outcome = {}

    def body():
        try:
            for value in pipeline:
                seen.append(value)
                started.set()
            outcome["ended"] = True
        except BaseException as e:  # noqa: BLE001 - reported to the test
            outcome["error"] = e
    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, outcome


@pytest.mark.parametrize("after", [1, 50, 400])
def test_close_from_another_thread_ends_the_loop_without_a_new_run(counting, after):
    count = 10**7  # far more than arrive before close()
    p = sluice.Pipeline(counting(count), output="scaled")
    seen = []
    started = threading.Event()
    t, outcome = iterate_in_thread(p, seen, started)
    assert started.wait(30)
    while len(seen) < after and t.is_alive():
        time.sleep(0.001)
    p.close()
    t.join(15)
    assert not t.is_alive(), "the loop did not end after close()"
    assert outcome == {"ended": True}
    assert 0 < len(seen) < count
    # One run only: every value once (a restarted run would repeat 0, 1, ...).
    assert len(set(seen)) == len(seen)
    assert p.profile()["status"] == "stopped"
    # The pipeline runs again afterwards, from this thread.
    assert sorted(sluice.Pipeline(counting(20), output="scaled")) == list(range(20))


def test_close_races_with_the_loop_many_times(counting):
    """close() at every moment of a short run: never a hang, never a second run."""
    p = sluice.Pipeline(counting(300), output="scaled")
    for i in range(30):
        seen = []
        started = threading.Event()
        t, outcome = iterate_in_thread(p, seen, started)
        time.sleep(0.0005 * i)
        p.close()
        t.join(15)
        assert not t.is_alive(), f"round {i}: the loop hangs after close()"
        assert outcome == {"ended": True}, f"round {i}: {outcome}"
        assert len(seen) <= 300 and len(set(seen)) == len(seen), f"round {i}: a second run"


def test_a_second_thread_iterating_the_same_pipeline_gets_a_clear_error(counting):
    p = sluice.Pipeline(counting(1000), output="scaled")
    it = iter(p)
    first = next(it)
    errors = []

    def other():
        for method in (lambda: next(iter(p)), lambda: next(p.epochs())):
            try:
                method()
            except RuntimeError as e:
                errors.append(str(e))
    t = threading.Thread(target=other)
    t.start()
    t.join(15)
    assert not t.is_alive(), "the second thread hangs"
    assert len(errors) == 2
    assert all("being iterated by another thread" in e for e in errors)
    # The first thread's run goes on, whole.
    rest = list(it)
    assert sorted([first] + rest) == list(range(1000))


def test_after_one_thread_is_done_another_may_iterate(counting):
    p = sluice.Pipeline(counting(100), output="scaled")
    assert sorted(p) == list(range(100))
    result = []
    t = threading.Thread(target=lambda: result.extend(p))
    t.start()
    t.join(30)
    assert sorted(result) == list(range(100))
