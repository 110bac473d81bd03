"""Config errors as sluice.ConfigError with the positions `sluice check`
gives; a failing stage as sluice.StageError naming the stage, the item and the
cause; Ctrl-C stops the graph and raises KeyboardInterrupt, in time."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import sluice
from conftest import write_config

NUMBERS = """
    [pipeline]
    threads = 2

    [stages.numbers]
    use = "gen.range"
    count = 100

    [stages.fail]
    use = "debug.fail"
    input = "numbers"
    at = 42
    message = "forty-two is not allowed"
    """


def test_config_errors_carry_file_line_and_column(tmp_path, sluice_bin):
    config = write_config(tmp_path, """
        [stages.numbers]
        use = "gen.range"
        cout = 10

        [stages.scale]
        use = "math.scale"
        input = "numbrs"
        """)
    with pytest.raises(sluice.ConfigError) as info:
        sluice.Pipeline(config, output="scale")
    diagnostics = info.value.diagnostics
    assert [(d["line"], d["col"]) for d in diagnostics] == [(3, 1), (7, 9)]
    assert all(d["file"] == str(config) for d in diagnostics)
    assert "unknown parameter 'cout'" in diagnostics[0]["message"]
    assert "did you mean 'count'" in diagnostics[0]["message"]
    assert "numbrs" in diagnostics[1]["message"]
    # The text is `sluice check`'s, diagnostic for diagnostic.
    check = subprocess.run([sluice_bin, "check", str(config)], capture_output=True, text=True)
    assert check.returncode == 2
    for d in diagnostics:
        assert d["text"] in check.stderr
        assert d["text"] in str(info.value)
    assert isinstance(info.value, ValueError)


def test_overrides_are_checked_with_their_position(tmp_path):
    config = write_config(tmp_path, NUMBERS)
    with pytest.raises(sluice.ConfigError) as info:
        sluice.Pipeline(config, set={"numbers.count": -1})
    [d] = info.value.diagnostics
    assert d["file"] == "--set numbers.count=-1" and (d["line"], d["col"]) == (1, 15)
    assert "count" in d["message"]


def test_unknown_output_is_a_config_error(tmp_path):
    config = write_config(tmp_path, '[pipeline]\noutput = "fial"\n' + textwrap.dedent(NUMBERS)
                          .replace("[pipeline]\n", "", 1))
    with pytest.raises(sluice.ConfigError) as info:
        sluice.Pipeline(config)
    [d] = info.value.diagnostics
    assert (d["line"], d["col"]) == (2, 10)
    assert "pipeline.output names no stage 'fial'; did you mean 'fail'" in d["message"]


def test_stage_failure_names_stage_item_and_cause(tmp_path):
    p = sluice.Pipeline(write_config(tmp_path, NUMBERS))
    seen = []
    with pytest.raises(sluice.StageError) as info:
        for x in p:
            seen.append(x)
    e = info.value
    assert e.stage == "fail"
    assert e.item.startswith("item #42") and "42" in e.item
    assert e.cause == "forty-two is not allowed"
    assert "stage 'fail'" in str(e) and "forty-two" in str(e)
    assert seen == list(range(len(seen))) and len(seen) <= 42
    assert p.profile()["status"] == "failed"


SIGINT_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
import sluice
p = sluice.Pipeline({config!r})
try:
    for i, x in enumerate(p):
        if i == 3:
            print("ready", flush=True)
except KeyboardInterrupt:
    print("interrupted", p.profile()["status"], flush=True)
    sys.exit(7)
print("ended", flush=True)
"""


def test_sigint_stops_the_graph_and_raises_keyboard_interrupt(tmp_path):
    # Each item takes 20 ms in a serial sleeper: the run would last 200 s. The
    # items in flight (at most 8) still drain after the signal: 160 ms.
    config = write_config(tmp_path, """
        [pipeline]
        threads = 2
        max_in_flight = 8

        [stages.numbers]
        use = "gen.range"
        count = 10000

        [stages.slow]
        use = "work.sleep"
        input = "numbers"
        millis = 20
        concurrency = "serial"
        """)
    script = SIGINT_SCRIPT.format(tests=str(pathlib.Path(__file__).parent), config=str(config))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    assert proc.stdout.readline().strip() == "ready"
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the process hung after SIGINT")
    elapsed = time.monotonic() - start
    assert proc.returncode == 7, out
    assert out.strip() == "interrupted stopped"
    assert elapsed < 2.0
