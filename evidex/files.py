"""Read saved records: PubMed XML (plain or gzipped) and JSON Lines documents."""

from __future__ import annotations

import codecs
import datetime
import difflib
import functools
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

from .errors import InputError, UsageError
from .models import ISO_DATE, Deletion, Document

JSONL_FIELDS = set(Document.__dataclass_fields__)
GZIP_MAGIC = b"\x1f\x8b"


class _Hashing(io.RawIOBase):
    "A raw reader that feeds every byte it reads from a file to a digest."

    def __init__(self, f: IO[bytes], digest: Any) -> None:
        self._f = f
        self._digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._f.readinto(b)  # type: ignore[attr-defined]
        if n:
            self._digest.update(memoryview(b)[:n])
        return n


class _Replay(io.RawIOBase):
    "A raw reader that gives back bytes already read from a stream, then the rest of that stream."

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        # read1: what the stream has or its next read brings (a pipe's next write), as a raw read would.
        data = self._stream.read1(len(b))  # type: ignore[attr-defined]
        b[:len(data)] = data
        return len(data)


def _lookahead(stream: IO[bytes], enough: Callable[[bytes], bool]) -> tuple[bytes, IO[bytes]]:
    """The first bytes of a stream, read until enough(them) or the end, and a stream that still starts with them.

    peek() brings what one read returns: from a pipe or a FIFO that is the writer's first write,
    which may be a lone newline or byte order mark while the records follow in later writes.
    """
    head = stream.peek(4096)[:4096]  # type: ignore[attr-defined]
    if enough(head):
        return head, stream  # a file, or a pipe whose first write says enough: nothing to wrap
    # enough() is asked of the first 4 KiB and the latest read, and the reads are joined once at
    # the end: megabytes of blank lines before the first record cost linear time, not quadratic.
    # (Both tests here, two bytes and a first non-blank byte, are told from those.)
    chunks: list[bytes] = []
    first = b""
    while True:
        chunk = stream.read1(1 << 16)  # type: ignore[attr-defined]
        if not chunk:
            break
        chunks.append(chunk)
        probe = first + chunk
        first = probe[:4096]
        if enough(probe):
            break
    head = b"".join(chunks)
    return head, io.BufferedReader(_Replay(head, stream))


@contextmanager
def open_input(path: Path, digest: Any = None) -> Iterator[IO[bytes]]:
    """A saved file's bytes, gunzipped when it starts with the gzip magic.

    With a hashlib digest, every byte of the file on disk goes through it in the same pass
    that parses it (the rest is drained once parsing ends), so the receipt's hash is of what
    was read, even if the file is replaced meanwhile.
    """
    with open(path, "rb") as f:
        raw: io.BufferedReader = io.BufferedReader(_Hashing(f, digest)) if digest is not None else f
        # The magic bytes, not the suffix: saved efetch bodies are not always named .gz.
        head, stream = _lookahead(raw, lambda head: len(head) >= 2)
        if head[:2] == GZIP_MAGIC:
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=stream, mode="rb"))
        yield stream
        if digest is not None:
            while raw.read(1 << 20):
                pass


