"""A closed stderr (`evidex ... 2>&-`, a cron job whose stream is gone), stdout or stdin: the right exit code, no traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from plugin_support import extractor_plugin

# A plugin whose extractor writes to descriptor 2 directly, as a C library's diagnostic does.
NOISY = extractor_plugin("noisy", """        os.write(2, b"NOISE from descriptor 2\\n")
        if "fail" in document.title:
            raise ValueError("cannot read this one")""", imports="import os")

# A plugin that names the first word of every field: output for `extract --output -` to write.
NAMER = extractor_plugin("namer", """        word = doc[0]
        return [Mention(category="names", entity=word.text, field=field, start=word.idx,
                        end=word.idx + len(word.text), text=word.text)]""", imports="from evidex import Mention")


def evidex(*args: str, cwd: Path, closed: str = "2>&-") -> subprocess.CompletedProcess:
    "Run evidex as `evidex ARGS 2>&-` would (or >&-, <&-): the descriptor closed before Python starts."
    return subprocess.run(["sh", "-c", f'exec "$@" {closed}', "sh", sys.executable, "-m", "evidex", *args],
                          stdout=None if closed == ">&-" else subprocess.PIPE,
                          stderr=None if closed == "2>&-" else subprocess.PIPE, text=True, cwd=cwd, timeout=300,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("EVIDEX_")},
                               "EVIDEX_LOAD_PLUGINS": ""})


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "noisy.py").write_text(NOISY)
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in (
        {"pmid": "1", "title": "Type I interferon in melanoma."}, {"pmid": "2", "title": "IFN-beta in glioma."})))
    return tmp_path


def test_commands_that_succeed_write_nothing_meant_for_stderr_into_their_files(work):
    "Descriptor 2 stays closed-to-the-world: the lock file, the database and --output never take its place."
    done = evidex("ingest", "--plugins-dir", "plugins", "--db", "e.db", "docs.jsonl", cwd=work)
    assert (done.returncode, done.stdout) == (0, "")
    done = evidex("extract", "--plugins-dir", "plugins", "--input", "docs.jsonl", "--output", "out.jsonl", cwd=work)
    assert (done.returncode, done.stdout) == (0, "")
    for name in ("e.db", "e.db.lock", "out.jsonl"):
        assert b"NOISE" not in (work / name).read_bytes(), name
    done = evidex("runs", "--db", "e.db", cwd=work)
    assert done.returncode == 0 and " ingest " in done.stdout and "errors 0" in done.stdout


@pytest.mark.parametrize("args, code", [
    (["run", "--bogus"], 2),  # click's usage error: printed on stdout when sys.stderr was None
    (["ingest", "--db", "e.db"], 2),  # a usage error raised in the command's body
    (["ingest", "--db"], 2),  # an option missing its value
    (["runs", "--db", "missing.db"], 2),  # an EvidexError
    (["run", "--config", "missing.toml", "--log-json"], 2),  # the JSON log line goes to stderr: was exit 1
    (["ingest", "--db", "e.db", "missing.jsonl"], 2),
    (["extract", "--plugins-dir", "plugins", "--input", "fail.jsonl", "--output", "out.jsonl"], 1),  # a plugin raised
])
def test_commands_that_fail_keep_their_exit_code_and_stdout_clean(work, args, code):
    "The error line is lost with stderr, but the exit code says what happened, and stdout holds no error text."
    (work / "fail.jsonl").write_text(json.dumps({"pmid": "3", "title": "A title to fail on."}) + "\n")
    done = evidex(*args, cwd=work)
    assert (done.returncode, done.stdout) == (code, ""), done
    assert not (work / "e.db").exists() and not (work / "missing.db").exists()


def test_a_closed_stdout_is_a_reader_gone_and_a_closed_stdin_is_empty(work):
    """`evidex runs >&-` raised AttributeError at the closed-pipe check, for every command; a closed stdin reads as empty.

    Output meant for a closed stdout is lost: the command ends as `| head` would end it (exit
    141, no traceback), not with exit 0 as if the claims had gone somewhere.
    """
    # Summaries go to stderr: a command whose product is the database or a file is unaffected.
    assert evidex("ingest", "--db", "e.db", "docs.jsonl", cwd=work, closed=">&-").returncode == 0
    (work / "named").mkdir()
    (work / "named" / "namer.py").write_text(NAMER)
    named = ["extract", "--plugins-dir", "named", "--input", "docs.jsonl"]
    assert evidex(*named, "--output", "-", cwd=work, closed="").stdout.count("\n") == 2
    done = evidex(*named, "--output", "names.jsonl", cwd=work, closed=">&-")
    assert done.returncode == 0 and (work / "names.jsonl").read_text().count("\n") == 2
    for args in (["runs", "--db", "e.db"], [*named, "--output", "-"], [*named, "--output", "/dev/stdout"]):
        done = evidex(*args, cwd=work, closed=">&-")
        assert done.returncode == 141 and "Traceback" not in done.stderr and "Error" not in done.stderr, (args, done)
    done = evidex("extract", "--input", "/dev/stdin", "--output", "-", cwd=work, closed="<&-")
    assert (done.returncode, done.stdout, done.stderr) == (2, "", "Error: /dev/stdin: file is empty\n")


def test_seed_load_and_link_with_a_closed_stdout_commit_and_exit_0(work):
    "Their result line is a summary, on stderr as ingest's: `seed load >&-` in a cron job committed the baseline, then exited 141."
    seed = Path(__file__).resolve().parent.parent / "corpora" / "seed"
    assert evidex("ingest", "--db", "e.db", "docs.jsonl", cwd=work).returncode == 0
    for args in (["seed", "load", str(seed)], ["seed", "link"]):
        done = evidex(*args, "--db", "e.db", cwd=work, closed=">&-")
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done)
        assert " linked 0 claims" in done.stderr, done.stderr
        done = evidex(*args, "--db", "e.db", cwd=work, closed="")
        assert done.returncode == 0 and done.stdout == "", (args, done)
    db = sqlite3.connect(work / "e.db")
    assert db.execute("select count(*) from baselines").fetchone() == (1,)
    db.close()
