"""Abstracts per second for the four built-in extractors on one core, beside bare spaCy tokenisation."""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from evidex import get_extractors
from evidex.models import Document
from evidex.nlp import make_nlp
from evidex.pipeline import extract

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOCS = ROOT.parent / "shared" / "eval" / "docs.jsonl"


def load(path: Path) -> list[Document]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Document(id=str(r["pmid"]), title=r.get("title") or "", abstract=r.get("abstract") or "") for r in rows]


def repeated(docs: list[Document], n: int) -> Iterator[Document]:
    "n documents cycling over docs, each with its own id (as a real stream would have)."
    for i in range(n):
        d = docs[i % len(docs)]
        yield Document(id=f"{d.id}-{i}", title=d.title, abstract=d.abstract)


def tokenizer_speed(nlp, docs: list[Document], n: int) -> float:
    "Abstracts/s for the bare tokenizer over the same title and abstract texts."
    texts = (t for d in repeated(docs, n) for t in (d.title, d.abstract) if t)
    start = time.perf_counter()
    for _ in nlp.tokenizer.pipe(texts, batch_size=256):
        pass
    return n / (time.perf_counter() - start)


def extraction_speed(nlp, extractors, docs: list[Document], n: int) -> tuple[float, int]:
    "Abstracts/s for parse + all extractors, and the number of claims and mentions produced."
    errors = []
    items = 0
    start = time.perf_counter()
    for _, found in extract(nlp, repeated(docs, n), extractors, errors.append):
        items += len(found)
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} extraction errors, first: {errors[0].error}")
    return n / elapsed, items


def peak_memory(nlp, extractors, docs: list[Document], n: int) -> float:
    "Peak traced memory (MiB) while streaming n documents through extraction."
    tracemalloc.start()
    for _ in extract(nlp, repeated(docs, n), extractors, lambda e: None):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    ap.add_argument("-n", type=int, default=20000, help="documents to process (docs repeated)")
    args = ap.parse_args()
    docs = load(args.docs)
    extractors = list(get_extractors().values())
    names = ", ".join(e.name for e in extractors)
    nlp = make_nlp(extractors)
    list(extract(nlp, repeated(docs, 200), extractors, lambda e: None))  # warm-up: vocab, caches
    tok = tokenizer_speed(nlp, docs, args.n)
    full, items = extraction_speed(nlp, extractors, docs, args.n)
    print(f"documents: {args.n} ({len(docs)} distinct abstracts from {args.docs.name}, repeated)")
    print(f"extractors: {names}; pipeline: {', '.join(nlp.pipe_names)}")
    print(f"tokenizer only:          {tok:10.0f} abstracts/s")
    print(f"all four extractors:     {full:10.0f} abstracts/s  ({items} claims+mentions)")
    print(f"ratio to tokenizer:      {full / tok:10.2f}")
    small, large = max(args.n // 10, 500), args.n
    m_small = peak_memory(nlp, extractors, docs, small)
    m_large = peak_memory(nlp, extractors, docs, large)
    print(f"peak traced memory:      {m_small:8.1f} MiB at {small} docs, {m_large:8.1f} MiB at {large} docs")


if __name__ == "__main__":
    main()