def document_from_json(obj: dict, where: str) -> Document:
    "Build a Document from one JSON object; pmid or id is required, unknown keys are kept out."
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "pmid"):
        value = obj.get(key)
        # An id is text or a whole number: a list, a float or true would be stored as "['7', '8']", "True".
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            raise InputError(f"{where}: {key!r} must be a string or a whole number, not {type(value).__name__}")
    doc_id = obj.get("id") or obj.get("pmid")
    if doc_id is None or not str(doc_id).strip():
        raise InputError(f"{where}: record has neither 'pmid' nor 'id'")
    known = obj.keys() & JSONL_FIELDS
    if len(known) < len(obj):
        _refuse_misspelt(obj, known, where)
    kwargs = {k: v for k, v in obj.items() if k in JSONL_FIELDS}
    kwargs["id"] = str(doc_id).strip()
    if obj.get("pmid"):
        kwargs["pmid"] = str(obj["pmid"]).strip()
    for name, expected in FIELD_TYPES.items():
        value = kwargs.get(name)
        if value is not None and (isinstance(value, bool) is not (expected is bool) or not isinstance(value, expected)):
            kind = {str: "a string", list: "a list", dict: "an object", bool: "true or false",
                    int: "a whole number"}[expected]
            raise InputError(f"{where}: {name!r} must be {kind}, not {type(value).__name__}")
    if kwargs.get("pmid_version") is not None and not 1 <= kwargs["pmid_version"] <= 2**63 - 1:
        # SQLite stores no larger integer: beyond it the insert would fail with a traceback.
        raise InputError(f"{where}: 'pmid_version' must be 1 to {2**63 - 1}, not {kwargs['pmid_version']}")
    _check_nested(kwargs, where)
    for text_field in ("title", "abstract"):
        kwargs[text_field] = kwargs.get(text_field) or ""
    kwargs.setdefault("source", "jsonl")
    if kwargs.get("year") is not None:
        year = kwargs["year"]
        try:
            if isinstance(year, bool) or (isinstance(year, float) and not year.is_integer()):
                raise ValueError
            kwargs["year"] = int(year)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{where}: 'year' must be an integer") from None
        if not 1000 <= kwargs["year"] <= 9999:
            raise InputError(f"{where}: 'year' {kwargs['year']} is not a four-digit year")
    for name in ("pub_date", "entry_date"):
        # Evidence is dated and ordered by these as text ("after the review", newest first).
        value = (kwargs.get(name) or "").strip() or None
        if value is not None and not ISO_DATE.fullmatch(value):
            raise InputError(f"{where}: {name!r} must be YYYY, YYYY-MM or YYYY-MM-DD, not {value!r}")
        if value is not None and len(value) == 10:
            try:
                datetime.date.fromisoformat(value)
            except ValueError:  # 2024-02-30 has the form but names no day
                raise InputError(f"{where}: {name!r} {value!r} is not a day of the calendar") from None
        kwargs[name] = value
    if kwargs.get("year") is None and kwargs["pub_date"]:
        kwargs["year"] = int(kwargs["pub_date"][:4])  # as a PubMed record's year is its PubDate's
    for name, value in kwargs.items():
        # Text SQLite and the content hash can store: no lone surrogate ("\ud800") and no NUL.
        for text in ([value] if isinstance(value, str) else value if isinstance(value, list) else
                     list(value.values()) if isinstance(value, dict) else []):
            if isinstance(text, str) and ("\x00" in text or _SURROGATE.search(text)):
                raise InputError(f"{where}: {name!r} holds a NUL or an unpaired surrogate character")
    return Document(**kwargs)


def _check_nested(kwargs: dict, where: str) -> None:
    "What the lists and objects hold: ids are text, and sections are labelled character spans."
    ids = kwargs.get("source_ids") or {}
    if not all(isinstance(v, str) for v in ids.values()):
        raise InputError(f"{where}: 'source_ids' values must be strings (one id per source)")
    if not all(isinstance(v, str) for v in kwargs.get("pub_types") or []):
        raise InputError(f"{where}: 'pub_types' must be a list of strings")
    for section in kwargs.get("sections") or []:
        if not (isinstance(section, dict) and isinstance(section.get("start"), int) and isinstance(section.get("end"), int)
                and not isinstance(section["start"], bool) and 0 <= section["start"] <= section["end"]
                and all(isinstance(section.get(k), (str, type(None))) for k in ("label", "category"))):
            raise InputError(f"{where}: 'sections' must be a list of objects with start <= end (character "
                             f"offsets in the abstract) and a label, not {section!r}"[:300])
        abstract = kwargs.get("abstract") or ""
        # Without an abstract the record only adds metadata to a stored paper, whose text it cannot see.
        if abstract and section["end"] > len(abstract):
            raise InputError(f"{where}: a section ends at {section['end']}, past the end of the abstract "
                             f"({len(abstract)} characters)")


# Other tools' names for the text fields (Europe PMC's abstractText, PubMed's ArticleTitle).
TEXT_ALIASES = {"abstracttext": "abstract", "abstract_text": "abstract", "articletitle": "title",
                "article_title": "title"}


@functools.lru_cache(maxsize=1024)
def _meant(key: str) -> tuple[str | None, bool]:
    """The field an unknown key stands for, and whether that holds only if it has a value.

    The same name in another case or with dashes (`Abstract`, `pub-date`), another tool's name
    for a text field (`abstractText`, `abstract_en`, OpenAlex's `abstract_inverted_index`), or a
    typo of one: a paper stored without its text or date is the loss worth an error.
    """
    lower = key.lower().replace("-", "_")
    if lower in JSONL_FIELDS:
        return lower, False
    if lower in TEXT_ALIASES:
        return TEXT_ALIASES[lower], False
    for name in ("title", "abstract"):
        # One or two letters swapped, dropped or added: "abstarct", "abstrct", "titel".
        if abs(len(lower) - len(name)) <= 1 and difflib.SequenceMatcher(None, lower, name).ratio() >= 0.8:
            return name, False
        if lower.startswith(name):  # "abstract_text", "abstract_en", "title_en": only with text in it
            return name, True
    return None, False


