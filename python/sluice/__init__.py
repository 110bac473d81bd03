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

Arrays are NumPy arrays over sluice's buffers: the buffer protocol and
`__dlpack__` hand them on without a copy (torch.from_dlpack(batch["images"])).

Epochs count from 0 here (`epoch.number`, `batch["epoch"]`), as the stream
numbers them; the CLI's output counts from 1.

The graph (decode, augment, batch) runs on sluice's C++ threads with the GIL
released; a small bounded queue hands its output to Python, so a slow loop
holds the graph back instead of letting memory grow.
"""

import json
import os
import re
import threading

from . import _core
from ._core import ConfigError, set_log_level

__all__ = ["Pipeline", "Epoch", "Split", "ConfigError", "StageError", "stages", "set_log_level"]


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
    """(rank, world_size) of an initialised torch.distributed, else (None, None).
    RANK/WORLD_SIZE in the environment are read by the index sources."""
    import sys
    torch = sys.modules.get("torch")
    if torch is None:
        return None, None
    dist = getattr(torch, "distributed", None)
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except (RuntimeError, AttributeError):
        pass
    return None, None


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
    config does not validate, as `sluice check` would, or an option is out of
    the range the CLI allows (threads in [0, 4096], max_in_flight 0 or in
    [2, 2^20], 0 <= rank < world_size).

    Threads: one thread iterates a Pipeline at a time (another raises
    RuntimeError while a run is under way); close() may come from any thread
    and ends the iteration under way cleanly.
    """

    def __init__(self, path, set=None, threads=None, plugins=(), output=None,
                 max_in_flight=None, normalize=False, queue_depth=2, rank=None,
                 world_size=None):
        if rank is None and world_size is None:
            rank, world_size = _distributed_rank()
        self._core = None
        self._args = dict(path=os.fspath(path), set=_overrides(set), threads=threads,
                          plugins=[os.fspath(p) for p in plugins], rank=rank,
                          world_size=world_size)
        self._core = _core.Pipeline(
            self._args["path"], self._args["set"], _int64(threads or 0),
            self._args["plugins"], output or "", _int64(max_in_flight or 0),
            int(queue_depth), bool(normalize), None if rank is None else _int64(rank),
            None if world_size is None else _int64(world_size))
        self._lengths = None
        self._epochs_in_run = None  # the source's epochs, set with _lengths
        self._lock = threading.Lock()  # guards _run, _owner, _pending; held while starting or closing
        self._run = None    # the number of the run under way (None: none)
        self._owner = None  # the thread iterating it
        self._pending = None

    # -- the stream --------------------------------------------------------
    # Every iterator holds the number of its run; once close() (from any thread)
    # or a new run replaced it, the iterator ends, and never starts a run itself.
    def _peek(self, run):
        with self._lock:
            if run != self._run:
                return None
            if self._owner != threading.get_ident():
                raise RuntimeError(_ANOTHER_THREAD)
            if self._pending is not None:
                return self._pending
        try:
            element = self._core.next(run)
        except BaseException:
            # Ctrl-C while waiting (the core has stopped the run already) or
            # just after an item arrived: stop the run, then let it through.
            self._close_run(run)
            raise
        with self._lock:
            if run != self._run:
                return None  # closed meanwhile: what arrived is dropped
            if element is None:
                self._run = self._owner = None
            else:
                self._pending = element
        if element is None:
            self._raise_if_failed()
        return element

    def _take(self, run):
        element = self._peek(run)
        with self._lock:
            if run == self._run:
                self._pending = None
        return element

    def _start(self):
        """Starts a run for the calling thread; a run it started before ends."""
        me = threading.get_ident()
        with self._lock:
            if self._run is not None and self._owner != me:
                raise RuntimeError(_ANOTHER_THREAD)
            self._core.close()
            self._run = self._core.start()
            self._owner = me
            self._pending = None
            return self._run

    def _close_run(self, run):
        with self._lock:
            if run == self._run:
                self._close_locked()

    def _raise_if_failed(self):
        status = self._core.report_status()
        if status is not None and status[0] == "failed":
            raise _stage_error(status[1], status[2])

    def __iter__(self):
        """Every item of one run (all epochs and splits); a new run each time.
        Leaving the loop early (break, an exception) stops the run."""
        run = self._start()
        try:
            while True:
                element = self._take(run)
                if element is None:
                    return
                if element[0] == _DATA:
                    yield element[1]
        finally:
            self._close_run(run)

    def epochs(self):
        """One Epoch per epoch of a new run; see Epoch.split. Leaving the loop
        early stops the run."""
        run = self._start()
        try:
            yield from self._epochs(run)
        finally:
            self._close_run(run)

    def _epochs(self, run):
        number = 0
        while True:
            element = self._peek(run)
            if element is None:
                return
            if element[0] == _DATA and isinstance(element[1], dict) and "epoch" in element[1]:
                number = element[1]["epoch"]
            elif element[0] == _END_SPLIT:
                number = element[1][1]
            elif element[0] == _END_EPOCH:
                number = element[1]
            epoch = Epoch(self, run, number)
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

    @property
    def splits(self):
        """The splits each epoch holds, in stream order (["train", "validation"]);
        empty when the graph does not say."""
        return list(self._core.output_splits)

    @property
    def label_kind(self):
        """"binary", "categorical" or "multi-label", as `element_spec` says; None
        when the graph does not say what the labels mean."""
        label = self._core.output_label
        return label["kind"] if label else None

    @property
    def class_names(self):
        """The names of the label values, by value: binary ["Female", "Male"]
        (0, 1), categorical the N class names by id, multi-label the K
        attribute names; None when the graph does not say."""
        label = self._core.output_label
        return list(label["names"]) if label else None

    def __len__(self):
        """What iterating the Pipeline yields: batches (items, when no
        image.batch feeds Python) of every split of every epoch of the run;
        per epoch and split, see lengths()."""
        per_epoch = sum(self.lengths().values())
        return per_epoch * self._epochs_in_run

    def lengths(self):
        """{split: batches per epoch} (items, when no image.batch feeds Python),
        from the index's sample counts (after sharding) and the batch size
        (rounded up, or down with drop_last). The first call reads the index
        once, without decoding anything. Samples a stage drops on the way (a
        file that fails to decode) make these an upper bound. Raises TypeError
        when the graph feeding Python merges several inputs."""
        if self._lengths is None:
            self._lengths = self._count_lengths()
        return dict(self._lengths)

    def _count_lengths(self):
        chain = self._core.upstream
        if not chain:
            raise TypeError("len() needs the items Python takes to come from one source "
                            "through single-input stages; this graph merges inputs")
        source, source_type, params = chain[0]
        if "epochs" not in params:
            raise TypeError(f"len(): the source '{source}' ({source_type}) has no epochs")
        batching = [c for c in chain if c[1] == "image.batch"]
        if len(batching) > 1:
            raise TypeError("len(): more than one image.batch feeds Python")
        a = self._args
        self._epochs_in_run = params["epochs"]
        index = Pipeline(a["path"], set=a["set"] + [f"{source}.epochs=1"],
                         threads=a["threads"], plugins=a["plugins"], output=source,
                         rank=a["rank"], world_size=a["world_size"])
        counts = {name: 0 for name in self.splits}
        with index:
            for item in index:
                split = item.get("split") if isinstance(item, dict) else None
                counts[split] = counts.get(split, 0) + 1
        if not batching:
            return counts
        size, drop_last = batching[0][2]["batch_size"], batching[0][2]["drop_last"]
        return {k: n // size if drop_last else -(-n // size) for k, n in counts.items()}

    def _check_split(self, name):
        known = self.splits
        if known and name not in known:
            raise ValueError(f"no split {name!r} in this stream: its splits are "
                             + ", ".join(repr(s) for s in known))

    # -- lifetime ----------------------------------------------------------
    def close(self):
        """Stops a run in progress (sources stop, in-flight items drain) and
        joins every thread. Arrays already handed out stay valid. Any thread
        may call it: a loop under way on another thread ends as if the run had
        ended, without an error."""
        if self._core is None:
            return
        with self._lock:
            self._close_locked()

    def _close_locked(self):
        self._core.close()
        self._run = self._owner = None
        self._pending = None

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


_ANOTHER_THREAD = ("this Pipeline is being iterated by another thread: one Pipeline is one "
                   "stream, iterated by one thread at a time (close() it first, or make one "
                   "Pipeline per thread)")


def _int64(value):
    """An option as the core takes it: out-of-range values stay out of range (and
    are refused with the allowed range) instead of failing the conversion."""
    return max(-2**63, min(int(value), 2**63 - 1))


class Split:
    """The items of one split of an epoch, once; len() is the split's batches
    per epoch (Pipeline.lengths())."""

    def __init__(self, items, length):
        self._items = items
        self._length = length

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._items)

    def __len__(self):
        return self._length()

    def close(self):
        """Leaves the split; the rest of it is skipped when the next one is read."""
        self._items.close()


