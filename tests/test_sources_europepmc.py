"""Europe PMC: documents from the recorded core results, HTML stripping, cursor paging."""

from __future__ import annotations

import datetime
import json

import pytest

from conftest import require_shared

EPMC = require_shared("corpora-raw", "api-responses", "europepmc", "pyEuropePMC")

from replay_server import ReplayServer  # noqa: E402

from evidex.errors import SourceError  # noqa: E402
from evidex.sources import EuropePMCSource, Window, europepmc_document, strip_html  # noqa: E402


def core_results() -> list[dict]:
    return json.loads((EPMC / "search_cancer_core.json").read_text())["resultList"]["result"]


def test_core_result_becomes_document():
    result = next(r for r in core_results() if r.get("pmcid") and r.get("abstractText"))
    doc = europepmc_document(result)
    assert doc.id == doc.pmid == result["pmid"]
    assert doc.pmcid == result["pmcid"] and doc.doi == result["doi"]
    assert doc.source == "europepmc"
    assert doc.source_ids == {"europepmc": f"MED:{result['id']}"}
    assert doc.year == int(result["pubYear"])
    assert doc.entry_date == result["firstIndexDate"]
    assert doc.journal == result["journalInfo"]["journal"]["title"]
    assert "<" not in doc.abstract and doc.abstract


def test_every_recorded_abstract_is_stripped_of_html():
    for result in core_results():
        doc = europepmc_document(result)
        assert "<h4>" not in doc.abstract and "</" not in doc.abstract
        for section in doc.sections:
            assert doc.abstract[section["start"]:].startswith(section["label"] + ": ")


def test_strip_html_headings_inline_tags_and_entities():
    text, sections = strip_html("<h4>Background</h4>IFN-<i>&beta;</i> x<sup>2</sup>.<h4>Results</h4>Up &amp; down.")
    assert text == "Background: IFN-β x2. Results: Up & down."
    assert sections == [
        {"label": "Background", "category": None, "start": 0, "end": 21},
        {"label": "Results", "category": None, "start": 22, "end": 41},
    ]
    assert strip_html(None) == ("", [])


def test_record_without_pmid_is_keyed_by_source_and_id():
    pages = json.loads((EPMC / "fetch_10pages_cancer.json").read_text())
    preprint = next(r for p in pages for r in p["resultList"]["result"] if r["source"] == "PPR")
    doc = europepmc_document(preprint)
    assert doc.pmid is None
    assert doc.id == f"PPR:{preprint['id']}" and doc.id.startswith("PPR:PPR")
    assert doc.source_ids == {"europepmc": doc.id}
    assert doc.doi == preprint["doi"]


@pytest.fixture
def source(monkeypatch, tmp_path):
    with ReplayServer(europepmc_limit=120) as srv:
        monkeypatch.setenv("EVIDEX_EUROPEPMC_URL", srv.europepmc_url)
        monkeypatch.setenv("EVIDEX_RATE_LIMIT", "200")
        monkeypatch.setenv("EVIDEX_RATE_DIR", str(tmp_path))
        monkeypatch.setenv("EVIDEX_BACKOFF", "0.01")
        src = EuropePMCSource()
        src.server = srv
        yield src
        src.close()


def test_cursor_paging_reaches_hit_count(source):
    [window] = source.plan("cancer", None, datetime.date(2026, 1, 1))
    assert window.expected == 120
    batches = list(source.fetch("cancer", window, 50))
    assert [b.fetched for b in batches] == [50, 50, 20]
    params = [p for e, p, _ in source.server.requests if e == "europepmc"]
    assert [p["cursorMark"] for p in params][:2] == ["*", "*"]
    assert all(p["resultType"] == "core" and p["format"] == "json" for p in params)
    assert params[2]["cursorMark"] != params[3]["cursorMark"]


def test_page_size_is_capped_at_1000(source):
    list(source.fetch("cancer", Window(None, None, 120), 5000))
    assert source.server.requests[-1][1]["pageSize"] == "1000"


