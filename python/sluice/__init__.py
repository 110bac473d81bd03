"""sluice from Python: a pipeline config as a fast, zero-copy data source.

    import sluice
    p = sluice.Pipeline("configs/demo.toml", set={"index.root": "demo-out/celeba"})
    for epoch in p.epochs():
        for batch in epoch.split("train"):
            batch["images"]   # uint8 NHWC NumPy array over the pooled batch buffer
            batch["labels"]   # int64, one per image
        for batch in epoch.split("validation"):
            ...
    print(p.profile_table())

The graph (decode, augment, batch) runs on sluice's C++ threads with the GIL
released; a small bounded queue hands its output to Python, so a slow loop
holds the graph back instead of letting memory grow.
"""

import json
import os
import re

from . import _core
from ._core import ConfigError, set_log_level

__all__ = ["Pipeline", "Epoch", "ConfigError", "StageError", "stages", "set_log_level"]


class StageError(RuntimeError):
    """A stage failed while the graph ran: `.stage`, `.item` and `.cause` say
    which stage, on which item, and why (the message says all three)."""

    def __init__(self, message, stage="", item="", cause=""):
        super().__init__(message)
        self.stage = stage
        self.item = item
        self.cause = cause


_FAILURE = re.compile(r"^stage '(?P<stage>[^']*)' failed(?: on (?P<item>item #\d+(?: \(.*?\))?))?: "
                      r"(?P<cause>.*)$", re.S)


