#!/usr/bin/env python3
"""The docs runner catches drift: a documented command that no longer works, or
output the docs show that the command no longer prints, fails the test.

    python3 tools/docs/test_run_doc_blocks.py BUILD_DIR      (ctest: docs_runner)
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "run_doc_blocks.py")
BUILD = None


def run_doc(text):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "page.md")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([sys.executable, RUNNER, "--build", BUILD, path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        return p.returncode, p.stdout.decode("utf-8", "replace")


FENCE = "```"


class Runner(unittest.TestCase):
    def test_a_working_block_passes(self):
        code, out = run_doc(f"{FENCE}sh\nsluice check configs/numbers.toml --set work.micros=5\n{FENCE}\n")
        self.assertEqual(code, 0, out)
        self.assertIn("1 of 1 blocks passed", out)

    def test_a_misspelled_parameter_fails(self):
        code, out = run_doc(f"{FENCE}sh\nsluice check configs/numbers.toml --set work.micro=5\n{FENCE}\n")
        self.assertEqual(code, 1, out)
        self.assertIn("page.md:1: the block failed (exit 2)", out)

    def test_a_later_command_failing_fails_the_block(self):
        code, out = run_doc(f"{FENCE}bash\nsluice stages >/dev/null\nsluice run no-such.toml\n{FENCE}\n")
        self.assertEqual(code, 1, out)
        self.assertIn("sluice run no-such.toml", out)

    def test_console_output_must_match(self):
        ok = f"{FENCE}console\n$ sluice check configs/numbers.toml\nconfigs/numbers.toml: ok ... 4 stages:\n...\n  scaled (math.scale, auto) <- numbers\n{FENCE}\n"
        code, out = run_doc(ok)
        self.assertEqual(code, 0, out)
        drifted = f"{FENCE}console\n$ sluice check configs/numbers.toml\nall good\n{FENCE}\n"
        code, out = run_doc(drifted)
        self.assertEqual(code, 1, out)
        self.assertIn("did not print the line the docs show", out)

    def test_console_exit_status_must_match(self):
        code, out = run_doc(f"{FENCE}console\n$ sluice run no-such.toml   # exit 2\n{FENCE}\n")
        self.assertEqual(code, 0, out)
        code, out = run_doc(f"{FENCE}console\n$ sluice run no-such.toml\n{FENCE}\n")
        self.assertEqual(code, 1, out)
        self.assertIn("exited with 2, the docs say 0", out)

    def test_a_marked_block_is_not_run_and_an_unlabelled_command_block_is_refused(self):
        code, out = run_doc(f"{FENCE}sh\n# not run by the docs tests: needs a GPU\nexit 1\n{FENCE}\n")
        self.assertEqual(code, 0, out)
        code, out = run_doc(f"{FENCE}\n$ sluice stages\n{FENCE}\n")
        self.assertEqual(code, 2, out)
        self.assertIn("label it ```console", out)

    def test_python_blocks_run_with_the_module(self):
        code, out = run_doc(f"{FENCE}python\nimport sluice\nassert 'gen.range' in str(sluice.stages())\n{FENCE}\n")
        self.assertEqual(code, 0, out)
        code, out = run_doc(f"{FENCE}python\nimport sluice\nsluice.Pipeline('configs/nope.toml')\n{FENCE}\n")
        self.assertEqual(code, 1, out)

    def test_files_written_by_blocks_are_seen_by_later_blocks(self):
        text = (f"{FENCE}toml file=mine.toml\n[stages.n]\nuse = \"gen.range\"\ncount = 3\n"
                f"[stages.s]\nuse = \"util.sum\"\ninput = \"n\"\n{FENCE}\n\n"
                f"{FENCE}console\n$ sluice run mine.toml\nprofile: mine.toml ... completed in ...\n{FENCE}\n")
        code, out = run_doc(text)
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv.pop(1))
    unittest.main()
