"""PubMed: esearch answers (recorded), efetch batches, ids asked for against records received."""

from __future__ import annotations

import datetime

import pytest

from conftest import require_shared

EUTILS = require_shared("corpora-raw", "api-responses", "pubmed-eutils")

from replay_server import ReplayServer  # noqa: E402

from evidex.errors import UsageError  # noqa: E402
from evidex.sources import PubMedSource, SearchResult, Window, _parse_esearch  # noqa: E402


def test_parse_recorded_esearch_answers():
    first = _parse_esearch((EUTILS / "biopython" / "esearch1.xml").read_bytes())
    assert (first.count, len(first.ids), first.ids[0], first.notes) == (63, 20, "41282813", [])
    history = _parse_esearch((EUTILS / "biopython" / "esearch2.xml").read_bytes())
    assert (history.count, len(history.ids)) == (42249, 100)
    missing = _parse_esearch((EUTILS / "biopython" / "esearch8.xml").read_bytes())
    assert (missing.count, missing.ids, missing.notes) == (0, [], ["phrase not found: abcXYZ"])
    partial = _parse_esearch((EUTILS / "klortho-eutils-json" / "esearch.error.xml").read_bytes())
    assert partial.count == 5163 and partial.notes == ["phrase not found: fleegle[MeSH Terms]"]


@pytest.fixture
def source(monkeypatch, tmp_path):
    with ReplayServer() as srv:
        monkeypatch.setenv("EVIDEX_PUBMED_URL", srv.pubmed_url)
        monkeypatch.setenv("EVIDEX_RATE_LIMIT", "200")
        monkeypatch.setenv("EVIDEX_RATE_DIR", str(tmp_path))
        monkeypatch.setenv("EVIDEX_BACKOFF", "0.01")
        monkeypatch.delenv("NCBI_API_KEY", raising=False)
        src = PubMedSource(email="me@example.org")
        src.server = srv
        yield src
        src.close()


def test_esearch_sends_tool_email_and_date_window(source):
    result = source.esearch("cancer", datetime.date(2010, 1, 1), datetime.date(2020, 12, 31))
    endpoint, params, agent = source.server.requests[-1]
    assert params["tool"] == "evidex" and params["email"] == "me@example.org"
    assert (params["datetype"], params["mindate"], params["maxdate"]) == ("edat", "2010/01/01", "2020/12/31")
    assert "api_key" not in params
    assert result.count == len(source.server.pmids(datetime.date(2010, 1, 1), datetime.date(2020, 12, 31)))


def test_api_key_raises_the_default_rate_and_is_sent(source, monkeypatch):
    monkeypatch.delenv("EVIDEX_RATE_LIMIT")
    monkeypatch.setenv("NCBI_API_KEY", "k" * 36)
    src = PubMedSource(base_url=source.server.pubmed_url)
    assert src.rate() == 10
    src.esearch("cancer", None, None)
    assert source.server.requests[-1][1]["api_key"] == "k" * 36
    monkeypatch.delenv("NCBI_API_KEY")
    assert PubMedSource().rate() == 3


def test_phrase_not_found_without_hits_is_an_invalid_query(source):
    with pytest.raises(UsageError, match="invalid PubMed query 'abcXYZ': phrase not found"):
        source.plan("abcXYZ", None, datetime.date(2026, 1, 1))


def test_esearch_error_body_is_an_invalid_query(source):
    with pytest.raises(UsageError, match="Invalid db name specified: fleegle"):
        source.plan("fleegle", None, datetime.date(2026, 1, 1))


def test_a_single_window_keeps_esearchs_notes(source, monkeypatch):
    # The notes once went positionally into the window's PMID range, and the ledger lost them.
    found = SearchResult(2, ["9997", "17284678"], ["phrase not found: fleegle[MeSH Terms]"])
    monkeypatch.setattr(source, "esearch", lambda *args, **kwargs: found)
    [window] = source.plan("cancer fleegle[MeSH Terms]", None, datetime.date(2026, 1, 1))
    assert window.notes == ["phrase not found: fleegle[MeSH Terms]"] and window.pmids is None
    assert (window.expected, window.ids) == (2, ["9997", "17284678"])


def test_efetch_batches_compare_ids_asked_and_received(source):
    [window] = source.plan("cancer", None, datetime.date(2026, 1, 1))
    window.ids.append("1")  # a PMID the server does not hold: asked three times, then failed
    window.expected += 1
    batches = list(source.fetch("cancer", window, 10))
    assert [b.fetched for b in batches] == [10, 10, 5]
    assert batches[-1].failed == 1 and batches[-1].failed_ids == ["1"]
    asked = [p["id"].split(",") for e, p, _ in source.server.requests if e == "efetch"]
    assert asked[-2:] == [["1"], ["1"]]
    docs = [d for b in batches for d in b.records]
    assert sorted(d.pmid for d in docs) == sorted(source.server.pmids())
    assert {d.source for d in docs} == {"pubmed"}


def test_esearch_listing_fewer_ids_than_its_count_is_failure(source):
    batches = list(source.fetch("cancer", Window(None, None, 5, ids=["9997", "17284678"]), 10))
    assert batches[0].failed == 3 and "esearch listed 2 ids for 5 records" in batches[0].notes[0]


def test_efetch_is_a_post_with_the_ids_in_the_body(source):
    source.efetch(["9997"])
    endpoint, params, _ = source.server.requests[-1]
    assert endpoint == "efetch" and params["id"] == "9997" and params["retmode"] == "xml"
