"""Abstracts per second for the four built-in extractors on one core, beside bare spaCy tokenisation."""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from evidex import get_extractors
from evidex.files import read_jsonl
from evidex.models import Document
from evidex.nlp import SENTENCE_PIPE, make_nlp
from evidex.pipeline import extract, parse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOCS = ROOT.parent / "shared" / "eval" / "docs.jsonl"


def load(path: Path) -> list[Document]:
    return [d for d in read_jsonl(path) if isinstance(d, Document)]


def repeated(docs: list[Document], n: int, offset: int = 0) -> Iterator[Document]:
    "n documents cycling over docs, each with its own id (as a real stream would have)."
    for i in range(offset, offset + n):
        d = docs[i % len(docs)]
        yield Document(id=f"{d.id}-{i}", title=d.title, abstract=d.abstract)


def interleaved_speeds(nlp, extractors, docs: list[Document], n: int, chunk: int = 1000) -> dict:
    """Tokenizer-only, pipeline-only and full-extraction time over the same n documents, chunk by chunk.

    Each stage is measured in turn on each chunk so that load from other processes on a shared
    machine hits all alike; the ratios are then meaningful even when absolute speed is not.
    The pipeline stages (splitter alone, then every pipe) say where the time goes: the rest of
    a full run is the extractors' own Python.
    """
    stages = ("tok", "split", "pipes", "full")
    time_in = dict.fromkeys(stages, 0.0)
    best = dict.fromkeys(stages, 0.0)
    items = 0
    errors: list = []
    splitter = [SENTENCE_PIPE] if SENTENCE_PIPE in nlp.pipe_names else []
    for offset in range(0, n, chunk):
        batch = list(repeated(docs, min(chunk, n - offset), offset))
        texts = [t for d in batch for t in (d.title, d.abstract) if t]
        took = {}
        start = time.perf_counter()
        for _ in nlp.tokenizer.pipe(texts, batch_size=256):
            pass
        took["tok"] = time.perf_counter() - start
        with nlp.select_pipes(enable=splitter):
            start = time.perf_counter()
            for _ in parse(nlp, batch):
                pass
            took["split"] = time.perf_counter() - start
        start = time.perf_counter()
        for _ in parse(nlp, batch):
            pass
        took["pipes"] = time.perf_counter() - start
        start = time.perf_counter()
        for _, found in extract(nlp, batch, extractors, errors.append):
            items += len(found)
        took["full"] = time.perf_counter() - start
        for stage in stages:
            time_in[stage] += took[stage]
            best[stage] = max(best[stage], len(batch) / took[stage])
    if errors:
        raise SystemExit(f"{len(errors)} extraction errors, first: {errors[0].error}")
    rates = {stage: n / time_in[stage] for stage in stages}
    return {**rates, "tok_best": best["tok"], "full_best": best["full"], "items": items,
            "us": {stage: time_in[stage] / n * 1e6 for stage in stages}}


def worker_speed(nlp, extractors, docs: list[Document], n: int, processes: int) -> tuple[float, int]:
    "Abstracts/s and claims+mentions with extraction spread over forked worker processes (not one core)."
    from evidex.workers import Workers

    workers = Workers(nlp, extractors, processes)
    try:
        items = 0
        start = time.perf_counter()
        for _, found in workers.extract(repeated(docs, n), lambda e: None):
            items += len(found)
        return n / (time.perf_counter() - start), items
    finally:
        workers.close()


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
    ap.add_argument("--workers", type=int, default=2,
                    help="also time extraction in this many worker processes (0: skip)")
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
    us = r["us"]
    print("where a document's time goes (microseconds per abstract, from the stages above):")
    parts = [
        ("tokenizer alone", us["tok"]),
        ("tokenizer in the pipeline + sentence splitter", us["split"]),
        ("the other pipes (lexicon matching)", us["pipes"] - us["split"]),
        ("extractors' own work after parsing", us["full"] - us["pipes"]),
    ]
    for label, value in parts:
        print(f"  {label:<48}{value:8.1f}")
    print(f"  {'all four extractors, end to end':<48}{us['full']:8.1f}")
    print(f"  ratio if the extractors' own work took no time: {us['tok'] / us['pipes']:.2f}")
    small, large = min(max(args.n // 10, 500), args.n), args.n  # never more than -n documents
    m_small = peak_memory(nlp, extractors, docs, small)
    m_large = peak_memory(nlp, extractors, docs, large)
    print(f"peak traced memory:      {m_small:8.1f} MiB at {small} docs, {m_large:8.1f} MiB at {large} docs")
    if args.workers > 1:
        rate, items = worker_speed(nlp, extractors, docs, args.n, args.workers)
        print(f"with --workers {args.workers} (all cores, beside the one-core figures above): {rate:.0f} abstracts/s"
              f" ({items} claims+mentions)")


if __name__ == "__main__":
    main()
