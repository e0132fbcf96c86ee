"""Withdrawals within one input read without a database (extract --input): applied in the input's order."""

from __future__ import annotations

from dataclasses import dataclass, field

from .db import document_keys, normal_doi
from .models import Deletion, Document

# A paper as a withdrawal is matched against it: its PMID or else its id, whether that is a PMID,
# the hash of its DOI, and its version. A tuple of a few small objects: one is kept per paper read.
Paper = tuple[str, bool, int | None, int | None]


def _paper(document: Document) -> Paper:
    return (document.pmid or document.id, bool(document.pmid),
            hash(normal_doi(document.doi)) if document.doi else None, document.pmid_version)


def label(paper: Paper) -> str:
    "How a warning names a paper: 'PMID 7', or 'id local-7' for a record without one."
    return f"PMID {paper[0]}" if paper[1] else f"id {paper[0]}"


def _keys(deletion: Deletion) -> list[tuple[str, str]]:
    "The identifiers a withdrawal names its paper by, as ingest finds it (db.mark_deleted)."
    return document_keys(deletion.document) if deletion.document is not None else [("pmid", deletion.pmid)]


def _names(deletion: Deletion, paper: Paper) -> bool:
    "Does a withdrawal sharing an identifier with this paper name it: no other PMID or DOI (db._conflicts), its version?"
    name, is_pmid, doi, version = paper
    document = deletion.document
    if document is not None and document.pmid and is_pmid and document.pmid != name:
        return False
    if document is not None and document.doi and doi is not None and hash(normal_doi(document.doi)) != doi:
        return False
    # A record without a version is version 1, as PubMed's DTD reads a PMID; no version names them all.
    return deletion.version is None or deletion.version == (version or 1)


def _same(paper: Paper, other: Paper) -> bool:
    "Would ingest store these two records as one paper (no two PMIDs, no two DOIs: db._conflicts)?"
    if paper[1] and other[1] and paper[0] != other[0]:
        return False
    return paper[2] is None or other[2] is None or paper[2] == other[2]


@dataclass(slots=True)
class Waiting:
    "A withdrawal read, and the paper it withdrew once one was read (a withdrawal names one paper, as in ingest)."

    deletion: Deletion
    paper: Paper | None = None


@dataclass
class InputWithdrawals:
    """The withdrawals read so far, and the papers extracted so far, by their identifiers.

    A record is not extracted when a withdrawal read before it names it. Its claims cannot be
    taken back once written (the output streams), so a withdrawal read after its paper is only
    reported. A withdrawal withdraws the first paper it names, in either order, and copies of that
    paper only, not another paper sharing an identifier (a supplement's DOI), as ingest does.
    Kept: the withdrawals, and a few hashes a paper read (never its text).
    """

    waiting: dict[tuple[str, str], list[Waiting]] = field(default_factory=dict)
    # The first paper read under each identifier (by the hash of each (scheme, value)), as ingest stores
    # it first, and whether its claims were written.
    papers: dict[int, tuple[Paper, bool]] = field(default_factory=dict)
    not_extracted: int = 0  # records withdrawn by a withdrawal read before them
    late: set[str] = field(default_factory=set)  # papers withdrawn after their claims were written

    def extract(self, document: Document) -> bool:
        "Should this record be extracted (no withdrawal read before it names it)? Remembered if so."
        keys = document_keys(document)
        paper = _paper(document)
        withdrawn = False
        for key in keys if self.waiting else ():
            first = self.papers.get(hash(key))
            if first is not None and not _same(first[0], paper):
                continue  # another paper read before holds this identifier: it names that one (db.find_existing)
            for waiting in self.waiting.get(key, ()):
                if _names(waiting.deletion, paper) and (waiting.paper is None or _same(waiting.paper, paper)):
                    # Every withdrawal naming it is this paper's, as withdraw_on_arrival attaches them all.
                    waiting.paper = waiting.paper or paper
                    withdrawn = True
        self.not_extracted += withdrawn
        # Every identifier a withdrawal read before it would have named it by (a PMC id, a title too),
        # or one read after it would go unreported: hashed, so a title costs what a PMID does. One not
        # extracted is kept too: a withdrawal read later names it, not another paper sharing its DOI.
        seen = (paper, not withdrawn)
        for key in keys:
            first = self.papers.get(hash(key))
            # A later version written after an earlier one withheld: its claims are what a withdrawal would find.
            if first is None or (not first[1] and not withdrawn and first[0][0] == paper[0]):
                self.papers[hash(key)] = seen
        return not withdrawn

    def read(self, deletion: Deletion) -> str | None:
        "Remember a withdrawal; the paper it names (once) if that paper's claims were already written."
        keys = _keys(deletion)
        waiting = Waiting(deletion)
        for key in keys:
            self.waiting.setdefault(key, []).append(waiting)
        for key in keys:
            paper, written = self.papers.get(hash(key), (None, False))
            if paper is not None and _names(deletion, paper):
                waiting.paper = paper
                if not written or label(paper) in self.late:
                    return None
                self.late.add(label(paper))
                return label(paper)
        return None
