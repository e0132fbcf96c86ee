"""Stream PubMed XML (efetch output, baseline and update files) into Documents and Deletions."""

from __future__ import annotations

import datetime
import gzip
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError, iterparse

from defusedxml.common import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from .errors import InputError
from .models import Deletion, Document

ROOT_TAGS = ("PubmedArticleSet", "PubmedBookArticleSet")
MATHML = "{http://www.w3.org/1998/Math/MathML}"
# Paragraphs of a structured abstract are joined by one space: sentence splitting and
# character offsets stay simple, and the paragraph bounds are kept in Document.sections.
SECTION_SEPARATOR = " "
NOT_AVAILABLE = {"", "[not available].", "[not available]", "not available"}

_WS = re.compile(r"[ \t\r\n]+")  # XML whitespace only: a no-break space is content
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_MEDLINE_DATE = re.compile(r"\s*(\d{4})(?:\s+([A-Za-z]+)\.?(?:\s+(\d{1,2}))?)?")
_POSITION = re.compile(r":\s*line \d+, column \d+$")
_ENCODING_DECL = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
# expat error codes (xml.parsers.expat.errors) that mean "the document stops too early".
_TRUNCATED_CODES = {3, 5, 6}  # no element found, unclosed token, partial character
_INVALID_TOKEN = 4


def read_pubmed_xml(path: Path, digest: Any = None) -> Iterator[Document | Deletion]:
    "Stream the records of a PubMed XML file, plain or gzipped (told apart by its first bytes)."
    from .files import open_input

    path = Path(path)
    try:
        with open_input(path, digest) as f:
            yield from iter_pubmed_xml(f, str(path))
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as ex:  # gzip and read errors inside iter_pubmed_xml are already InputErrors
        raise InputError(f"{path}: cannot read: {ex.strerror or ex}") from None


def iter_pubmed_xml(fileobj: IO[bytes], where: str) -> Iterator[Document | Deletion]:
    """Stream Documents (PubmedArticle, PubmedBookArticle) and Deletions (DeleteCitation).

    Memory stays flat: each top-level record is converted, then cleared and dropped from the
    root. Records before a parse error have already been yielded when the InputError is raised.
    """
    tap = _Tap(fileobj, where)
    root: Element | None = None
    depth = 0
    count = 0
    try:
        # The C parser builds the tree; the tap has defusedxml vet the prolog first (see _Tap).
        for event, elem in iterparse(tap, events=("start", "end")):
            if event == "start":
                depth += 1
                if root is None:
                    root = elem
                    tag = _local(elem.tag)
                    if tag not in ROOT_TAGS and tag != "ERROR":
                        raise InputError(f"{where}: not a PubMed article set: root element is <{tag}>, "
                                         f"expected <PubmedArticleSet>{_root_hint(tag)}")
                continue
            depth -= 1
            if depth == 0 and _local(elem.tag) == "ERROR":
                message = _flatten(elem)[:200] or "(no message)"
                raise InputError(f"{where}: not a PubMed article set: root element is <ERROR>: {message}")
            if depth != 1 or _local(root.tag) == "ERROR":  # type: ignore[union-attr]
                continue
            count += 1
            tag = elem.tag
            if tag == "PubmedArticle":
                yield _article(elem, where, count)
            elif tag == "PubmedBookArticle":
                yield _book(elem, where, count)
            elif tag == "DeleteCitation":
                for pmid in elem.iter("PMID"):
                    if (pmid.text or "").strip():
                        # One version of the citation: the DTD requires Version, and reads a PMID
                        # without it (older DTDs' default) as version 1.
                        yield Deletion(pmid=pmid.text.strip(), version=_version(pmid) or 1)
            # Anything else at the top level is not a record; it is dropped like one.
            elem.clear()
            root.clear()  # type: ignore[union-attr]  # drop processed siblings: flat memory
    except ParseError as ex:
        raise InputError(_parse_error_message(ex, where, tap)) from None
    except EntitiesForbidden as ex:
        kind = "external (SYSTEM) entity" if ex.sysid else "entity"
        raise InputError(f"{where}:{tap.guard_line()}: entity declarations are not allowed "
                         f"(<!ENTITY {ex.name}>, an {kind}); refusing unsafe XML") from None
    except ExternalReferenceForbidden as ex:
        raise InputError(f"{where}:{tap.guard_line()}: external entity references are not allowed "
                         f"({ex.sysid}); refusing unsafe XML") from None
    except DefusedXmlException as ex:
        raise InputError(f"{where}:{tap.guard_line()}: unsafe XML refused: {ex}") from None
    except (gzip.BadGzipFile, zlib.error) as ex:
        raise InputError(f"{where}: broken gzip file: {ex}") from None
    except EOFError:
        # The parser reads in chunks, so a file cut inside its first chunk has given no XML yet,
        # though a few kilobytes of it may decompress: "after 0 bytes" would mislead.
        read = f"after {tap.offset} bytes of XML" if tap.offset else "within its first chunk of XML"
        raise InputError(f"{where}: gzip file is truncated (ends {read})") from None
    except UnicodeDecodeError as ex:  # a text-mode file object was passed
        raise InputError(f"{where}: not UTF-8 text ({ex.reason})") from None
    except RecursionError:  # thousands of nested inline tags: no real record nests that deep
        raise InputError(f"{where}: elements nested too deeply to read") from None
    if root is None:  # iterparse raises on an empty document; this is a safety net
        raise InputError(f"{where}: no XML element found")