class Epoch:
    """One epoch of a Pipeline's stream. Iterate it for every item of the
    epoch, or `split(name)` for the items of one split; what is left unread
    is skipped when the next epoch starts.

    `number` counts from 0, as a batch's "epoch" field does (the stream's own
    numbering); the CLI's logs and reports count from 1, so its "epoch 1" is
    number 0 here."""

    def __init__(self, pipeline, run, number):
        self._p = pipeline
        self._run = run
        self.number = number
        self._ended = False

    def split(self, name):
        """The items of split `name` ("train", "validation", ...) of this
        epoch; items of other splits before it are skipped. A name the stream
        has no split of raises ValueError at once, naming the splits it has,
        and skips nothing."""
        self._p._check_split(name)
        return Split(self._split(name), lambda: self._p.lengths().get(name, 0))

    def __len__(self):
        """Batches of this epoch, every split together (Pipeline.lengths())."""
        return sum(self._p.lengths().values())

    def _split(self, name):
        while not self._ended:
            element = self._p._peek(self._run)
            if element is None:
                self._ended = True
                return
            kind, value = element
            if kind == _END_EPOCH:
                return
            self._p._take(self._run)
            if kind == _DATA:
                if not isinstance(value, dict) or value.get("split") == name:
                    yield value
            elif kind == _END_SPLIT and value[0] == name:
                return

    def __iter__(self):
        while not self._ended:
            element = self._p._peek(self._run)
            if element is None:
                self._ended = True
                return
            self._p._take(self._run)
            if element[0] == _END_EPOCH:
                self._ended = True
                return
            if element[0] == _DATA:
                yield element[1]

    def _drain(self):
        for _ in self:
            pass
