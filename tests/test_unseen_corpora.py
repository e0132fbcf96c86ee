"""Generalisation: on annotated corpora no rule was written from, drug and gene mentions land on annotated spans."""

# BC5CDR (1,500 abstracts, chemicals annotated) and BioRED (600 abstracts, genes and chemicals)
# share no document with the dev set the rules were tuned on. A drug or gene mention that
# overlaps no annotation of its kind is a false positive; the floors sit under the measured
# precision, so a lexicon line or stem that takes in ordinary words fails here.

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_shared

from evidex.models import Document, Mention
from evidex.pipeline import extract, parse

# Measured (built-in plugins 0.11; 0.12 changed directions only, no mention; 0.13 to 0.17 unchanged): pathway 0.987 over 525 gene mentions, ifn 0.933 over 15.
GENE_FLOORS = {"pathway": 0.95, "ifn": 0.85}
GENE_LABELS = {"ONCOGENE", "TUMOUR_SUPPRESSOR", "SENSOR", "PATHWAY_NODE", "IFN_RECEPTOR", "IFN_SIGNALLING", "ISG"}


def read_pubtator(path: Path) -> Iterator[tuple[Document, list[tuple[int, int, str]]]]:
    "Documents with their (start, end, type) annotations; offsets run over title + ' ' + abstract."
    title = abstract = pmid = None
    spans: list[tuple[int, int, str]] = []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line:
            if pmid is not None:
                yield Document(id=pmid, title=title or "", abstract=abstract or ""), spans
            title = abstract = pmid = None
            spans = []
        elif line[:20].count("|t|") == 1 and "\t" not in line[:20]:
            pmid, _, title = line.split("|", 2)
        elif line[:20].count("|a|") == 1 and "\t" not in line[:20]:
            _, _, abstract = line.split("|", 2)
        else:
            cols = line.split("\t")
            if len(cols) >= 5 and cols[1].isdigit():
                spans.append((int(cols[1]), int(cols[2]), cols[4]))


def extracted(nlp_and_extractors, files: list[Path]) -> list[tuple[Mention, int, int, list[tuple[int, int, str]]]]:
    "Every mention in the corpus, once: (mention, start, end in the annotation offsets, its document's annotations)."
    nlp, extractors = nlp_and_extractors
    annotated = {}
    docs = []
    for path in files:
        for document, spans in read_pubtator(path):
            annotated[document.id] = spans
            docs.append(document)
    assert len(docs) >= 500 and all(d.abstract for d in docs[:50])
    out = []
    for document, found in extract(nlp, docs, extractors, lambda e: pytest.fail(e.error)):
        for m in found:
            if isinstance(m, Mention):
                offset = 0 if m.field == "title" else len(document.title) + 1
                out.append((m, m.start + offset, m.end + offset, annotated[document.id]))
    return out


def precision(nlp, mentions, category: str, kind: str, labels) -> tuple[float, int]:
    "Share of the category's mentions (of entries whose labels pass) that overlap an annotation of kind."
    entry_labels: dict[str, set[str]] = {}
    for entry in nlp.get_pipe("evidex_lexicon").entries:
        if entry.category == category:
            entry_labels.setdefault(entry.id, set()).add(entry.label)
    hits = total = 0
    for m, start, end, spans in mentions:
        if m.category == category and labels(entry_labels.get(m.entity, set())):
            total += 1
            hits += any(s < end and start < e for s, e, t in spans if t.startswith(kind))
    return hits / total, total


def _drug(labels: set[str]) -> bool:
    return not labels or "DRUG" in labels  # no lexicon line: found by its INN stem


def test_drug_mentions_are_annotated_chemicals_in_bc5cdr(nlp_and_extractors):
    folder = require_shared("corpora-raw", "annotated-corpora", "BC5CDR")
    mentions = extracted(nlp_and_extractors, sorted(folder.glob("CDR_*.PubTator.txt")))
    value, n = precision(nlp_and_extractors[0], mentions, "therapy", "Chemical", _drug)
    assert n > 1000 and value >= 0.98, (value, n)  # measured 0.998 over 2,409 mentions (0.17)


def test_drug_and_gene_mentions_are_annotated_in_biored(nlp_and_extractors):
    folder = require_shared("corpora-raw", "annotated-corpora", "BioRED")
    nlp = nlp_and_extractors[0]
    mentions = extracted(nlp_and_extractors, sorted(folder.glob("*.PubTator")))
    value, n = precision(nlp, mentions, "therapy", "Chemical", _drug)
    assert n > 200 and value >= 0.93, (value, n)  # measured 0.989 over 535
    for category in ("pathway", "ifn"):
        value, n = precision(nlp, mentions, category, "Gene", lambda labels: labels & GENE_LABELS)
        assert n > 5 and value >= GENE_FLOORS[category], (category, value, n)


# A named cancer type: an annotated disease span with a type word, not bare "tumour" or "cancer".
CANCER_TYPE_RE = re.compile(r"(?i)\w+(?:blastoma|sarcoma|carcinoma|lymphoma|leuka?emia|melanoma|glioma|myeloma|thymoma"
                            r"|mesothelioma)\b|\b(?:breast|lung|colorectal|colon|prostate|ovarian|pancreatic|gastric"
                            r"|bladder|cervical|liver|kidney|endometrial|thyroid)\s+(?:cancer|tumou?r)")


def test_cancer_types_are_annotated_diseases_in_ncbi_disease(nlp_and_extractors):
    "The cancer a claim is set in: named where NCBI-disease annotates a disease, and most named types found."
    from evidex_plugins.common import analyze

    nlp, _ = nlp_and_extractors
    folder = require_shared("corpora-raw", "annotated-corpora", "NCBI-disease")
    docs, annotated = [], {}
    for path in sorted(folder.glob("NCBI*_corpus.txt")):
        for document, spans in read_pubtator(path):
            docs.append(document)
            annotated[document.id] = spans
    assert len(docs) >= 700
    on_disease = named = typed = typed_found = 0
    for document, parsed in parse(nlp, docs):
        found = []
        for field, doc in parsed.items():
            analyze(document, doc, field)
            offset = 0 if field == "title" else len(document.title) + 1
            # The field's study-system and cancer facts, (position, kind, value), as the claims read them.
            found += [pos + offset for pos, kind, _ in doc.user_data["evidex.facts"] if kind == "fact:cancer"]
        spans = annotated[document.id]
        named += len(found)
        on_disease += sum(any(s <= p < e for s, e, _ in spans) for p in found)
        text = f"{document.title} {document.abstract}"
        for s, e, _ in spans:
            if CANCER_TYPE_RE.search(text[s:e]):
                typed += 1
                typed_found += any(s <= p < e for p in found)
    assert named > 500 and on_disease / named >= 0.97, (on_disease, named)  # measured 0.990 over 839
    # Measured 0.988 of 582. The cancer list was extended from this corpus's misses (it found 0.79
    # before: retinoblastoma, hepatoblastoma, rhabdomyosarcoma...), so this floor guards against a
    # regression rather than measuring unseen recall; the precision above is the unseen check.
    assert typed > 300 and typed_found / typed >= 0.95, (typed_found, typed)