class _PrologDone(Exception):
    "Raised by the guard's tree builder at the root start tag: the DTD is behind us."


class _GuardTarget:
    "Tree-builder stand-in for the guard: it only has to notice the root start tag."

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        raise _PrologDone

    def close(self) -> None:
        return None


class _Tap:
    """A read() pass-through that has defusedxml vet every byte before the root element.

    Entity declarations (and external or parameter entities) can only appear in the DOCTYPE's
    internal subset, which must end before the root start tag. So each chunk goes first through
    a DefusedXMLParser (forbid_entities, forbid_external: no billion laughs, quadratic blowup or
    SYSTEM entity; a DOCTYPE naming an external DTD, as efetch output has, is allowed and never
    fetched) until that parser reaches the root start tag; only then does the C-accelerated
    parser see the chunk. The body of a baseline file is thus parsed at C speed (about twice
    defusedxml's pure-Python parser) with the same protection.
    """

    def __init__(self, fileobj: IO[bytes], where: str) -> None:
        self.fileobj = fileobj
        self.where = where
        self.offset = 0
        self.head = b""
        self.last = b""
        self.guard: DefusedXMLParser | None = DefusedXMLParser(
            target=_GuardTarget(), forbid_dtd=False, forbid_entities=True, forbid_external=True)
        self.guard_lineno: int | None = None

    def read(self, size: int = -1) -> bytes:
        data = self.fileobj.read(size)
        if isinstance(data, str):
            raise InputError(f"{self.where}: expected a binary file object, got a text one")
        if not self.head:
            self.head = data[:512]
        self.last = data
        self.offset += len(data)
        if self.guard is not None:
            try:
                if data:
                    self.guard.feed(data)
                else:  # no element at all: the main parser reports it
                    self.guard = None
            except (_PrologDone, ParseError):
                # Root reached, or a malformed prolog that the main parser, fed the same
                # bytes, reports with its position.
                self.guard = None
            except DefusedXmlException:
                assert self.guard is not None  # only a fed guard refuses, and it is kept
                self.guard_lineno = self.guard.parser.CurrentLineNumber
                raise
        return data

    def guard_line(self) -> str:
        "The line of the refused declaration (the guard stopped right on it)."
        return str(self.guard_lineno) if self.guard_lineno else "?"


def _parse_error_message(ex: ParseError, where: str, tap: _Tap) -> str:
    line, column = getattr(ex, "position", (0, 0))
    reason = _POSITION.sub("", str(ex))
    code = getattr(ex, "code", None)
    if code in _TRUNCATED_CODES:
        return f"{where}:{line}:{column}: XML ends early (truncated file?): {reason}"
    if code == _INVALID_TOKEN and _looks_non_utf8(tap):
        return (f"{where}:{line}:{column}: not valid UTF-8 although the file declares (or defaults "
                f"to) UTF-8: {reason}")
    return f"{where}:{line}:{column}: malformed XML: {reason}"


