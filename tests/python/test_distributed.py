"""Distributed: each rank's index sources read their own shard, from
RANK/WORLD_SIZE (as the C++ trainer's do) or from the rank Python passes."""

import json
import os
import subprocess
import sys

import sluice

SCRIPT = """
import json, sluice
p = sluice.Pipeline({config!r}, set={{"index.epochs": 1}})
print(json.dumps([[b["split"], list(b["ids"])] for b in p]))
"""


def ids_by_split(batches):
    out = {}
    for split, ids in batches:
        out.setdefault(split, []).extend(ids)
    return out


def run_rank(config, rank, world):
    env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world))
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(config=str(config))], env=env,
                         check=True, capture_output=True, text=True).stdout
    return ids_by_split(json.loads(out))


def test_ranks_read_disjoint_shards_from_the_environment(data_config):
    whole = ids_by_split([[b["split"], b["ids"]]
                          for b in sluice.Pipeline(data_config, set={"index.epochs": 1})])
    r0, r1 = run_rank(data_config, 0, 2), run_rank(data_config, 1, 2)
    for split in ("train", "validation"):
        assert set(r0[split]) | set(r1[split]) == set(whole[split])
        assert len(r0[split]) + len(r1[split]) >= len(whole[split])
        assert abs(len(r0[split]) - len(r1[split])) <= 1
    # Train shards are padded to equal sizes; apart from the padding they are disjoint.
    assert len(set(r0["validation"]) & set(r1["validation"])) == 0
    assert len(r0["train"]) == len(r1["train"])


def test_rank_argument_shards_like_the_environment(data_config):
    env_r1 = run_rank(data_config, 1, 2)
    arg_r1 = ids_by_split([[b["split"], b["ids"]] for b in sluice.Pipeline(
        data_config, set={"index.epochs": 1}, rank=1, world_size=2)])
    assert arg_r1 == env_r1