def test_repeated_cursor_is_an_error(source):
    source.server.inject("europepmc", "repeat_cursor", after=1)
    with pytest.raises(SourceError, match="cursor .* repeated at 100 of 120 records"):
        list(source.fetch("cancer", Window(None, None, 120), 50))


def test_no_results_is_a_real_zero(source):
    [window] = source.plan("asdkfjhasdkfjhasdfasdasdasdfgsagsd", None, datetime.date(2026, 1, 1))
    assert window.expected == 0
    assert [b.fetched for b in source.fetch("asdkfjhasdkfjhasdfasdasdasdfgsagsd", window, 50)] == [0]


def lite_results() -> list[dict]:
    return [r for p in json.loads((EPMC / "fetch_10pages_cancer.json").read_text()) for r in p["resultList"]["result"]]


def test_year_falls_back_to_first_publication_date():
    # PMC-source results often carry no pubYear; their first publication date still dates them.
    undated = [r for r in lite_results() if not r.get("pubYear")]
    assert undated and all(r["firstPublicationDate"] for r in undated)
    for result in undated:
        assert europepmc_document(result).year == int(result["firstPublicationDate"][:4])
    dated = next(r for r in lite_results() if r.get("pubYear") and r["pubYear"] != r["firstPublicationDate"][:4])
    assert europepmc_document(dated).year == int(dated["pubYear"])  # the issue year still wins


def test_pmc_copy_without_pub_year_is_one_paper_with_its_med_copy(tmp_path):
    # The same paper from MED (PMID and DOI, no PMC id) and PMC (PMC id only, no pubYear): only
    # title and year tie them, so a missing year stored it twice.
    from evidex import db as dbm

    results = lite_results()
    med = next(r for r in results if r.get("pmid") == "40452325")
    pmc = next(r for r in results if r["id"] == "PMC12127779")
    assert not pmc.get("pubYear") and not pmc.get("doi") and not med.get("pmcid")
    db = dbm.open_db(tmp_path / "e.db")
    run = dbm.start_run(db, "ingest")
    assert [dbm.save_document(db, europepmc_document(r), run) for r in (med, pmc)][0] == "new"
    [(pmid, pmcid)] = db.execute("select pmid, pmcid from documents").fetchall()
    assert (pmid, pmcid) == ("40452325", "PMC12127779")


def test_escaped_inline_markup_in_titles_is_markup_not_text():
    # Europe PMC escapes a title's <sup>/<i>/<sub> ("m&lt;sup&gt;6&lt;/sup&gt;A"), unlike an abstract's tags.
    escaped = [r for r in lite_results() if "&lt;" in r["title"]]
    assert len(escaped) >= 10
    for result in escaped:
        title = europepmc_document(result).title
        assert not any(tag in title for tag in ("<i>", "</i>", "<sup>", "</sup>", "<sub>", "</sub>")), title
    by_pmid = {r.get("pmid"): europepmc_document(r).title for r in escaped}
    assert "enhances ZEB1 expression in an m6A-dependent manner" in by_pmid["40505930"]
    assert "inhibitors of Bcl-xL or Mcl-1" in by_pmid["40483575"]
    # An escaped "<" that is no tag stays text.
    assert "(age < 40 years)" in by_pmid["40450633"].replace("\u2009", " ")


def test_entities_are_decoded_once():
    text, _ = strip_html("R&amp;D, autocrine&amp;paracrine, p &amp;lt; 0.05, &lt;i&gt;KRAS&lt;/i&gt;")
    assert text == "R&D, autocrine&paracrine, p &lt; 0.05, KRAS"


def test_no_break_and_thin_spaces_are_kept_as_in_pubmed_xml():
    results = {r["id"]: r for r in lite_results() + core_results()}
    assert "past 30\u00a0years" in europepmc_document(results["40517216"]).title
    assert "p\u2009<\u2009.001" in europepmc_document(results["40468710"]).abstract
    text, _ = strip_html("<h4>\n Methods\t</h4>\n  a\u00a0b \r\n c ")
    assert text == "Methods: a\u00a0b c"