def _stage_error(message, stage):
    m = _FAILURE.match(message)
    if not m:
        return StageError(message, stage=stage, cause=message)
    return StageError(message, stage=m.group("stage"), item=m.group("item") or "",
                      cause=m.group("cause"))


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, os.PathLike):
        return json.dumps(os.fspath(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a config value: {value!r}")


def _overrides(values):
    if values is None:
        return []
    if isinstance(values, dict):
        return [f"{k}={_toml_value(v)}" for k, v in values.items()]
    return [str(v) for v in values]  # already "stage.key=value"


def _distributed_rank():
    """(rank, world_size) of an initialised torch.distributed, else (-1, 0).
    RANK/WORLD_SIZE in the environment are read by the index sources."""
    import sys
    torch = sys.modules.get("torch")
    if torch is None:
        return -1, 0
    dist = getattr(torch, "distributed", None)
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except (RuntimeError, AttributeError):
        pass
    return -1, 0


def stages(plugins=()):
    """The stage types a pipeline may use: name, kind, ports and parameters."""
    return _core.stages([os.fspath(p) for p in plugins])


_DATA, _END_SPLIT, _END_EPOCH = "data", "end_of_split", "end_of_epoch"


class Pipeline:
    """A validated pipeline config whose output Python iterates.

    path      the config file (TOML), as for `sluice run`
    set       overrides, {"stage.key": value} (or ["stage.key=value", ...])
    threads   worker threads (None: the config's, else all cores)
    plugins   shared libraries with more stage types
    output    the stage Python takes items from (None: `[pipeline] output`,
              else the only stage nobody consumes); a sink is replaced by
              Python, which takes what fed it
    max_in_flight  items in flight per source (None: the config's)
    normalize False: `images` are the uint8 NHWC pixels, shared with the
              pool (no copy) and `normalization` says what scaling is still to
              apply; True: float32 NCHW with the scaling applied (a copy)
    queue_depth    items waiting between the graph and Python
    rank, world_size  shard the index sources (default: torch.distributed's
              when it is initialised; RANK/WORLD_SIZE are read by the sources)

    Raises ConfigError (with .diagnostics: file, line, col, message) when the
    config does not validate, as `sluice check` would.
    """

    def __init__(self, path, set=None, threads=None, plugins=(), output=None,
                 max_in_flight=None, normalize=False, queue_depth=2, rank=None,
                 world_size=None):
        if rank is None and world_size is None:
            rank, world_size = _distributed_rank()
        self._core = None
        self._core = _core.Pipeline(
            os.fspath(path), _overrides(set), int(threads or 0),
            [os.fspath(p) for p in plugins], output or "", int(max_in_flight or 0),
            int(queue_depth), bool(normalize), -1 if rank is None else int(rank),
            0 if world_size is None else int(world_size))
        self._pending = None
        self._started = False

    # -- the stream --------------------------------------------------------
    def _peek(self):
        if self._pending is None:
            if not self._started:
                self._start()
            try:
                element = self._core.next()
            except BaseException:
                # Ctrl-C while waiting (the core has stopped the run already) or
                # just after an item arrived: stop the run, then let it through.
                self.close()
                raise
            if element is None:
                self._started = False
                self._raise_if_failed()
                return None
            self._pending = element
        return self._pending

    def _take(self):
        element = self._peek()
        self._pending = None
        return element

    def _start(self):
        self._core.start()
        self._started = True
        self._pending = None

    def _raise_if_failed(self):
        status = self._core.report_status()
        if status is not None and status[0] == "failed":
            raise _stage_error(status[1], status[2])

    def __iter__(self):
        """Every item of one run (all epochs and splits); a new run each time.
        Leaving the loop early (break, an exception) stops the run."""
        if self._started:
            self.close()
        self._start()
        try:
            while True:
                element = self._take()
                if element is None:
                    return
                if element[0] == _DATA:
                    yield element[1]
        finally:
            if self._started:
                self.close()

    def epochs(self):
        """One Epoch per epoch of a new run; see Epoch.split. Leaving the loop
        early stops the run."""
        if self._started:
            self.close()
        self._start()
        try:
            yield from self._epochs()
        finally:
            if self._started:
                self.close()

    def _epochs(self):
        number = 0
        while True:
            element = self._peek()
            if element is None:
                return
            if element[0] == _DATA and isinstance(element[1], dict) and "epoch" in element[1]:
                number = element[1]["epoch"]
            elif element[0] == _END_SPLIT:
                number = element[1][1]
            elif element[0] == _END_EPOCH:
                number = element[1]
            epoch = Epoch(self, number)
            yield epoch
            epoch._drain()
            number += 1

    # -- reports -----------------------------------------------------------
    def profile(self):
        """The last run's per-stage report (the fields of `sluice run --profile`'s JSON)."""
        text = self._core.profile_json()
        if text is None:
            raise RuntimeError("no run has ended yet: iterate to the end or close() first")
        return json.loads(text)

    def profile_table(self):
        """The last run's per-stage table, as `sluice run` prints it."""
        text = self._core.profile_table()
        if text is None:
            raise RuntimeError("no run has ended yet: iterate to the end or close() first")
        return text

    @property
    def output(self):
        """The stage Python takes its items from."""
        return self._core.output

    @property
    def element_spec(self):
        """What Python receives, as `sluice check` prints it."""
        return self._core.output_spec

    @property
    def stage_ids(self):
        return list(self._core.stages)

    # -- lifetime ----------------------------------------------------------
    def close(self):
        """Stops a run in progress (sources stop, in-flight items drain) and
        joins every thread. Arrays already handed out stay valid."""
        if self._core is not None:
            self._core.close()
        self._pending = None
        self._started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Epoch:
    """One epoch of a Pipeline's stream. Iterate it for every item of the
    epoch, or `split(name)` for the items of one split; what is left unread
    is skipped when the next epoch starts."""

    def __init__(self, pipeline, number):
        self._p = pipeline
        self.number = number
        self._ended = False

    def split(self, name):
        """The items of split `name` ("train", "validation", ...) of this
        epoch; items of other splits before it are skipped."""
        while not self._ended:
            element = self._p._peek()
            if element is None:
                self._ended = True
                return
            kind, value = element
            if kind == _END_EPOCH:
                return
            self._p._take()
            if kind == _DATA:
                if not isinstance(value, dict) or value.get("split") == name:
                    yield value
            elif kind == _END_SPLIT and value[0] == name:
                return

    def __iter__(self):
        while not self._ended:
            element = self._p._peek()
            if element is None:
                self._ended = True
                return
            self._p._take()
            if element[0] == _END_EPOCH:
                self._ended = True
                return
            if element[0] == _DATA:
                yield element[1]

    def _drain(self):
        for _ in self:
            pass
