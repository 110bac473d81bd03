#!/usr/bin/env python3
"""Runs the shell, console and Python blocks of a Markdown file, as a reader would.

    tools/docs/run_doc_blocks.py --build BUILD_DIR FILE.md [--keep] [--list]

Every fenced block whose language is sh, bash, shell, console or python runs, in
the file's order, in one temporary folder (so a later block sees what an earlier
one wrote), unless its first line is a visible marker saying why not:

    # not run by the docs tests: needs a GPU

The reasons are the ones a CPU-only test machine cannot meet: a GPU, the network,
several machines, or the build and test suite themselves. Any other block fails
the test if it drifts from the code:

- sh/bash/shell: the block runs as one bash script under `set -eo pipefail`; a
  command that fails fails the test.
- console: each `$ COMMAND` line (a trailing backslash continues it) runs on its
  own; it must exit 0, or with N when the line ends in `# exit N`. The lines shown
  under it must appear in its output (stdout and stderr), in that order, each as a
  whole line; runs of spaces compare equal, and `...` inside a line stands for any
  text (a port, a time). A line that is `...` alone is left out of the comparison.
- python: the block runs as a script with `build/python` on PYTHONPATH. `python3`
  in any block is the interpreter that runs this script (ctest passes Debian's).
- A block whose info string has `file=NAME` (```toml file=bad.toml) is written to
  NAME in the temporary folder before later blocks run; `file=NAME append` appends.
  Such blocks are not run themselves. A block with no language whose first line
  starts with `$ ` is an error: label it console.

The temporary folder looks like a checkout: configs/, graphs/, tools/, examples/
and python sources are links into the source tree, and build/ holds the built tree
(links) with `build/sluice` replaced by a wrapper, also first on PATH as `sluice`.
The substitutions, kept few on purpose:

1. The wrapper runs a GPU-sized recipe `configs/NAME.toml` as its CPU-sized
   override set `configs/cpu/NAME.toml` (docs/cpu-sized.md) in `run`, `profile`,
   `check` and `preview`, and caps `synth --count` at 200 images.
2. `/data/X` becomes `data/X`: data/celeba is a synthetic CelebA of 200 images,
   data/cats-dogs/{train,validation}/{cats,dogs}/ holds its faces sorted by the
   Male attribute, and face.jpg, face1.jpg, face2.jpg, a.jpg, b.jpg, dog.jpg are
   some of them.
3. `make demo` becomes `tools/demo.sh build demo-out` with 200 images (the build
   is the one under test; a second `make demo` in the same file does nothing, it
   would repeat the same run), and `make test` does nothing (these tests are part
   of it).
4. For docs/writing-a-stage.md the checkout is `sluice/` inside the temporary
   folder (the plugin's own files sit beside it, as the walkthrough has them), and
   the commands that build sluice itself (`cmake -S sluice -B sluice/build`,
   `cmake --build sluice/build`) are already done. HOME is a folder in the
   temporary folder.

--keep leaves the folder for a look; --list prints the blocks and what happens to
each. Exit status: 0 when every block passed, 1 when one failed (the report names
the file, line and command), 2 for a malformed file or a bad command line.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

RUN_LANGS = {"sh", "bash", "shell", "console", "python", "py"}
SKIP_RE = re.compile(r"^\s*#\s*not run by the docs tests:\s*(\S.*)$")
EXIT_RE = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
FENCE_RE = re.compile(r"^(\s*)(```+|~~~+)\s*([^`\s]*)\s*(.*)$")
SYNTH_MAX = 200
BLOCK_TIMEOUT_S = int(os.environ.get("SLUICE_DOCS_BLOCK_TIMEOUT", "600"))


class Block:
    def __init__(self, line, lang, attrs, text):
        self.line = line  # 1-based line of the opening fence
        self.lang = lang
        self.attrs = attrs
        self.text = text
        first = next((l for l in text.splitlines() if l.strip()), "")
        m = SKIP_RE.match(first)
        self.skip = m.group(1) if m else None
        self.file = None
        self.append = "append" in attrs
        for a in attrs:
            if a.startswith("file="):
                self.file = a[len("file="):]


def parse_blocks(path):
    """Fenced blocks of a Markdown file (indented fences too, as in lists)."""
    blocks, errors = [], []
    lines = open(path, encoding="utf-8").read().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang, rest = m.group(1), m.group(2), m.group(3).lower(), m.group(4)
        start = i + 1
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        if i == len(lines):
            errors.append(f"{path}:{start}: code block never closed")
        i += 1
        b = Block(start, lang, rest.split(), "\n".join(body) + "\n")
        if not lang and body and body[0].startswith("$ "):
            errors.append(f"{path}:{start}: a block of commands with no language: "
                          "label it ```console so that the docs tests run it")
        blocks.append(b)
    return blocks, errors


def substitute(text, doc, state):
    text = re.sub(r"(?<=[\s=])/data/", "data/", text)
    demo = r"\1SLUICE_DEMO_COUNT=200 bash tools/demo.sh build demo-out"
    if state.get("demo"):  # it would repeat the same run
        demo = r"\1: make demo ran above"
    text, n = re.subn(r"^(\s*)make demo\b", demo, text, flags=re.M)
    state["demo"] = state.get("demo") or n > 0
    text = re.sub(r"^(\s*)make test\b.*$", r"\1: the test suite these tests belong to", text, flags=re.M)
    if os.path.basename(doc) == "writing-a-stage.md":
        text = re.sub(r"^cmake -S sluice -B sluice/build.*$", ": built already", text, flags=re.M)
        text = re.sub(r"^cmake --build sluice/build.*$", ": built already", text, flags=re.M)
    return text


WRAPPER = r'''#!/usr/bin/env python3
# The docs tests' `sluice`: the built binary; a GPU-sized recipe runs as its CPU-sized
# variant (configs/cpu/) and `synth --count` is capped (tools/docs/run_doc_blocks.py).
import os, sys
real = {real!r}
args = sys.argv[1:]
if len(args) >= 2 and args[0] in ("run", "profile", "check", "preview"):
    cfg = os.path.normpath(args[1])
    cpu = os.path.join("configs", "cpu", os.path.basename(cfg))
    if os.path.dirname(cfg) == "configs" and os.path.exists(cpu):
        args[1] = cpu
if args and args[0] == "synth":
    for i, a in enumerate(args[:-1]):
        if a == "--count" and int(args[i + 1]) > {cap}:
            args[i + 1] = "{cap}"
os.execv(real, [real] + args)
'''


def run_cmd(cmd, cwd, env, timeout, shell_args=("bash", "-c")):
    start = time.monotonic()
    try:
        p = subprocess.run(list(shell_args) + [cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        return p.returncode, out, time.monotonic() - start
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return 124, out + f"\n[timed out after {timeout} s]\n", time.monotonic() - start


def make_sandbox(tmp, source, build):
    for d in ("configs", "graphs", "tools", "examples", "python", "bench", "tests"):
        if os.path.exists(os.path.join(source, d)):
            os.symlink(os.path.join(source, d), os.path.join(tmp, d))
    for f in ("Makefile", "CMakeLists.txt", "setup.py", "pyproject.toml"):
        if os.path.exists(os.path.join(source, f)):
            os.symlink(os.path.join(source, f), os.path.join(tmp, f))
    bdir = os.path.join(tmp, "build")
    os.mkdir(bdir)
    for e in os.listdir(build):
        if e != "sluice":
            os.symlink(os.path.join(build, e), os.path.join(bdir, e))
    wrapper = os.path.join(bdir, "sluice")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(real=os.path.join(build, "sluice"), cap=SYNTH_MAX))
    os.chmod(wrapper, 0o755)


def make_data(tmp, env):
    """The tiny datasets and images the substitutions point at."""
    code, out, _ = run_cmd(f"build/sluice synth --out data/celeba --count {SYNTH_MAX} --seed 1",
                           tmp, env, 300)
    if code != 0:
        raise RuntimeError("writing the synthetic CelebA failed:\n" + out)
    imgs = os.path.join(tmp, "data/celeba/img_align_celeba/img_align_celeba")
    rows = open(os.path.join(tmp, "data/celeba/list_attr_celeba.csv")).read().splitlines()
    header = rows[0].split(",")
    male = header.index("Male")
    parts = dict(r.split(",")[:2] for r in
                 open(os.path.join(tmp, "data/celeba/list_eval_partition.csv")).read().splitlines()[1:])
    for r in rows[1:]:
        cells = r.split(",")
        split = {"0": "train", "1": "validation"}.get(parts.get(cells[0], "2"))
        if not split:
            continue
        cls = "dogs" if cells[male] == "1" else "cats"
        d = os.path.join(tmp, "data/cats-dogs", split, cls)
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(imgs, cells[0]), d)
    names = sorted(os.listdir(imgs))
    for i, n in enumerate(("face.jpg", "face1.jpg", "face2.jpg", "a.jpg", "b.jpg", "dog.jpg")):
        shutil.copy(os.path.join(imgs, names[-1 - i]), os.path.join(tmp, n))


def console_commands(text):
    """(command, expected exit, expected lines) for each `$ ` line of a console block."""
    cmds = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            if cmds:
                cmds[-1][2].append(line)
            i += 1
            continue
        cmd = line[2:]
        while cmd.endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd = cmd[:-1] + " " + lines[i].strip()
        code = 0
        m = EXIT_RE.search(cmd)
        if m:
            code = int(m.group(1))
            cmd = cmd[:m.start()]
        cmds.append((cmd, code, []))
        i += 1
    return cmds


def norm(s):
    return " ".join(s.split())


def line_matches(expected, actual):
    parts = [re.escape(p) for p in norm(expected).split("...")]
    return re.fullmatch(".*?".join(parts), norm(actual)) is not None


def missing_lines(expected, output):
    """The first expected line not found (in order) in the output, or None."""
    out = output.splitlines()
    pos = 0
    for e in expected:
        if not e.strip() or e.strip() == "...":
            continue
        while pos < len(out) and not line_matches(e, out[pos]):
            pos += 1
        if pos == len(out):
            return e
        pos += 1
    return None


def run_block(b, doc, tmp, env, state):
    """None when the block passed, else a message."""
    text = substitute(b.text, doc, state)
    where = f"{doc}:{b.line}"
    if b.lang in ("python", "py"):
        script = os.path.join(tmp, f"block_{b.line}.py")
        with open(script, "w") as f:
            f.write(text)
        code, out, secs = run_cmd(script, tmp, env, BLOCK_TIMEOUT_S, (sys.executable,))
        print(f"--- {where} (python, {secs:.1f} s, exit {code})\n{out}", flush=True)
        return None if code == 0 else f"{where}: the Python block exited with {code}"
    if b.lang == "console":
        for cmd, want, expected in console_commands(text):
            code, out, secs = run_cmd(cmd, tmp, env, BLOCK_TIMEOUT_S)
            print(f"--- {where}: $ {cmd}   ({secs:.1f} s, exit {code})\n{out}", flush=True)
            if code != want:
                return f"{where}: `{cmd}` exited with {code}, the docs say {want}"
            miss = missing_lines(expected, out)
            if miss is not None:
                return f"{where}: `{cmd}` did not print the line the docs show:\n    {miss}"
        return None
    script = "set -eo pipefail\nset -x\n" + text
    code, out, secs = run_cmd(script, tmp, env, BLOCK_TIMEOUT_S)
    print(f"--- {where} (sh, {secs:.1f} s, exit {code})\n{out}", flush=True)
    if code != 0:
        failed = [l for l in out.splitlines() if l.startswith("+ ")]
        last = failed[-1][2:] if failed else "?"
        return f"{where}: the block failed (exit {code}) at `{last}`"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("doc")
    ap.add_argument("--build", help="the build folder (holds sluice)")
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), help="the source tree (default: this script's)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--list", action="store_true", help="list the blocks; run nothing")
    a = ap.parse_args()
    doc = os.path.relpath(os.path.abspath(a.doc), a.source)
    blocks, errors = parse_blocks(os.path.join(a.source, doc))
    for e in errors:
        print("error: " + e, file=sys.stderr)
    if errors:
        return 2
    todo = [b for b in blocks if b.lang in RUN_LANGS or b.file]
    if a.list:
        for b in todo:
            what = (f"skipped: {b.skip}" if b.skip else f"writes {b.file}" if b.file else "runs")
            print(f"{doc}:{b.line}: {b.lang or 'text'}: {what}")
        return 0
    if not a.build:
        ap.error("--build is required to run blocks")
    build = os.path.abspath(a.build)
    runnable = [b for b in todo if not b.skip]
    if not any(not b.file for b in runnable):
        print(f"{doc}: no blocks to run ({len(todo)} skipped or files only)")
        return 0
    tmp = tempfile.mkdtemp(prefix="sluice-docs-")
    # The walkthrough builds a plugin beside a checkout named sluice/.
    root = os.path.join(tmp, "sluice") if os.path.basename(doc) == "writing-a-stage.md" else tmp
    env = dict(os.environ)
    # `python3` in a block is the interpreter running this script (ctest passes
    # Debian's, which has torch and numpy), also where another one is first on PATH.
    bindir = os.path.join(tmp, ".bin")
    os.mkdir(bindir)
    os.symlink(sys.executable, os.path.join(bindir, "python3"))
    env.update({"PATH": os.pathsep.join([os.path.join(root, "build"), bindir, env.get("PATH", "")]),
                "HOME": os.path.join(tmp, "home"), "PYTHONPATH": os.path.join(root, "build", "python"),
                "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2")})
    failures = []
    state = {}
    os.mkdir(env["HOME"])
    try:
        os.makedirs(root, exist_ok=True)
        make_sandbox(root, a.source, build)
        make_data(root, env)
        for b in todo:
            if b.skip:
                print(f"--- {doc}:{b.line}: skipped: {b.skip}")
                continue
            if b.file:
                with open(os.path.join(tmp, b.file), "a" if b.append else "w") as f:
                    f.write(b.text)
                continue
            msg = run_block(b, doc, tmp, env, state)
            if msg:
                failures.append(msg)
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    skipped = sum(1 for b in todo if b.skip)
    ran = len([b for b in runnable if not b.file])
    print(f"\n{doc}: {ran - len(failures)} of {ran} blocks passed, {skipped} marked not run")
    for f in failures:
        print("FAILED " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
