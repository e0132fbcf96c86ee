"""The first-character guard on context and topic regexes never changes what they match."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evidex import get_extractors

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "Type I IFN signalling in melanoma; IFN-gamma was not induced.",
    "RENIN-angiotensin blockade and RAS inhibitors",
    "tYPE 1\tINTERFERON and hepatitis B (HBV) in CML patients",
    "Kelvin K, long ſ, dotted İ and dotless ı",
    "radiotherapy (2 Gy) after irradiation; UV light",
    "",
]


def _patterns() -> list[str]:
    out = []
    for path in sorted((ROOT / "plugins").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("//"):
                row = json.loads(line)
                out += [row[k] for k in ("context", "block_context") if row.get(k)]
    return out


@pytest.mark.parametrize("pattern", _patterns())
def test_guarded_context_regex_finds_the_same_matches(pattern: str) -> None:
    get_extractors()  # imports the built-in plugins
    from evidex_plugins.common import compile_context

    plain, guarded = re.compile(pattern), compile_context(pattern)
    for text in TEXTS + [t.swapcase() for t in TEXTS]:
        assert [m.span() for m in plain.finditer(text)] == [m.span() for m in guarded.finditer(text)]