def _looks_non_utf8(tap: _Tap) -> bool:
    "Whether the chunk expat choked on holds bytes that cannot be UTF-8 (and UTF-8 was declared)."
    declared = _ENCODING_DECL.match(tap.head)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return False
    try:
        tap.last.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multibyte character cut by the chunk boundary is not an encoding problem.
        return err.reason != "unexpected end of data"
    return False


def _root_hint(tag: str) -> str:
    hints = {
        "pmc-articleset": " (this is PMC efetch output, db=pmc)",
        "eSearchResult": " (this is an esearch result, not efetch output)",
        "eSummaryResult": " (this is an esummary result, not efetch output)",
        "ePostResult": " (this is an epost result, not efetch output)",
        "eInfoResult": " (this is an einfo result, not efetch output)",
    }
    return hints.get(tag, "")


def _local(tag: Any) -> str:
    "Tag name without a namespace; comments and processing instructions have non-str tags."
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# ---- text flattening ---------------------------------------------------------------------


def _flatten(elem: Element | None) -> str:
    """Plain text of an element with inline markup (<i>, <sup>, MathML...) removed.

    Text and tails are kept exactly as given (no space is invented around tags), then runs of
    XML whitespace collapse to one space. Character references were decoded by the parser.
    """
    if elem is None:
        return ""
    parts: list[str] = []
    _walk(elem, parts)
    return _WS.sub(" ", "".join(parts)).strip()


def _walk(elem: Element, parts: list[str]) -> None:
    if elem.text:
        parts.append(elem.text)
    for child in elem:
        if isinstance(child.tag, str) and child.tag.startswith(MATHML):
            # MathML is pretty-printed one token per line: the indentation is layout, not text,
            # so the tokens are glued (V . O 2 max -> "V.O2max"). Only XML white space is layout:
            # a thin or no-break space in an <mml:mtext> is the author's ("Xe129 MRI").
            parts.append("".join(t.strip(" \t\r\n") for t in child.itertext()))
        elif isinstance(child.tag, str):
            _walk(child, parts)
        if child.tail:
            parts.append(child.tail)


def _abstract(abstract: Element | None) -> tuple[str, list[dict[str, Any]]]:
    """Abstract text with "LABEL: text" paragraphs joined by SECTION_SEPARATOR, and sections.

    A section spans its label and its text, so section_at() covers the whole paragraph.
    """
    if abstract is None:
        return "", []
    text = ""
    sections: list[dict[str, Any]] = []
    for node in abstract.findall("AbstractText"):
        body = _flatten(node)
        if not body:  # an empty paragraph (even if labelled) carries nothing to extract
            continue
        label = _WS.sub(" ", node.get("Label") or "").strip()
        paragraph = f"{label}: {body}" if label else body
        start = len(text) + (len(SECTION_SEPARATOR) if text else 0)
        text = f"{text}{SECTION_SEPARATOR}{paragraph}" if text else paragraph
        if label:
            sections.append({"label": label, "category": node.get("NlmCategory") or None,
                             "start": start, "end": start + len(paragraph)})
    return text, sections


def _other_abstract(parent: Element | None) -> tuple[str, list[dict[str, Any]]]:
    "The first English OtherAbstract (Language defaults to eng in the DTD), for records without one."
    if parent is None:
        return "", []
    for other in parent.findall("OtherAbstract"):
        if (other.get("Language") or "eng").lower() == "eng":
            text, sections = _abstract(other)
            if text:
                return text, sections
    return "", []


# ---- dates ---------------------------------------------------------------------------------


