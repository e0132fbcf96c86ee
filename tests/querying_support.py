"""Shared by the querying tests: build a database with the real CLI, start `evidex serve`."""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parent.parent
EVIDEX = [sys.executable, "-m", "evidex"]
SEED_TABLES = ("baselines", "seed_claims", "claim_links")

# A keyword extractor loaded through --plugins-dir, so the querying tests have claims of every
# category (with years, hedges, negations) whatever state the real plugins are in.
KEYWORD_PLUGIN = r'''
import re
from evidex import Claim, Extractor, hookimpl

TERMS = [
    ("ifn", r"\binterferon[- ]?(?:beta|β)|\bIFN-?(?:beta|β)", "IFNB1"),
    ("ifn", r"\btype I (?:interferon|IFN)|\bIFN-?I\b|\binterferons?\b", "type-i-ifn"),
    ("pathway", r"\bSTING\b", "STING1"),
    ("pathway", r"\bcGAS\b", "CGAS"),
    ("pathway", r"\bJAK1?\b|\bSTAT1\b", "STAT1"),
    ("therapy", r"radiotherap|irradiat|\bradiation\b", "radiotherapy"),
    ("therapy", r"chemotherap|cisplatin|doxorubicin", "chemotherapy"),
    ("therapy", r"checkpoint|anti-PD-?1|PD-L1|pembrolizumab|nivolumab", "immune-checkpoint-blockade"),
    ("age", r"\bage[ds]?\b|\belderly\b|\bolder\b|\bageing\b|\baging\b", "ageing"),
    ("cancer", r"\bcancers?\b|\btumou?rs?\b|carcinoma|melanoma|leuk", "cancer"),
]
UP = re.compile(r"increas|enhanc|activat|induc|promot|protect", re.I)
DOWN = re.compile(r"inhibit|suppress|reduc|decreas|block|impair", re.I)
ASSOC = re.compile(r"associat|correlat|predict", re.I)
NEG = re.compile(r"\bnot\b|\bno\b|failed to|\bwithout\b", re.I)
HEDGE = re.compile(r"\bmay\b|\bmight\b|suggest|\bcould\b|possibl|potential", re.I)
SYSTEM = [("mouse", r"\bmice\b|\bmouse\b|murine"), ("clinical", r"\bpatients?\b"),
          ("in vitro", r"cell lines?|in vitro")]
CANCER = [("melanoma", r"melanoma"), ("breast", r"breast"), ("lung", r"\blung\b"),
          ("leukemia", r"leuk"), ("colorectal", r"colorectal|colon")]


def first(pairs, text):
    return next((name for name, rx in pairs if re.search(rx, text, re.I)), None)


class KeywordExtractor(Extractor):
    "Test-only keyword claims: one claim per sentence and category."

    name = "qtest"
    version = "0.1"
    categories = ("ifn", "pathway", "therapy", "age", "cancer")

    def extract(self, document, field, doc):
        for sent in doc.sents:
            text = sent.text
            found = {}
            for category, rx, entity in TERMS:
                if re.search(rx, text, re.I if category != "pathway" else 0):
                    found.setdefault(category, []).append(entity)
            for category, entities in found.items():
                direction = "up" if UP.search(text) else "down" if DOWN.search(text) else (
                    "assoc" if ASSOC.search(text) else "none")
                neg, hedge = NEG.findall(text), HEDGE.findall(text)
                yield Claim(
                    category=category, sentence=text, field=field, start=sent.start_char,
                    end=sent.end_char, subject=entities[0], predicate="mentions",
                    direction=direction, negated=bool(neg), negation_cues=neg, hedged=bool(hedge),
                    hedge_cues=hedge, entities=sorted(set(entities)),
                    study_system=first(SYSTEM, text), cancer_type=first(CANCER, text),
                )


@hookimpl
def register_extractors(register):
    register(KeywordExtractor())
'''


def build_db(path: Path, docs: Path, plugins_dir: Path, extra_files: list[Path] = ()) -> subprocess.CompletedProcess:
    "Ingest real abstracts with the real CLI (the real plugins plus the keyword plugin)."
    plugins_dir.mkdir(parents=True, exist_ok=True)
    (plugins_dir / "qtest.py").write_text(KEYWORD_PLUGIN, encoding="utf-8")
    cmd = [*EVIDEX, "ingest", "--db", str(path), "--plugins-dir", str(plugins_dir), str(docs),
           *map(str, extra_files)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    # Exit 1 only means some plugin failed (e.g. a real plugin still being written): the
    # documents and the other plugins' claims are stored; anything else is a real failure.
    assert result.returncode in (0, 1), result.stderr
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from documents").fetchone()[0] > 0, result.stderr
        assert conn.execute("select count(*) from claims").fetchone()[0] > 0, result.stderr
    return result


@functools.cache
def evidence_db() -> Path:
    "One database per test session (read-only to tests): real abstracts, dated PubMed records, the seed."
    from conftest import require_shared

    docs = require_shared("eval", "docs.jsonl")
    # The files that hold records: ingest refuses an empty article set (37909814.xml, an efetch answer of nothing).
    dated = sorted(p for p in require_shared("corpora-raw", "api-responses", "pubmed-eutils", "metapub").glob("*.xml")
                   if re.search(rb"<(PubmedArticle|PubmedBookArticle|DeleteCitation)>", p.read_bytes()))
    tmp = Path(tempfile.mkdtemp(prefix="evidex-querying-"))
    atexit.register(shutil.rmtree, tmp, True)
    path = tmp / "evidex.db"
    build_db(path, docs, tmp / "plugins", dated)
    if has_seed_tables(path):
        result = subprocess.run([*EVIDEX, "seed", "load", "--db", str(path)], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stderr
    return path


def has_seed_tables(path: Path) -> bool:
    "True once the seed migration (baselines, seed_claims, claim_links) is in the schema."
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("select name from sqlite_master")}
    return all(t in names for t in SEED_TABLES)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(db: Path, *args: str) -> Iterator[str]:
    "Run `evidex serve` in a subprocess on a free port; yield its base URL."
    port = free_port()
    log = db.parent / f"serve-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*EVIDEX, "serve", "--db", str(db), "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"evidex serve exited {proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{base}/-/versions.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"evidex serve did not start: {log.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sql_rows(path: Path, sql: str, params: dict | None = None) -> list[dict]:
    "Run SQL directly against the file, read-only, rows as dicts."
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params or {})]
    finally:
        conn.close()
