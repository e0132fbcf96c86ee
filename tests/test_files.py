"""Reading saved files: JSON Lines documents and the dispatch to the PubMed XML reader."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from evidex.errors import InputError
from evidex.files import read_file, sniff_format
from evidex.models import Document


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as info:
        list(read_file(path))
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_eval_docs(eval_docs: Path) -> None:
    docs = list(read_file(eval_docs))
    assert len(docs) == 200
    assert all(isinstance(d, Document) and d.source == "jsonl" for d in docs)
    assert len({d.id for d in docs}) == 200 and all(d.id == d.pmid for d in docs)
    first = json.loads(eval_docs.read_text(encoding="utf-8").splitlines()[0])
    assert docs[0].pmid == first["pmid"] and docs[0].title == first["title"] and docs[0].abstract == first["abstract"]
    assert all(d.title or d.abstract for d in docs)


def test_gzipped_jsonl_and_bom(eval_docs: Path, tmp_path: Path) -> None:
    lines = eval_docs.read_bytes().splitlines(keepends=True)[:3]
    packed = tmp_path / "docs.jsonl.gz"
    packed.write_bytes(gzip.compress(b"".join(lines)))
    assert [d.pmid for d in read_file(packed)] == [json.loads(l)["pmid"] for l in lines]
    # Saved bodies are not always named for what they are: the first bytes decide.
    unnamed = tmp_path / "docs.jsonl"
    unnamed.write_bytes(gzip.compress(b"".join(lines)))
    mislabelled = tmp_path / "plain.jsonl.gz"
    mislabelled.write_bytes(b"".join(lines))
    assert [d.pmid for d in read_file(unnamed)] == [d.pmid for d in read_file(mislabelled)] == [d.pmid for d in read_file(packed)]
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + b"".join(lines))  # Windows editors add one
    assert len(list(read_file(bom))) == 3


@pytest.mark.parametrize("name, pack", [("docs.jsonl", False), ("docs.jsonl.gz", True),
                                        ("pubmed2.xml", False), ("pubmed2.xml.gz", True)])
def test_digest_of_the_bytes_read(eval_docs: Path, pubmed_dir: Path, tmp_path: Path, name: str, pack: bool) -> None:
    """The digest read_file fills is of the file on disk, trailing bytes the parser never needs included."""
    import hashlib

    source = eval_docs.read_bytes()[:5000].rsplit(b"\n", 1)[0] if "jsonl" in name else (
        pubmed_dir / "biopython" / "pubmed2.xml").read_bytes() + b"\n\n" + b" " * 200_000
    path = tmp_path / name
    path.write_bytes(gzip.compress(source) if pack else source)
    digest = hashlib.sha256()
    records = list(read_file(path, digest))
    assert records and digest.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_blank_lines_and_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"pmid": 123, "title": "T", "colour": "red", "year": "2020"}\n\n  \n{"id": "PPR:PPR1", "abstract": "A"}\r\n',
                    encoding="utf-8")
    first, second = read_file(path)
    assert (first.id, first.pmid, first.title, first.abstract, first.year) == ("123", "123", "T", "", 2020)
    assert (second.id, second.pmid, second.abstract) == ("PPR:PPR1", None, "A")


def test_bad_json_line_is_named(eval_docs: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = eval_docs.read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(good + b'{"pmid": "1", "title": "unterminated\n' + good)
    message = error_of(path)
    assert f"{path}:2: not valid JSON" in message


@pytest.mark.parametrize("line, problem", [
    ('{"title": "no id"}', "neither 'pmid' nor 'id'"),
    ('{"pmid": "1", "title": 5}', "'title' must be a string"),
    ('{"pmid": "1", "year": "soon"}', "'year' must be an integer"),
    # Dates compare as text ("after the review", newest first): only ISO forms order correctly.
    ('{"pmid": "1", "pub_date": "Feb 2025"}', "'pub_date' must be YYYY, YYYY-MM or YYYY-MM-DD, not 'Feb 2025'"),
    ('{"pmid": "1", "pub_date": "2025/02/01"}', "'pub_date' must be YYYY"),
    ('{"pmid": "1", "entry_date": "2025-2-1"}', "'entry_date' must be YYYY"),
    ('{"pmid": "1", "pub_date": "2025-02-30x"}', "'pub_date' must be YYYY"),
    ('{"pmid": "1", "abstract": "Short.", "sections": [{"label": "RESULTS", "start": 0, "end": 60}]}',
     "a section ends at 60, past the end of the abstract (6 characters)"),
    ('{"pmid": "1", "pub_date": "2025-02-29"}', "'pub_date' '2025-02-29' is not a day of the calendar"),
    ('{"pmid": "1", "entry_date": "2025-04-31"}', "'entry_date' '2025-04-31' is not a day of the calendar"),
    # A key that stands for a field the record lacks would store the paper without it.
    ('{"pmid": "1", "title": "t", "abstarct": "text"}', "'abstarct' is not a field evidex reads; did you mean 'abstract'?"),
    ('{"pmid": "1", "Title": "t"}', "'Title' is not a field evidex reads; did you mean 'title'?"),
    ('{"pmid": "1", "title": "t", "abstractText": "text", "source": "MED"}', "did you mean 'abstract'?"),
    ('{"pmid": "1", "titel": "t"}', "'titel' is not a field evidex reads; did you mean 'title'?"),
    ('{"pmid": "1", "pub-date": "2020"}', "did you mean 'pub_date'?"),
    ('{"pmid": "1", "title": "t", "abstract-text": "text"}', "did you mean 'abstract'?"),
    ('{"pmid": "1", "title": "t", "abstract_en": "text"}', "did you mean 'abstract'?"),
    ('{"pmid": "1", "title": "t", "abstract_inverted_index": {"IFN": [0]}}', "did you mean 'abstract'?"),
    ('{"pmid": "1", "source_ids": {"pmc": ["PMC1"]}}', "'source_ids' values must be strings"),
    ('{"pmid": "1", "pub_types": [1, null]}', "'pub_types' must be a list of strings"),
    ('{"pmid": "1", "sections": ["RESULTS"]}', "'sections' must be a list of objects with start <= end"),
    ('{"pmid": "1", "sections": [{"label": "R", "start": 9, "end": 2}]}', "'sections' must be a list of objects"),
])
def test_bad_records(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"pmid": "9", "title": "ok"}\n' + line + "\n", encoding="utf-8")
    assert f"{path}:2: " in error_of(path) and problem in error_of(path)


def test_other_unknown_keys_are_ignored(tmp_path: Path) -> None:
    "Keys of other tools (authors, MeSH, an origin) are no evidex field and no misspelling of one."
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"pmid": "1", "title": "T", "abstract": "A", "origin": "x", "authors": ["A B"],
                                "mesh": [], "articleTitle": "T", "abstractText": "A"}) + "\n"
                    # Keys of real exports that only resemble a field: Europe PMC, OpenAlex, a database dump.
                    + json.dumps({"pmid": "2", "title": "T", "pubTypeList": {"pubType": ["Review"]},
                                  "pubType": "review", "has_abstract": False, "abstract_inverted_index": None,
                                  "journal_id": 7, "deleted_at": None, "source_id": "S1", "title_source": "x",
                                  "pubdate": "2020"}) + "\n", encoding="utf-8")
    first, second = read_file(path)
    assert (first.title, first.abstract, second.title, second.abstract) == ("T", "A", "T", "")


def test_dates_and_the_year_they_give(tmp_path: Path) -> None:
    path = tmp_path / "dated.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (
        {"pmid": "1", "pub_date": "2027-02-01"}, {"pmid": "2", "pub_date": "2025-12", "year": 2026},
        {"pmid": "3", "pub_date": " ", "entry_date": "2024"}, {"pmid": "4"})) + "\n", encoding="utf-8")
    got = [(d.pub_date, d.year, d.entry_date) for d in read_file(path)]
    assert got == [("2027-02-01", 2027, None), ("2025-12", 2026, None), (None, None, "2024"), (None, None, None)]


def test_non_object_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"pmid": "9"}\n[1, 2]\n', encoding="utf-8")
    assert "expected a JSON object, got list" in error_of(path)


@pytest.mark.parametrize("content", [b"", b"\n \n\t\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    assert "file is empty" in error_of(path)


def test_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"pmid": "1", "title": "ok"}\n{"pmid": "2", "title": "caf\xe9"}\n'.encode("latin-1"))
    message = error_of(path)
    assert f"{path}:2: not UTF-8" in message


def test_neither_format(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("PMID- 123\nTI  - a MEDLINE text record\n", encoding="utf-8")
    assert "neither PubMed XML nor JSON Lines" in error_of(path)


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")])
@pytest.mark.parametrize("kind", ["jsonl", "xml", "jsonl.gz"])
def test_a_utf16_file_is_named_for_its_encoding(eval_docs: Path, pubmed_dir: Path, tmp_path: Path, kind: str,
                                                encoding: str, name: str) -> None:
    "Notepad's 'Unicode' or PowerShell's > saves UTF-16 with a byte order mark: say so, not 'neither format'."
    text = (pubmed_dir / "biopython" / "pubmed2.xml").read_text(encoding="utf-8") if kind == "xml" else \
        "".join(eval_docs.read_text(encoding="utf-8").splitlines(keepends=True)[:2])
    data = ("\ufeff" if encoding == "utf-16-be" else "").encode(encoding) + text.encode(encoding)
    path = tmp_path / f"saved.{kind}"
    path.write_bytes(gzip.compress(data) if kind.endswith(".gz") else data)
    message = error_of(path)
    assert f"is {name} text" in message and "save it as UTF-8" in message and "neither" not in message
    # Saved again as UTF-8, the same records read.
    path.write_bytes(text.encode("utf-8"))
    assert len(list(read_file(path))) == 2


@pytest.mark.parametrize("encoding, name", [("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32-le", "UTF-32"),
                                            ("utf-32-be", "UTF-32")])
@pytest.mark.parametrize("kind", ["jsonl", "xml", "jsonl.gz"])
def test_a_utf16_file_without_a_byte_order_mark_is_named_too(eval_docs: Path, pubmed_dir: Path, tmp_path: Path,
                                                             kind: str, encoding: str, name: str) -> None:
    "The same text with no byte order mark (iconv -t UTF-16LE, .NET's GetBytes): its NUL bytes name it."
    text = (pubmed_dir / "biopython" / "pubmed2.xml").read_text(encoding="utf-8") if kind == "xml" else \
        "\n" + "".join(eval_docs.read_text(encoding="utf-8").splitlines(keepends=True)[:2])
    path = tmp_path / f"saved.{kind}"
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data) if kind.endswith(".gz") else data)
    message = error_of(path)
    assert f"is {name} text (no byte order mark" in message and "save it as UTF-8" in message, message
    path.write_bytes(text.encode("utf-8"))
    assert len(list(read_file(path))) == 2


def test_directory_and_missing_file(tmp_path: Path) -> None:
    assert "is a directory" in error_of(tmp_path)
    assert "no such file" in error_of(tmp_path / "absent.jsonl")


def test_broken_gzip(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl.gz"
    packed = gzip.compress(b'{"pmid": "1", "title": "t"}\n' * 2000)
    path.write_bytes(packed[: len(packed) // 2])
    assert "broken gzip file" in error_of(path)
    # The magic bytes decide, not the name: a .gz that is not gzip is read as what it is.
    path.write_bytes(b"not gzip at all")
    assert "neither PubMed XML nor JSON Lines" in error_of(path)


def test_xml_goes_to_the_pubmed_reader(pubmed_dir: Path, tmp_path: Path) -> None:
    assert sniff_format(pubmed_dir / "biopython" / "pubmed2.xml") == "pubmed-xml"
    assert [d.pmid for d in read_file(pubmed_dir / "biopython" / "pubmed2.xml")] == ["11748933", "11700088"]
    packed = tmp_path / "pubmed2.xml.gz"
    packed.write_bytes(gzip.compress((pubmed_dir / "biopython" / "pubmed2.xml").read_bytes()))
    assert [d.doi for d in read_file(packed)] == ["10.1006/cryo.2001.2328", "10.1006/jmre.2001.2429"]
    assert "root element is <eSearchResult>" in error_of(pubmed_dir / "biopython" / "esearch1.xml")


@pytest.mark.parametrize("kind", ["jsonl", "xml", "jsonl.gz"])
def test_a_pipe_loses_nothing(eval_docs: Path, pubmed_dir: Path, tmp_path: Path, kind: str) -> None:
    "A FIFO (as /dev/stdin or <(zcat ...) is) cannot be read twice: the format is told from a peek."
    import hashlib
    import os
    import threading

    if kind.startswith("jsonl"):
        data = b"".join(eval_docs.read_bytes().splitlines(keepends=True)[:40])  # well over 4 KiB
    else:
        data = (pubmed_dir / "biopython" / "pubmed2.xml").read_bytes()
    if kind.endswith(".gz"):
        data = gzip.compress(data)
    regular = tmp_path / f"saved.{kind}"
    regular.write_bytes(data)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    digest = hashlib.sha256()
    try:
        piped = [d.id for d in read_file(fifo, digest)]
    finally:
        writer.join(timeout=10)
    assert piped == [d.id for d in read_file(regular)] and len(piped) >= 2
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


BOM = b"\xef\xbb\xbf"


def write_in_chunks(fifo: Path, chunks: list[bytes], pause: float = 0.4):
    "A thread writing chunks into a FIFO one write at a time, with a pause after each (as a slow producer does)."
    import threading
    import time

    def write() -> None:
        with open(fifo, "wb", buffering=0) as f:
            for chunk in chunks:
                f.write(chunk)
                time.sleep(pause)

    writer = threading.Thread(target=write)
    writer.start()
    return writer


def piped_input(eval_docs: Path, pubmed_dir: Path, case: str) -> list[bytes]:
    "The writes of one case: blank lines or a byte order mark first, the records in later writes."
    jsonl = b"".join(eval_docs.read_bytes().splitlines(keepends=True)[:3])
    xml = (pubmed_dir / "biopython" / "pubmed2.xml").read_bytes()
    return {
        "blank lines, jsonl": [b"\n\n", b"\r\n \n", jsonl],
        "bom, jsonl": [BOM, jsonl],
        "bom split, jsonl": [BOM[:1], BOM[1:], b"\n", jsonl],
        "bom, xml": [BOM, xml],
        "gzip magic split, jsonl": [gzip.compress(b"\n" + jsonl)[:1], gzip.compress(b"\n" + jsonl)[1:]],
        "blank lines only": [b"\n", b"  \n", BOM],
        "nothing": [],
    }[case]


CASES = ["blank lines, jsonl", "bom, jsonl", "bom split, jsonl", "bom, xml", "gzip magic split, jsonl",
         "blank lines only", "nothing"]


@pytest.mark.parametrize("hashed", [False, True], ids=["extract", "ingest"])
@pytest.mark.parametrize("case", CASES)
def test_a_pipe_whose_first_write_is_blank_reads_on(eval_docs: Path, pubmed_dir: Path, tmp_path: Path,
                                                    case: str, hashed: bool) -> None:
    "A FIFO read as its writer writes: blank first writes are read past, and only a blank whole is empty."
    import hashlib
    import os

    chunks = piped_input(eval_docs, pubmed_dir, case)
    regular = tmp_path / "saved"
    regular.write_bytes(b"".join(chunks))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    # ingest hashes what it reads (a digest), extract --input does not: two ways through open_input.
    digest = hashlib.sha256() if hashed else None
    writer = write_in_chunks(fifo, chunks)
    try:
        if case in ("blank lines only", "nothing"):
            assert "file is empty" in error_of(fifo)
            assert "file is empty" in error_of(regular)
            return
        piped = list(read_file(fifo, digest))
    finally:
        writer.join(timeout=30)
    saved = list(read_file(regular))
    assert piped == saved and len(piped) >= 2
    if digest is not None:
        assert digest.hexdigest() == hashlib.sha256(regular.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", ["blank lines, jsonl", "bom, xml", "nothing"])
def test_extract_input_from_a_slow_pipe(eval_docs: Path, pubmed_dir: Path, tmp_path: Path, case: str) -> None:
    "evidex extract --input /dev/stdin, its first write a blank line or a BOM: the claims of the whole input."
    import os
    import subprocess
    import sys
    import time

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to see when evidex has opened its input")
    chunks = piped_input(eval_docs, pubmed_dir, case)
    regular = tmp_path / "saved"
    regular.write_bytes(b"".join(chunks))
    env = {**os.environ, "EVIDEX_LOAD_PLUGINS": "ifn"}
    command = [sys.executable, "-m", "evidex", "extract", "--output"]
    expected = subprocess.run([*command, str(tmp_path / "saved.out"), "--input", str(regular)],
                              capture_output=True, env=env)
    proc = subprocess.Popen([*command, str(tmp_path / "piped.out"), "--input", "/dev/stdin"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    stdin = os.readlink(f"/proc/{proc.pid}/fd/0")
    writes = iter(chunks)
    first = next(writes, None)
    if first is not None:
        proc.stdin.write(first)
        proc.stdin.flush()
    # The next writes only once evidex has opened /dev/stdin (a second descriptor on the pipe)
    # and had time to read the first one: as from a producer that writes slowly.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        fds = os.listdir(f"/proc/{proc.pid}/fd")
        if any(int(fd) > 2 and _link(f"/proc/{proc.pid}/fd/{fd}") == stdin for fd in fds):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    for chunk in writes:
        proc.stdin.write(chunk)
        proc.stdin.flush()
        time.sleep(0.3)
    proc.stdin.close()
    err = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert proc.wait(timeout=60) == expected.returncode, err
    assert err.replace("/dev/stdin", "X") == expected.stderr.decode().replace(str(regular), "X")
    if case == "nothing":
        assert proc.returncode == 2 and "/dev/stdin: file is empty" in err
    else:
        assert proc.returncode == 0 and (tmp_path / "piped.out").read_bytes() == (tmp_path / "saved.out").read_bytes()


def _link(path: str) -> str:
    import os

    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile
        return ""


def test_pretty_printed_json_is_named_for_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"hitCount": 1, "resultList": {"result": []}}, indent=2), encoding="utf-8")
    assert "a JSON document spread over several lines, not JSON Lines" in error_of(path)


def test_a_long_blank_start_is_read_ahead_in_linear_time(tmp_path: Path) -> None:
    "Megabytes of blank lines before the first record: each byte is looked at a bounded number of times."
    import os
    import threading

    from evidex.files import _lookahead, _says_something, open_input

    blank = b"\n" * (8 << 20)
    record = json.dumps({"pmid": "1", "title": "T", "abstract": "A."}).encode() + b"\n"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as f:
            for start in range(0, len(blank), 1 << 16):
                f.write(blank[start:start + (1 << 16)])
                f.flush()
            f.write(record)

    writer = threading.Thread(target=write)
    writer.start()
    looked_at = 0

    def enough(head: bytes) -> bool:
        nonlocal looked_at
        looked_at += len(head)
        return _says_something(head)

    try:
        with open_input(fifo) as f:
            head, stream = _lookahead(f, enough)
            assert head == blank + record and stream.read() == blank + record
    finally:
        writer.join(timeout=30)
    # Before, the whole head so far was joined and tested after every read: some 500 times the input.
    assert looked_at < 3 * len(blank)


def test_a_dash_reads_standard_input_for_extract_and_ingest(eval_docs: Path, tmp_path: Path) -> None:
    "`extract --input -` and `ingest -` read stdin, as `--output -` writes stdout: the same as naming the file."
    import sqlite3
    import subprocess
    import sys

    saved = tmp_path / "docs.jsonl"
    saved.write_text("".join(eval_docs.read_text().splitlines(keepends=True)[:5]))
    evidex = [sys.executable, "-m", "evidex"]
    named = subprocess.run([*evidex, "extract", "--input", str(saved), "--output", "-"],
                           capture_output=True, text=True, check=True)
    dashed = subprocess.run([*evidex, "extract", "--input", "-", "--output", "-"], input=saved.read_text(),
                            capture_output=True, text=True)
    assert dashed.returncode == 0, dashed.stderr
    assert dashed.stdout == named.stdout and named.stdout.count("\n") > 5
    db = tmp_path / "e.db"
    done = subprocess.run([*evidex, "ingest", "--db", str(db), "-"], input=saved.read_text(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("run 1 ingest: 5 documents (5 new, 0 changed)")
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from documents").fetchone()[0] == 5
