"""The data model: documents, claims, mentions and runs, plus content-hash ids."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # spaCy is heavy; only the type checker needs it here
    from spacy.language import Language
    from spacy.tokens import Doc

# Bump when the recipe of any id below changes: old rows keep their ids, new ones differ.
KEY_VERSION = "1"

DIRECTIONS = ("up", "down", "assoc", "none")
FIELDS = ("title", "abstract")


# A date as precise as the record allows, written so that text order is date order.
ISO_DATE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?")


# The text Python gives an object with no text of its own: its address, another in every process.
ADDRESS_TEXT = re.compile(r" at 0x[0-9a-fA-F]+>")


def plain_json(value: Any) -> Any:
    "json.dumps default for a plugin's extra: a set as a sorted list (its text order varies by process), else text."
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=lambda v: (type(v).__name__, str(v)))
    text = str(value)
    if ADDRESS_TEXT.search(text):
        # Stored, it would give the claim another id in every run: the same claim seen as new each time.
        raise TypeError(f"{type(value).__name__} value {text!r} has no stable text")
    return text


def content_hash(*parts: Any) -> str:
    "Stable 16-hex-digit id over parts, prefixed by KEY_VERSION."
    text = "\x1f".join([KEY_VERSION, *("" if p is None else str(p) for p in parts)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Document:
    "One abstract record from a file or an API; title and abstract are kept apart."

    id: str  # the PMID when there is one, else "source:id" (e.g. "PPR:PPR12345")
    title: str = ""
    abstract: str = ""  # structured-abstract labels kept in the text ("RESULTS: ...")
    pmid: str | None = None
    doi: str | None = None
    pmcid: str | None = None
    source: str = "file"
    source_ids: dict[str, str] = field(default_factory=dict)  # e.g. {"MED": "123", "PPR": ".."}
    journal: str | None = None
    pub_date: str | None = None  # ISO date, as precise as the record allows
    year: int | None = None
    entry_date: str | None = None  # PubMed entry (edat) or first-publication date
    language: str | None = None
    pub_types: list[str] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)  # label, category, start, end
    vernacular_title: str | None = None
    deleted: bool = False
    # PubMed's <PMID Version>: a versioned citation's later version replaces an earlier one
    # under the same PMID, never the reverse (db.save_document).
    pmid_version: int | None = None

    def says_more_than_ids(self) -> bool:
        "Does the record hold text or metadata, not only identifiers (a paper, not just a name for one)?"
        return any(getattr(self, name) for name in ("title", "abstract", "journal", "pub_date", "year", "entry_date",
                                                    "language", "pub_types", "sections", "vernacular_title"))

    def content_key(self) -> str:
        "Hash of the fields extraction reads: a changed text means re-extraction."
        return content_hash(self.title, self.abstract)

    def section_at(self, offset: int) -> str | None:
        "The structured-abstract label covering a character offset of the abstract."
        for s in self.sections:
            if s["start"] <= offset < s["end"]:
                return s.get("category") or s.get("label")
        return None

    def to_row(self) -> dict[str, Any]:
        # Shallow on purpose: asdict() deep-copies every list and dict, and this runs per record.
        row = {name: getattr(self, name) for name in DOCUMENT_FIELDS}
        for key in ("source_ids", "pub_types", "sections"):
            row[key] = json.dumps(row[key], ensure_ascii=False)
        row["deleted"] = int(self.deleted)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Document:
        kwargs: dict[str, Any] = {k: row.get(k) for k in cls.__dataclass_fields__ if k in row}
        for key in ("source_ids", "pub_types", "sections"):
            value = kwargs.get(key)
            kwargs[key] = json.loads(value) if isinstance(value, str) and value else value or ({} if key == "source_ids" else [])
        kwargs["deleted"] = bool(kwargs.get("deleted"))
        kwargs["title"] = kwargs.get("title") or ""
        kwargs["abstract"] = kwargs.get("abstract") or ""
        return cls(**kwargs)


DOCUMENT_FIELDS = tuple(Document.__dataclass_fields__)


@dataclass
class Deletion:
    "A withdrawn record: a DeleteCitation of a PubMed update file, or a JSON Lines record marked deleted."

    pmid: str  # the withdrawn PMID, or the id of a JSON Lines record that has none
    # A JSON Lines record's own fields: the paper is found as saving the record would find it (its
    # id may belong to another paper, its copy then stored under another id), and a record that
    # carries more than identifiers is the paper itself, stored withdrawn if it was never seen.
    document: Document | None = None
    # The PMID version withdrawn: PubMed withdraws one version of a versioned citation, so a
    # stored copy of another version stays. None withdraws whichever version is stored.
    version: int | None = None


@dataclass
class Mention:
    "A canonical entity named somewhere in a document, claim or not."

    category: str
    entity: str  # canonical id, e.g. "IFNB1"
    field: str
    start: int
    end: int
    text: str
    doc_id: str = ""
    plugin: str = ""
    plugin_version: str = ""

    @property
    def id(self) -> str:
        return content_hash("mention", self.doc_id, self.plugin, self.category, self.entity, self.field, self.start, self.end)


@dataclass
class Claim:
    "One sentence-level claim an extractor found in one field of one document."

    category: str
    sentence: str
    field: str
    start: int  # character offsets of the sentence in its field
    end: int
    subject: str | None = None
    predicate: str | None = None
    object: str | None = None
    direction: str = "none"
    negated: bool = False
    negation_cues: list[str] = dataclasses.field(default_factory=list)
    hedged: bool = False
    hedge_cues: list[str] = dataclasses.field(default_factory=list)
    role: str = "result"  # "result" | "background"
    entities: list[str] = dataclasses.field(default_factory=list)
    section: str | None = None
    study_system: str | None = None  # "human" | "mouse" | "in vitro" | "clinical"
    cancer_type: str | None = None
    confidence: float = 1.0
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Filled in by the pipeline, never by the plugin: provenance must not be forgeable.
    doc_id: str = ""
    plugin: str = ""
    plugin_version: str = ""

    @property
    def id(self) -> str:
        """Content hash of everything the plugin produced: the same claim on the same text keeps its id.

        Any field a new plugin version changes (role, section, a cue, the confidence) makes a new
        claim and supersedes the old, so history and diff show it. Change what goes in here only
        with a migration that rekeys stored claims (see migrations.m013_claim_ids_cover_every_field).
        """
        return content_hash(
            "claim", self.doc_id, self.plugin, self.category, self.field, self.start, self.end,
            self.subject, self.predicate, self.object, self.direction, int(self.negated),
            int(self.hedged), ",".join(sorted(self.entities)), self.role, self.section, self.study_system,
            self.cancer_type, "" if self.confidence is None else f"{float(self.confidence):.6g}", "\x1e".join(self.negation_cues),
            "\x1e".join(self.hedge_cues),
            json.dumps(self.extra, sort_keys=True, ensure_ascii=False, default=plain_json) if self.extra else "",
        )

    def to_row(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in CLAIM_FIELDS}
        row["id"] = self.id
        for key in ("negation_cues", "hedge_cues", "entities", "extra"):
            # default=str as in the id: a plugin's date or path in extra is stored as text, not a crash.
            row[key] = json.dumps(row[key], ensure_ascii=False, default=plain_json)
        row["negated"] = int(self.negated)
        row["hedged"] = int(self.hedged)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Claim:
        kwargs: dict[str, Any] = {k: row.get(k) for k in cls.__dataclass_fields__ if k in row}
        for key in ("negation_cues", "hedge_cues", "entities", "extra"):
            value = kwargs.get(key)
            kwargs[key] = json.loads(value) if isinstance(value, str) else (value or ({} if key == "extra" else []))
        kwargs["negated"] = bool(kwargs.get("negated"))
        kwargs["hedged"] = bool(kwargs.get("hedged"))
        return cls(**kwargs)

    def to_score_line(self) -> dict[str, Any]:
        "The line format ../shared/eval/score.py reads, plus provenance."
        return {
            "pmid": self.doc_id,
            "category": self.category,
            "sentence": self.sentence,
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "direction": self.direction,
            "negated": self.negated,
            "hedged": self.hedged,
            "role": self.role,
            "entities": self.entities,
            "subject": self.subject,
            "predicate": self.predicate,
            "object": self.object,
            "negation_cues": self.negation_cues,
            "hedge_cues": self.hedge_cues,
            "section": self.section,
            "study_system": self.study_system,
            "cancer_type": self.cancer_type,
            "confidence": self.confidence,
            "plugin": self.plugin,
            "plugin_version": self.plugin_version,
        }


CLAIM_FIELDS = tuple(Claim.__dataclass_fields__)


@dataclass
class Run:
    "One invocation of ingest, extract or run, as recorded in the runs table."

    id: int
    command: str
    started_at: str
    finished_at: str | None = None
    status: str = "running"  # running | ok | errors | failed
    evidex_version: str = ""
    plugins: dict[str, Any] = field(default_factory=dict)  # name -> {version, data_hash}
    baseline_id: str | None = None
    source: str | None = None
    query: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    documents_seen: int = 0
    documents_new: int = 0
    claims_new: int = 0
    errors: int = 0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        kwargs: dict[str, Any] = {k: row.get(k) for k in cls.__dataclass_fields__ if k in row}
        if isinstance(kwargs.get("plugins"), str):
            kwargs["plugins"] = json.loads(kwargs["plugins"])
        return cls(**kwargs)


class Source(ABC):
    "Fetches documents from one public API; registered through register_sources."

    name: str

    @abstractmethod
    def search(self, query: str, **options: Any) -> Iterator[Document]:
        "Yield documents matching query."


class Extractor(ABC):
    "Turns one parsed field of a document into claims and mentions."

    name: str
    version: str = "0.1"
    categories: tuple[str, ...] = ()
    # Lexicons and other data the extractor reads: hashed into every run record.
    data_files: tuple[Path, ...] = ()

    def setup(self, nlp: Language) -> None:
        "Add this extractor's pipes (e.g. a span ruler) to the shared pipeline."

    @abstractmethod
    def extract(self, document: Document, field: str, doc: Doc) -> Iterable[Claim | Mention]:
        "Yield the claims and mentions found in doc, the parsed text of document's field."

    def data_hash(self) -> str:
        "Hash of this extractor's data files, so a lexicon edit shows in the run record."
        from .errors import PluginError

        h = hashlib.sha256()
        for path in sorted(Path(p) for p in self.data_files):
            h.update(path.name.encode())
            try:
                h.update(path.read_bytes())
            except OSError as ex:  # a lexicon left out of the package, a typo in the path
                raise PluginError(f"extractor {self.name!r} cannot read its data file {path}: "
                                  f"{ex.strerror or ex}") from None
        return h.hexdigest()[:16]
