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


def repeated(docs: list[Document], n: int, offset: int = 0) -> Iterator[Document]:
    "n documents cycling over docs, each with its own id (as a real stream would have)."
    for i in range(offset, offset + n):
        d = docs[i % len(docs)]
        yield Document(id=f"{d.id}-{i}", title=d.title, abstract=d.abstract)


def interleaved_speeds(nlp, extractors, docs: list[Document], n: int, chunk: int = 1000) -> dict:
    """Tokenizer-only and full-extraction time over the same n documents, chunk by chunk.

    The two are measured alternately on each chunk so that load from other processes on a
    shared machine hits both alike; the ratio is then meaningful even when absolute speed is not.
    """
    tok_time = full_time = 0.0
    tok_best = full_best = 0.0
    items = 0
    errors: list = []
    for offset in range(0, n, chunk):
        batch = list(repeated(docs, min(chunk, n - offset), offset))
        texts = [t for d in batch for t in (d.title, d.abstract) if t]
        start = time.perf_counter()
        for _ in nlp.tokenizer.pipe(texts, batch_size=256):
            pass
        mid = time.perf_counter()
        for _, found in extract(nlp, batch, extractors, errors.append):
            items += len(found)
        end = time.perf_counter()
        tok_time += mid - start
        full_time += end - mid
        tok_best = max(tok_best, len(batch) / (mid - start))
        full_best = max(full_best, len(batch) / (end - mid))
    if errors:
        raise SystemExit(f"{len(errors)} extraction errors, first: {errors[0].error}")
    return {"tok": n / tok_time, "full": n / full_time, "tok_best": tok_best, "full_best": full_best, "items": items}


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
    r = interleaved_speeds(nlp, extractors, docs, args.n)
    print(f"documents: {args.n} ({len(docs)} distinct abstracts from {args.docs.name}, repeated); one process, one core")
    print(f"extractors: {names}; pipeline: {', '.join(nlp.pipe_names)}")
    print(f"{'':24}{'overall':>12}{'best 1k-chunk':>16}  (abstracts/s)")
    print(f"{'tokenizer only':<24}{r['tok']:12.0f}{r['tok_best']:16.0f}")
    print(f"{'all four extractors':<24}{r['full']:12.0f}{r['full_best']:16.0f}  ({r['items']} claims+mentions)")
    print(f"{'ratio to tokenizer':<24}{r['full'] / r['tok']:12.2f}{r['full_best'] / r['tok_best']:16.2f}")
    small, large = max(args.n // 10, 500), args.n
    m_small = peak_memory(nlp, extractors, docs, small)
    m_large = peak_memory(nlp, extractors, docs, large)
    print(f"peak traced memory:      {m_small:8.1f} MiB at {small} docs, {m_large:8.1f} MiB at {large} docs")


if __name__ == "__main__":
    main()