def _month(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        month = int(value)
        return month if 1 <= month <= 12 else None
    return _MONTHS.get(value[:3].lower())


def _iso(year: str | None, month: int | None = None, day: str | None = None) -> str | None:
    "ISO date as precise as the parts allow: YYYY, YYYY-MM or YYYY-MM-DD."
    if not year or not year.strip().isdigit() or len(year.strip()) != 4:
        return None
    year = year.strip()
    if month is None:
        return year
    if day and day.strip().isdigit():
        try:
            return datetime.date(int(year), month, int(day)).isoformat()
        except ValueError:
            pass
    return f"{year}-{month:02d}"


def _date(elem: Element | None) -> str | None:
    "A PubDate / PubMedPubDate: Year, Month (number or name), Day, or a free-text MedlineDate."
    if elem is None:
        return None
    year = elem.findtext("Year")
    if year:
        return _iso(year, _month(elem.findtext("Month")), elem.findtext("Day"))
    medline = elem.findtext("MedlineDate")
    if medline:
        # "1998 Dec-1999 Jan", "2000 Spring", "1975-1976": the start of the range.
        m = _MEDLINE_DATE.match(medline)
        if m:
            return _iso(m.group(1), _month(m.group(2)) if m.group(2) else None, m.group(3))
    return None


def _entry_date(history: Element | None) -> str | None:
    "The Entrez date (when the record entered PubMed); 'pubmed' status as a fallback."
    if history is None:
        return None
    for status in ("entrez", "pubmed"):
        for node in history.findall("PubMedPubDate"):
            if node.get("PubStatus") == status:
                found = _date(node)
                if found:
                    return found
    return None


# ---- records -------------------------------------------------------------------------------


def _article_ids(*lists: Element | None) -> dict[str, str]:
    "IdType -> id from the record's own ArticleIdLists (never from cited references)."
    ids: dict[str, str] = {}
    for id_list in lists:
        if id_list is None:
            continue
        for node in id_list.findall("ArticleId"):
            kind = (node.get("IdType") or "").strip()
            value = (node.text or "").strip()
            if kind and value and kind not in ids:
                ids[kind] = value
    return ids


def _elocation_doi(parent: Element | None) -> str | None:
    if parent is None:
        return None
    for node in parent.findall("ELocationID"):
        if node.get("EIdType") == "doi" and node.get("ValidYN", "Y") != "N" and (node.text or "").strip():
            return (node.text or "").strip()
    return None


def _pmid(parent: Element | None, where: str, count: int, kind: str) -> str:
    # Direct child only: CommentsCorrections and references carry PMIDs of other records.
    pmid = (parent.findtext("PMID") or "").strip() if parent is not None else ""
    if not pmid:
        raise InputError(f"{where}: record {count} (<{kind}>) has no PMID")
    return pmid


def _pmid_version(parent: Element | None) -> int | None:
    "The record's own <PMID Version=...> (1 for most; 2 and up for versioned citations), if given."
    # Direct child only, as for the PMID: cited records' PMIDs carry versions of their own.
    return _version(parent.find("PMID") if parent is not None else None)


def _version(node: Element | None) -> int | None:
    "A <PMID>'s Version attribute as a number SQLite can store, or None."
    value = (node.get("Version") or "").strip() if node is not None else ""
    # ASCII digits only ("²".isdigit() holds, int() refuses it), and no more than SQLite stores.
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_VERSION:
        return None
    return int(value)


MAX_VERSION = 2**63 - 1  # SQLite's largest integer


def _title(title: str, vernacular: str | None) -> str:
    "ArticleTitle, or the vernacular title when PubMed has no English one."
    if title.lower() in NOT_AVAILABLE and vernacular:
        return vernacular
    return title


def _year(pub_date: str | None) -> int | None:
    return int(pub_date[:4]) if pub_date else None


def _article(elem: Element, where: str, count: int) -> Document:
    citation = elem.find("MedlineCitation")
    pmid = _pmid(citation, where, count, "PubmedArticle")
    article = citation.find("Article") if citation is not None else None
    data = elem.find("PubmedData")
    art = article if article is not None else Element("Article")  # tolerate a bare citation

    abstract, sections = _abstract(art.find("Abstract"))
    if not abstract:
        abstract, sections = _other_abstract(citation)
    vernacular = _flatten(art.find("VernacularTitle")) or None
    ids = _article_ids(data.find("ArticleIdList") if data is not None else None)
    pmcid = ids.get("pmc")
    if not pmcid and citation is not None:  # older records carry the PMCID as an OtherID only
        for other in citation.findall("OtherID"):
            value = (other.text or "").strip()
            if value.startswith("PMC") and other.get("Source") == "NLM":
                pmcid = value.split()[0]
                break
    journal_elem = art.find("Journal")
    journal = None
    pub_date = None
    if journal_elem is not None:
        journal = (_flatten(journal_elem.find("Title")) or _flatten(journal_elem.find("ISOAbbreviation"))
                   or None)
        pub_date = _date(journal_elem.find("JournalIssue/PubDate"))
    if journal is None and citation is not None:
        journal = (citation.findtext("MedlineJournalInfo/MedlineTA") or "").strip() or None
    doi = ids.get("doi") or _elocation_doi(art)
    return Document(
        id=pmid,
        title=_title(_flatten(art.find("ArticleTitle")), vernacular),
        abstract=abstract,
        pmid=pmid,
        doi=doi,
        pmcid=pmcid,
        source="pubmed",
        source_ids=_source_ids(pmid, ids, doi, pmcid),
        journal=journal,
        pub_date=pub_date,
        year=_year(pub_date),
        entry_date=_entry_date(data.find("History") if data is not None else None),
        language=(art.findtext("Language") or "").strip() or None,
        pub_types=[t for t in (_flatten(p) for p in art.findall("PublicationTypeList/PublicationType")) if t],
        sections=sections,
        vernacular_title=vernacular,
        pmid_version=_pmid_version(citation),
    )


def _book(elem: Element, where: str, count: int) -> Document:
    book_doc = elem.find("BookDocument")
    pmid = _pmid(book_doc, where, count, "PubmedBookArticle")
    assert book_doc is not None  # _pmid raised otherwise
    data = elem.find("PubmedBookData")
    book = book_doc.find("Book")
    ids = _article_ids(book_doc.find("ArticleIdList"), data.find("ArticleIdList") if data is not None else None)
    book_title = _flatten(book.find("BookTitle")) if book is not None else ""
    chapter_title = _flatten(book_doc.find("ArticleTitle"))
    vernacular = _flatten(book_doc.find("VernacularTitle")) or None
    abstract, sections = _abstract(book_doc.find("Abstract"))
    if not abstract:
        abstract, sections = _other_abstract(book_doc)
    pub_date = _date(book.find("PubDate")) if book is not None else None
    doi = ids.get("doi") or _elocation_doi(book_doc)
    return Document(
        id=pmid,
        # A chapter (e.g. one GeneReviews entry) has its own ArticleTitle; a whole book has not.
        title=_title(chapter_title or book_title, vernacular),
        abstract=abstract,
        pmid=pmid,
        doi=doi,
        pmcid=ids.get("pmc"),
        source="pubmed",
        source_ids=_source_ids(pmid, ids, doi, ids.get("pmc")),
        journal=(book_title or None) if chapter_title else None,  # the book holds the chapter
        pub_date=pub_date,
        year=_year(pub_date),
        entry_date=_entry_date(data.find("History") if data is not None else None),
        language=(book_doc.findtext("Language") or "").strip() or None,
        pub_types=[t for t in (_flatten(p) for p in book_doc.findall("PublicationType")) if t],
        sections=sections,
        vernacular_title=vernacular,
        pmid_version=_pmid_version(book_doc),
    )


def _source_ids(pmid: str, ids: dict[str, str], doi: str | None, pmcid: str | None) -> dict[str, str]:
    "All ids the record names, keyed by PubMed IdType (pubmed, doi, pmc, pii, bookaccession...)."
    out = {"pubmed": pmid, **{k: v for k, v in ids.items() if k != "pubmed"}}
    if doi:
        out.setdefault("doi", doi)
    if pmcid:
        out.setdefault("pmc", pmcid)
    return out