def _refuse_misspelt(obj: dict, known: set[str], where: str) -> None:
    """Unknown keys are ignored, but not one that stands for a field the record lacks.

    A misspelt "abstarct", an "Abstract" or Europe PMC's "abstractText" would otherwise store
    the paper with no abstract and report success.
    """
    for key in obj.keys() - JSONL_FIELDS:
        meant, needs_value = _meant(key)
        if meant is None or meant in known:
            continue
        value = obj[key]
        if needs_value and not (isinstance(value, (str, dict, list)) and value):
            continue  # "abstract_inverted_index": null, "title_source": "" say nothing is lost
        raise InputError(f"{where}: {key!r} is not a field evidex reads; did you mean {meant!r}? "
                         f"(fields: {', '.join(sorted(JSONL_FIELDS))})")


# The JSON type each optional field must have (the rest are checked above).
FIELD_TYPES: dict[str, type] = {
    "title": str, "abstract": str, "doi": str, "pmcid": str, "source": str, "journal": str, "pub_date": str,
    "entry_date": str, "language": str, "vernacular_title": str, "pub_types": list, "sections": list,
    "source_ids": dict, "deleted": bool, "pmid_version": int,
}
_SURROGATE = re.compile("[\ud800-\udfff]")


def read_jsonl(path: Path, digest: Any = None) -> Iterator[Document | Deletion]:
    "Stream the records of a JSON Lines file (plain or gzipped), one object a line; 'deleted': true is a Deletion."
    with _reading(path):
        with open_input(path, digest) as f:
            yield from _iter_jsonl(f, path)


def _iter_jsonl(f: IO[bytes], path: Path) -> Iterator[Document | Deletion]:
    # Bytes, decoded line by line: a bad byte is reported with its line number, and only
    # "\n" ends a line (a U+2028 inside a string is not a line break in JSON Lines).
    for n, raw in enumerate(f, 1):
        try:
            # utf-8-sig on the first line: sniff_format accepts a BOM, so must we.
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8").strip()
        except UnicodeDecodeError as ex:
            raise InputError(f"{path}:{n}: not UTF-8 text ({ex.reason} at byte {ex.start} of the line)") from None
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as ex:
            if n == 1 and line == "{":  # pretty-printed JSON, e.g. a saved Europe PMC search response
                raise InputError(f"{path}: a JSON document spread over several lines, not JSON Lines "
                                 "(one record per line)") from None
            raise InputError(f"{path}:{n}: not valid JSON: {ex.msg} (column {ex.colno})") from None
        document = document_from_json(obj, f"{path}:{n}")
        if document.deleted:
            # "deleted": true withdraws the record, as a PubMed DeleteCitation does: stored as a
            # new paper with no text, it would erase the stored one's text and hide the withdrawal.
            # With a pmid_version it withdraws that version only, as a DeleteCitation's Version does.
            yield Deletion(document.pmid or document.id, document, version=document.pmid_version)
            continue
        yield document


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    "Read and gzip errors of a saved file as one-line InputErrors naming it."
    try:
        yield
    except (gzip.BadGzipFile, EOFError, zlib.error) as ex:
        raise InputError(f"{path}: broken gzip file: {ex or 'truncated'}") from None
    except OSError as ex:
        raise InputError(f"{path}: cannot read: {ex.strerror or ex}") from None


def sniff_format(path: Path) -> str:
    "Tell 'pubmed-xml' from 'jsonl' by the first non-blank character."
    with _reading(path):
        with open_input(path) as f:
            return _format_of(_lookahead(f, _says_something)[0], path)


BLANK = b"\xef\xbb\xbf \t\r\n"  # whitespace and the UTF-8 byte order mark, byte by byte


def _says_something(head: bytes) -> bool:
    "Does head hold a byte that is neither blank nor part of a byte order mark?"
    return bool(head.lstrip(BLANK))


