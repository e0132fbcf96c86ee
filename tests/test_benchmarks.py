"""The extraction benchmark runs end to end and its figures add up (no speed is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT, require_shared

from evidex.files import read_jsonl
from evidex.pipeline import extract


def test_extract_speed_prints_consistent_figures(nlp_and_extractors):
    "Every figure is printed, the stages add up to the end-to-end time, and the work is the real extraction's."
    docs = require_shared("eval", "docs.jsonl")
    documents = list(read_jsonl(docs))
    n = 2 * len(documents)
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "extract_speed.py"), "--docs", str(docs), "-n", str(n)],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout

    # The same documents twice over: twice the claims and mentions one extraction pass finds.
    nlp, extractors = nlp_and_extractors
    once = sum(len(found) for _, found in extract(nlp, documents, extractors, lambda e: None))
    assert f"({2 * once} claims+mentions)" in out

    def figure(label: str) -> float:
        found = re.search(rf"^\s*{re.escape(label)}\s+(-?[\d.]+)", out, re.MULTILINE)
        assert found, f"{label!r} missing from:\n{out}"
        return float(found.group(1))

    parts = [figure(label) for label in (
        "tokenizer in the pipeline + sentence splitter", "the other pipes (lexicon matching)",
        "extractors' own work after parsing")]
    total = figure("all four extractors, end to end")
    assert parts[0] > 0 and total > 0  # (the differences may wobble around zero on a busy machine)
    assert abs(sum(parts) - total) <= 0.2  # each part is printed rounded to 0.1
    assert 0 < figure("ratio to tokenizer") < 1
    memory = re.search(r"peak traced memory:.* at (\d+) docs,.* at (\d+) docs", out)
    assert memory and int(memory.group(1)) <= int(memory.group(2)) == n, out  # a small -n is not exceeded
    # The worker processes do the same work: the same claims and mentions.
    assert re.search(rf"with --workers 2 .*: \d+ abstracts/s \({2 * once} claims\+mentions\)", out), out
