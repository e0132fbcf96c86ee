"""A reader that closes stdout early (`evidex ... | head -1`) ends the command quietly with exit 141."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CUT_OFF = 141  # 128 + SIGPIPE, as the shell reports for `cat` or `grep` cut off by `| head`


def evidex(*args: str, cwd: Path, stdout) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evidex", *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          cwd=cwd, timeout=300)


def quiet(stderr: str) -> bool:
    "No traceback, no 'Exception ignored' (an unflushable stdout at exit), no error line."
    return "Traceback" not in stderr and "Exception ignored" not in stderr and "Error" not in stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    "A database with two ingest runs and the seed baseline loaded, and five documents as a file."
    from conftest import require_shared

    work = tmp_path_factory.mktemp("pipe")
    lines = require_shared("eval", "docs.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)[:5]
    (work / "five.jsonl").write_text("".join(lines), encoding="utf-8")
    for args in (["ingest", "five.jsonl"], ["ingest", "five.jsonl"], ["seed", "load", str(ROOT / "corpora" / "seed")]):
        done = evidex(*args, "--db", "e.db", cwd=work, stdout=subprocess.PIPE)
        assert done.returncode == 0, done.stderr
    return work


@pytest.mark.parametrize("args", [
    ["extract", "--input", "five.jsonl", "--output", "-"],  # buffered: the closed pipe is met at the end
    ["extract", "--input", "five.jsonl", "--output", "/dev/stdout"],
    ["runs", "--db", "e.db"], ["runs", "--json", "--db", "e.db"], ["runs", "--receipt", "1", "--db", "e.db"],
    ["diff", "1", "2", "--db", "e.db"], ["seed", "status", "--db", "e.db"],
    ["plugins"], ["--help"], ["run", "--help"], ["--version"],
], ids=" ".join)
def test_stdout_closed_before_the_first_line(workdir, args):
    "Every command that writes to stdout: a reader gone before it writes is exit 141, not 1 ('errors recorded')."
    before = (workdir / "e.db").read_bytes()
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = evidex(*args, cwd=workdir, stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == CUT_OFF and quiet(done.stderr), (done.returncode, done.stderr)
    assert (workdir / "e.db").read_bytes() == before


@pytest.mark.parametrize("workers", ["1", "2"])
def test_extract_output_piped_to_head(eval_docs, tmp_path, workers):
    "`extract --output - | head -1`: the reader takes one line and closes while claims are still being written."
    proc = subprocess.Popen([sys.executable, "-m", "evidex", "extract", "--workers", workers, "--input", str(eval_docs),
                             "--output", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == CUT_OFF and quiet(stderr), stderr
    assert first.startswith(b"{")