# Byte order marks of encodings a record file must not be in; UTF-32 first, as its LE mark starts with UTF-16's.
OTHER_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def _wide_encoding(head: bytes) -> str | None:
    """'UTF-16' or 'UTF-32' for text in one of them without a byte order mark, told by its NUL bytes, else None.

    UTF-8 text holds no NUL byte. In UTF-16 an ASCII character (the first ones of every record:
    '<', '{', blanks) is its byte and a NUL, the NUL always on the same side; in UTF-32 the two
    high bytes of any character up to U+FFFF are NUL.
    """
    n = min(len(head), 64)
    quads, pairs = head[:n - n % 4], head[:n - n % 2]
    for high in ((2, 3), (0, 1)):  # little-endian, big-endian
        if quads and any(quads) and all(quads[i] == 0 for i in range(len(quads)) if i % 4 in high):
            return "UTF-32"
    for side in (1, 0):  # the NUL after the character (little-endian), or before it
        nuls, others = pairs[side::2], pairs[1 - side::2]
        if nuls and 0 not in others and nuls.count(0) * 2 >= len(nuls):
            return "UTF-16"  # a character above U+00FF has no NUL: half of them may be such
    return None


def _format_of(head: bytes, path: Path) -> str:
    for bom, encoding in OTHER_BOMS:
        # Saved by Windows tools ("Unicode" in Notepad, PowerShell's > redirection): name the fix,
        # not "neither format" for a file whose records may be fine.
        if head.startswith(bom):
            raise InputError(f"{path}: is {encoding} text (byte order mark {bom.hex(' ').upper()}): save it as UTF-8")
    wide = _wide_encoding(head)
    if wide:  # the same text saved without the mark (.NET's Encoding.Unicode.GetBytes, iconv -t UTF-16LE)
        raise InputError(f"{path}: is {wide} text (no byte order mark; NUL bytes between the characters): "
                         "save it as UTF-8")
    stripped = head.lstrip(BLANK)
    if not stripped:
        raise InputError(f"{path}: file is empty")
    if stripped.startswith(b"<"):
        return "pubmed-xml"
    if stripped.startswith(b"{"):
        return "jsonl"
    raise InputError(f"{path}: neither PubMed XML nor JSON Lines")


def check_input(path: str | Path) -> None:
    "Refuse a path no records can be read from: missing, or a directory (InputError, one line)."
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a file")


def read_file(path: str | Path, digest: Any = None) -> Iterator[Document | Deletion]:
    """Stream the records of one saved file, whatever its format.

    The file is opened once and its format told from its first non-blank byte, read ahead and
    kept for the parser, so a pipe (/dev/stdin, a FIFO, process substitution) loses nothing. A hashlib digest, if given, has
    taken in every byte of the file once the stream is exhausted. A file that holds no record at
    all is an InputError once it has been read to its end.
    """
    path = Path(path)
    check_input(path)
    from .pubmed_xml import iter_pubmed_xml

    with _reading(path):
        with open_input(path, digest) as f:
            # Read on past blank lines and a byte order mark to the first byte that tells the
            # format; the stream still starts with them (line numbers, the XML parser's view).
            head, f = _lookahead(f, _says_something)
            jsonl = _format_of(head, path) == "jsonl"
            records = _iter_jsonl(f, path) if jsonl else iter_pubmed_xml(f, str(path))
            found = False
            for record in records:
                found = True
                yield record
    if not found:
        # An empty <PubmedArticleSet/> is what a failed export or an empty search saves: read as
        # "0 documents" it would pass for a search that found nothing.
        raise InputError(f"{path}: holds no records" + ("" if jsonl else " (no PubmedArticle, PubmedBookArticle or "
                                                        "DeleteCitation)") + "; nothing to read")


def refuse_overwriting(output: str | Path, keep: str | Path, what: str) -> None:
    """Refuse an output path that is keep (through a link, or a SQLite database's -wal, -shm or .lock).

    Writing it would replace what the command reads: the documents of --input, or the database.
    """
    if str(output) in ("-", ""):
        return
    out = Path(os.path.realpath(output))
    keep = Path(os.path.realpath(keep))
    names = {keep} | {keep.with_name(keep.name + suffix) for suffix in ("-wal", "-shm", "-journal", ".lock")}
    try:
        same = out in names or (out.exists() and keep.exists() and os.path.samefile(out, keep))  # a hard link
    except OSError:
        same = False
    if same:
        raise UsageError(f"--output {output} is {what}; writing it would destroy it")
