"""Fetch runs against the local replay server: faults, ledger, watermark, reruns, two processes."""

from __future__ import annotations

import datetime
import json
import logging
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import ROOT, require_shared, rerun_args

require_shared("corpora-raw", "api-responses")

from replay_server import ReplayServer  # noqa: E402

from evidex import db as store  # noqa: E402
from evidex.cli import cli  # noqa: E402
from evidex.errors import SourceError  # noqa: E402
from evidex.fetch import fetch_query, watermark  # noqa: E402
from evidex.sources import EuropePMCSource, PubMedSource  # noqa: E402

TODAY = datetime.date(2026, 1, 15)


@pytest.fixture
def server(monkeypatch, tmp_path):
    "A replay server with evidex pointed at it: fast rate limit, short timeout and backoff."
    # 150 of the recorded Europe PMC results (MED, PMC and PPR records) keep the tests quick.
    # The read timeout (2 s) is short for the "timeout" faults (held 6 s) yet long enough that the
    # in-process server's normal answers never trip it on a loaded machine: a spurious timeout is a
    # retry, and the fault and request counts asserted below are exact.
    with ReplayServer(timeout_delay=6.0, europepmc_limit=150) as srv:
        for key, value in {**srv.env(), "EVIDEX_RATE_LIMIT": "1000", "EVIDEX_RATE_DIR": str(tmp_path / "rate"),
                           "EVIDEX_BACKOFF": "0.01", "EVIDEX_TIMEOUT": "2", "EVIDEX_RETRIES": "4"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("NCBI_API_KEY", raising=False)
        yield srv


@pytest.fixture
def db(tmp_path):
    return store.open_db(tmp_path / "evidex.db")


def run(db, source, query="cancer", **kw):
    kw.setdefault("today", TODAY)
    return fetch_query(db, source, query, **kw)


def pmids_once(db) -> list[str]:
    "Stored PMIDs; asserts none is stored twice."
    pmids = [r[0] for r in db.execute("select pmid from documents where pmid is not null")]
    assert len(pmids) == len(set(pmids))
    return sorted(pmids)


def ledger(db, run_id):
    return list(db.query("select * from ledger where run_id = ? order by id", [run_id]))


# ---- PubMed: each fault is survived, or fails cleanly and a rerun fills the gap ----------------

TRANSIENT = [
    ("esearch", "429", 2, {}), ("efetch", "429", 3, {}), ("efetch", "500", 1, {}),
    ("efetch", "502", 1, {}), ("esearch", "503", 2, {}), ("efetch", "reset", 2, {}),
    ("esearch", "reset", 1, {}), ("efetch", "timeout", 1, {}), ("efetch", "truncate", 2, {}),
    ("efetch", "error", 1, {}), ("efetch", "json_error", 1, {}), ("efetch", "empty", 1, {}),
    ("efetch", "missing", 2, {}), ("efetch", "429", 1, {"retry_after": 0}),
]


@pytest.mark.parametrize("endpoint,kind,times,options", TRANSIENT,
                         ids=[f"{e}-{k}-{t}" for e, k, t, _ in TRANSIENT])
def test_pubmed_survives_transient_fault(server, db, endpoint, kind, times, options):
    server.inject(endpoint, kind, times=times, after=1 if endpoint == "efetch" else 0, **options)
    result = run(db, PubMedSource(), batch_size=5)
    assert result.status == "ok"
    assert pmids_once(db) == sorted(server.pmids())
    assert server.stats[f"fault:{kind}"] == times
    [row] = ledger(db, result.run_id)
    assert (row["expected"], row["fetched"], row["parsed"], row["stored"], row["failed"], row["status"]) == (
        25, 25, 25, 25, 0, "complete")
    assert watermark(db, "pubmed", "cancer") == TODAY


PERSISTENT = [
    ("efetch", "503", "failed after 5 attempts: HTTP 503"),
    ("efetch", "truncate", "failed after 5 attempts: the response:"),
    ("efetch", "empty", "records could not be fetched"),
    ("efetch", "reset", "connection failed"),
    ("esearch", "429", "HTTP 429"),
]


@pytest.mark.parametrize("endpoint,kind,message", PERSISTENT, ids=[f"{e}-{k}" for e, k, _ in PERSISTENT])
def test_pubmed_persistent_fault_fails_then_rerun_fills_gap(server, db, endpoint, kind, message):
    first = run(db, PubMedSource(), today=datetime.date(2025, 1, 1))  # a complete run: watermark set
    mark = watermark(db, "pubmed", "cancer")
    # The second run fails after its first batch: part stored, the watermark stays.
    server.inject(endpoint, kind, times=1000, after=1 if endpoint == "efetch" else 0)
    with pytest.raises(SourceError) as err:
        run(db, PubMedSource(), everything=True, batch_size=5)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert str(err.value).count("PubMed e") <= 1, err.value  # the request named once, not again by the parse error
    assert watermark(db, "pubmed", "cancer") == mark
    failed = db["runs"].get(first.run_id + 1)
    assert failed["status"] == "failed" and message in failed["message"]
    assert db.execute("select count(*) from run_errors where run_id = ?", [failed["id"]]).fetchone()[0] >= 1
    assert ledger(db, failed["id"])[-1]["status"] in ("failed", "incomplete")
    server.faults.clear()
    again = run(db, PubMedSource(), everything=True, batch_size=5)
    assert again.status == "ok" and again.failed == 0
    assert pmids_once(db) == sorted(server.pmids())
    assert watermark(db, "pubmed", "cancer") == TODAY


def test_partial_batches_are_committed_and_ledger_says_what_is_missing(server, db):
    server.inject("efetch", "empty", times=1000, after=2)  # batches 3.. never come back
    with pytest.raises(SourceError, match="15 of 25 records could not be fetched"):
        run(db, PubMedSource(), batch_size=5)
    [row] = ledger(db, 1)
    assert (row["expected"], row["stored"], row["failed"], row["status"]) == (25, 10, 15, "incomplete")
    assert len(json.loads(row["detail"])["failed_ids"]) == 15
    assert len(pmids_once(db)) == 10
    assert watermark(db, "pubmed", "cancer") is None
    server.faults.clear()
    run(db, PubMedSource(), batch_size=5)
    assert pmids_once(db) == sorted(server.pmids())


def test_permanent_error_body_is_not_retried(server, db):
    server.inject("efetch", "error", times=1000, message="Invalid db name specified: nothing")
    with pytest.raises(SourceError, match="Invalid db name specified"):
        run(db, PubMedSource())
    assert server.stats["efetch"] == 1
    assert watermark(db, "pubmed", "cancer") is None


def test_read_timeout_exhausts_retries(server, db, monkeypatch):
    monkeypatch.setenv("EVIDEX_RETRIES", "1")
    server.inject("esearch", "timeout", times=10)
    with pytest.raises(SourceError, match="failed after 2 attempts: timed out"):
        run(db, PubMedSource())
    assert watermark(db, "pubmed", "cancer") is None


def test_retry_after_is_honoured(server, db):
    server.inject("esearch", "429", times=1, retry_after=0.3)
    started = datetime.datetime.now()
    run(db, PubMedSource())
    assert (datetime.datetime.now() - started).total_seconds() >= 0.3


# ---- PubMed: date windows, incremental runs ---------------------------------------------------


def test_large_result_is_split_into_entry_date_windows(server, db, monkeypatch):
    server.esearch_cap = 6  # esearch lists at most 6 ids here, as it lists 10,000 live
    monkeypatch.setenv("EVIDEX_PUBMED_WINDOW_MAX", "6")
    result = run(db, PubMedSource(), batch_size=4)
    rows = ledger(db, result.run_id)
    assert len(rows) > 4
    assert all(r["expected"] <= 6 and r["status"] == "complete" for r in rows)
    assert sum(r["expected"] for r in rows) == 25
    assert pmids_once(db) == sorted(server.pmids())
    # The windows tile the dates without overlap.
    spans = sorted((r["window_start"], r["window_end"]) for r in rows)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert datetime.date.fromisoformat(start) == datetime.date.fromisoformat(end) + datetime.timedelta(days=1)


def test_a_failure_in_a_later_window_keeps_earlier_windows_and_a_rerun_fills_the_gap(server, db, monkeypatch):
    server.esearch_cap = 6
    monkeypatch.setenv("EVIDEX_PUBMED_WINDOW_MAX", "6")
    # Windows are fetched back to back (one prefetch over all of them): the fifth efetch and
    # its four retries fail, after the earlier windows were fetched and stored.
    server.inject("efetch", "500", times=5, after=4)
    with pytest.raises(SourceError, match="HTTP 500"):
        run(db, PubMedSource(), batch_size=3)
    [failed] = list(db.query("select id from runs where status = 'failed'"))
    rows = ledger(db, failed["id"])
    statuses = [r["status"] for r in rows]
    assert statuses[-1] == "failed" and statuses[:-1] and set(statuses[:-1]) == {"complete"}
    assert sum(r["stored"] for r in rows) == db["documents"].count > 0
    assert watermark(db, "pubmed", "cancer") is None
    result = run(db, PubMedSource(), batch_size=3)
    assert result.status == "ok" and pmids_once(db) == sorted(server.pmids())
    assert watermark(db, "pubmed", "cancer") == TODAY


def test_a_day_with_more_records_than_esearch_lists_is_split_by_pmid_range(monkeypatch, tmp_path):
    # 12 records, all entered on one day, and esearch lists at most 5 ids of a result.
    with ReplayServer(scale=12, per_day=12, esearch_cap=5) as srv:
        for key, value in {**srv.env(), "EVIDEX_RATE_LIMIT": "1000", "EVIDEX_RATE_DIR": str(tmp_path),
                           "EVIDEX_PUBMED_WINDOW_MAX": "5"}.items():
            monkeypatch.setenv(key, value)
        db = store.open_db(tmp_path / "x.db")
        result = run(db, PubMedSource(), batch_size=4)
        assert result.status == "ok" and pmids_once(db) == sorted(srv.pmids())
        rows = ledger(db, result.run_id)
        assert all(r["status"] == "complete" and r["expected"] <= 5 for r in rows)
        assert sum(r["expected"] for r in rows) == 12
        # The day's records are in PMID-range windows that tile it: each record in exactly one.
        by_range = {}
        for r in rows:
            for note in json.loads(r["detail"]).get("notes", []):
                if note.startswith("PMIDs "):
                    lo, hi = map(int, note.split()[1].split("-"))
                    by_range[(lo, hi)] = r
        assert len(by_range) >= 3 and sum(r["expected"] for r in by_range.values()) == 12
        assert len({(r["window_start"], r["window_end"]) for r in by_range.values()}) == 1  # one day
        ranges = sorted(by_range)
        assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
        terms = [p["term"] for endpoint, p, _ in srv.requests if endpoint == "esearch"]
        assert any(t.endswith("[uid]") and t.startswith("(cancer) AND ") for t in terms)
        assert watermark(db, "pubmed", "cancer") == TODAY


def test_window_counts_must_add_up(server, db, monkeypatch):
    server.esearch_cap = 6
    monkeypatch.setenv("EVIDEX_PUBMED_WINDOW_MAX", "6")
    source = PubMedSource()
    real = source.esearch
    calls = []

    def drifting(query, start, end):
        result = real(query, start, end)
        calls.append(1)
        if len(calls) == 3:  # one half loses a record between the counts
            result.count -= 1
        return result

    monkeypatch.setattr(source, "esearch", drifting)
    with pytest.raises(SourceError, match="halves"):
        run(db, source)


def test_incremental_run_starts_at_the_watermark(server, db):
    run(db, PubMedSource(), today=datetime.date(2020, 1, 1))
    assert watermark(db, "pubmed", "cancer") == datetime.date(2020, 1, 1)
    server.requests.clear()
    result = run(db, PubMedSource())
    params = [p for e, p, _ in server.requests if e == "esearch"][0]
    assert (params["datetype"], params["mindate"], params["maxdate"]) == ("edat", "2019/12/31", "2026/01/15")
    [row] = ledger(db, result.run_id)
    newer = server.pmids(datetime.date(2019, 12, 31), TODAY)
    assert row["expected"] == len(newer) < 25
    assert (row["window_start"], row["window_end"]) == ("2019-12-31", "2026-01-15")
    # --since and --all override the watermark.
    server.requests.clear()
    run(db, PubMedSource(), since=datetime.date(2010, 5, 1))
    assert [p for e, p, _ in server.requests if e == "esearch"][0]["mindate"] == "2010/05/01"
    server.requests.clear()
    run(db, PubMedSource(), everything=True)
    assert "mindate" not in [p for e, p, _ in server.requests if e == "esearch"][0]


def test_limit_stops_early_without_moving_the_watermark(server, db):
    result = run(db, PubMedSource(), limit=7, batch_size=5)
    assert result.status == "limited" and result.stored == 7
    assert len(pmids_once(db)) == 7
    assert watermark(db, "pubmed", "cancer") is None


def test_a_limit_of_exactly_the_total_is_a_complete_fetch(server, db, tmp_path):
    total = run(db, PubMedSource(), batch_size=5).expected
    fresh = store.open_db(tmp_path / "exact.db")
    result = run(fresh, PubMedSource(), limit=total, batch_size=5)
    assert result.status == "ok" and result.stored == total
    assert watermark(fresh, "pubmed", "cancer") is not None


def test_a_delete_citation_in_an_efetch_answer_withdraws_the_stored_paper(server, db):
    """efetch's DeleteCitation withdraws a stored paper as ingest of the same XML does; the ledger balances.

    The recorded answers hold no DeleteCitation: the server's efetch body for two PMIDs is the
    recorded articles with a DeleteCitation added, one for a stored paper and one for a PMID never stored.
    """
    first = run(db, PubMedSource(), batch_size=10, today=datetime.date(2025, 1, 1))
    assert first.status == "ok" and first.stored == 25
    stored = sorted(server.pubmed)[3]
    day = server.pubmed[stored][1]
    server.pubmed[stored] = (f'<DeleteCitation><PMID Version="1">{stored}</PMID></DeleteCitation>'.encode(), day)
    server.pubmed["99999999"] = (b'<DeleteCitation><PMID Version="1">99999999</PMID></DeleteCitation>', day)
    result = run(db, PubMedSource(), everything=True, batch_size=10)
    assert result.status == "ok" and (result.expected, result.stored, result.skipped, result.failed) == (26, 24, 2, 0)
    [row] = ledger(db, result.run_id)
    # Every PMID asked for is stored, or a withdrawal counted as skipped: none is lost.
    assert (row["expected"], row["fetched"], row["parsed"], row["stored"], row["skipped"], row["status"]) == (
        26, 26, 24, 24, 2, "complete")
    assert json.loads(row["skipped_reasons"]) == {"deleted": 2}
    assert db.execute("select id from documents where deleted = 1").fetchall() == [(stored,)]
    assert db.execute("select deleted_run from documents where id = ?", [stored]).fetchone()[0] == result.run_id
    assert db.execute("select count(*) from documents where pmid = '99999999'").fetchone()[0] == 0
    counts = db.execute("select documents_seen, documents_withdrawn, withdrawals_not_stored from runs where id = ?",
                        [result.run_id]).fetchone()
    assert counts == (24, 1, 1)
    assert watermark(db, "pubmed", "cancer") == TODAY


def test_a_paper_whose_delete_citation_an_earlier_fetch_read_is_stored_withdrawn(server, db):
    """The DeleteCitation comes first (one fetch), its paper later (the next): the paper is stored withdrawn.

    The ledger balances as for any paper (stored, not skipped), and the run counts it new and withdrawn on arrival.
    """
    pmid = sorted(server.pubmed)[3]
    article = server.pubmed[pmid]
    server.pubmed[pmid] = (f'<DeleteCitation><PMID Version="1">{pmid}</PMID></DeleteCitation>'.encode(), article[1])
    first = run(db, PubMedSource(), batch_size=10, today=datetime.date(2025, 1, 1))
    assert first.status == "ok" and (first.stored, first.skipped) == (24, 1)
    assert first.counts.withdrawals_not_stored == 1
    server.pubmed[pmid] = article
    result = run(db, PubMedSource(), everything=True, batch_size=10)
    assert result.status == "ok" and (result.expected, result.stored, result.skipped) == (25, 25, 0)
    [row] = ledger(db, result.run_id)
    assert (row["parsed"], row["stored"], row["skipped"], row["status"]) == (25, 25, 0, "complete")
    assert db.execute("select deleted, deleted_run from documents where id = ?", [pmid]).fetchone() == (1, result.run_id)
    assert db.execute("select documents_new, documents_withdrawn, withdrawals_not_stored from runs where id = ?",
                      [result.run_id]).fetchone() == (1, 1, 0)
    assert result.counts.withdrawn_on_arrival == store.withdrawn_on_arrival(db, result.run_id) == 1


def test_a_limit_counts_papers_not_withdrawals(server, db):
    "--limit N stores N papers; a DeleteCitation in the batch (added to the recorded answer) is applied, not one of them."
    first = server.pmids()[1]  # in the first batch of five, as esearch lists them
    server.pubmed[first] = (f'<DeleteCitation><PMID Version="1">{first}</PMID></DeleteCitation>'.encode(),
                            server.pubmed[first][1])
    result = run(db, PubMedSource(), limit=3, batch_size=5)
    assert result.status == "limited" and result.stored == 3
    assert len(pmids_once(db)) == 3 and first not in pmids_once(db)
    assert result.counts.withdrawals_not_stored == 1


def test_ingest_source_says_what_its_withdrawals_did(server, tmp_path):
    "ingest --source's summary counts the papers efetch's DeleteCitations withdrew and those it skipped."
    path = str(tmp_path / "cli.db")
    assert invoke("--db", path, "--source", "pubmed", "--query", "cancer", "--no-extract",
                  "--email", "a@b.org").exit_code == 0
    stored = sorted(server.pubmed)[3]
    day = server.pubmed[stored][1]
    server.pubmed[stored] = (f'<DeleteCitation><PMID Version="1">{stored}</PMID></DeleteCitation>'.encode(), day)
    server.pubmed["99999999"] = (b'<DeleteCitation><PMID Version="1">99999999</PMID></DeleteCitation>', day)
    result = invoke("--db", path, "--source", "pubmed", "--query", "cancer", "--no-extract", "--all",
                    "--email", "a@b.org")
    assert result.exit_code == 0, result.output
    assert ("26 expected, 24 stored, 2 skipped, 0 failed in 1 window(s); 0 new documents, 0 new claims; "
            "1 withdrawn; withdrawals skipped: 1 of no stored paper") in result.stderr, result.stderr


def test_empty_result_is_a_complete_zero(server, db):
    result = run(db, PubMedSource(), query="nothing")
    assert result.status == "ok" and result.expected == 0
    assert ledger(db, result.run_id)[0]["status"] == "complete"


# ---- Europe PMC ------------------------------------------------------------------------------

EPMC_TRANSIENT = [("429", 2), ("500", 1), ("503", 1), ("reset", 1), ("timeout", 1), ("truncate", 1),
                  ("empty", 1), ("json_error", 1)]


@pytest.mark.parametrize("kind,times", EPMC_TRANSIENT, ids=[k for k, _ in EPMC_TRANSIENT])
def test_europepmc_survives_transient_fault(server, db, kind, times):
    server.inject("europepmc", kind, times=times, after=2)
    result = run(db, EuropePMCSource(), batch_size=40)
    assert result.status == "ok"
    [row] = ledger(db, result.run_id)
    assert (row["expected"], row["fetched"], row["stored"], row["failed"], row["status"]) == (
        150, 150, 150, 0, "complete")
    keys = {json.loads(r[0])["europepmc"] for r in db.execute("select source_ids from documents")
            if "europepmc" in json.loads(r[0])}
    assert len(keys) == db["documents"].count  # one document per key: never stored twice
    assert watermark(db, "europepmc", "cancer") == TODAY


def test_europepmc_repeated_cursor_fails_then_rerun_completes(server, db):
    server.inject("europepmc", "repeat_cursor", times=1, after=2)
    with pytest.raises(SourceError, match="repeated"):
        run(db, EuropePMCSource(), batch_size=40)
    assert watermark(db, "europepmc", "cancer") is None
    first = db["documents"].count
    assert 0 < first < 150
    run(db, EuropePMCSource(), batch_size=40)
    assert watermark(db, "europepmc", "cancer") == TODAY
    assert db.execute("select count(*) from ledger where status = 'complete'").fetchone()[0] == 1


def test_europepmc_pages_ending_early_fail(server, db, monkeypatch):
    monkeypatch.setenv("EVIDEX_RETRIES", "1")
    server.inject("europepmc", "empty", times=10, after=2)
    with pytest.raises(SourceError, match="pages stopped at 40 of 150"):
        run(db, EuropePMCSource(), batch_size=40)
    assert watermark(db, "europepmc", "cancer") is None


def test_europepmc_incremental_window_uses_first_index_date(server, db):
    result = run(db, EuropePMCSource(), since=datetime.date(2025, 6, 18))
    query = [p for e, p, _ in server.requests if e == "europepmc"][-1]["query"]
    assert query == "(cancer) AND FIRST_IDATE:[2025-06-18 TO 2026-01-15]"
    expected = len(server.europepmc_results(query))
    assert 0 < result.expected == expected < 150


def test_sources_deduplicate_across_each_other(server, db):
    run(db, PubMedSource())
    run(db, EuropePMCSource(), batch_size=1000)
    pmids_once(db)
    ids = db.execute("select count(*) from document_ids where scheme = 'src:europepmc'").fetchone()[0]
    assert ids == 150  # every Europe PMC id kept, even where records merged


# ---- the command line ------------------------------------------------------------------------


def invoke(*args, env=None):
    return CliRunner(mix_stderr=False).invoke(cli, ["ingest", *args], env=env, catch_exceptions=False) \
        if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else \
        CliRunner().invoke(cli, ["ingest", *args], env=env, catch_exceptions=False)


def test_cli_ingest_source_and_exit_codes(server, tmp_path):
    path = str(tmp_path / "cli.db")
    ok = invoke("--db", path, "--source", "pubmed", "--query", "cancer", "--no-extract", "--email", "a@b.org")
    assert ok.exit_code == 0, ok.output
    assert "Warning: no contact email" not in ok.stderr
    assert "25 expected, 25 stored" in ok.stderr
    endpoint, params, agent = server.requests[-1]
    assert params["email"] == "a@b.org" and params["tool"] == "evidex"
    assert agent.startswith("evidex/") and "a@b.org" in agent

    bad = invoke("--db", path, "--source", "pubmed", "--query", "abcXYZ", "--no-extract")
    assert bad.exit_code == 2
    assert bad.stderr.count("Warning: no contact email") == 1
    assert "Error: invalid PubMed query 'abcXYZ': phrase not found: abcXYZ" in bad.stderr

    worse = invoke("--db", path, "--source", "pubmed", "--query", "fleegle", "--no-extract")
    assert worse.exit_code == 2 and "Invalid db name specified: fleegle" in worse.stderr

    server.inject("esearch", "503", times=100)
    down = invoke("--db", path, "--source", "pubmed", "--query", "cancer", "--no-extract", "--quiet")
    assert down.exit_code == 4
    assert down.stderr.strip().splitlines()[-1].startswith("Error: PubMed esearch 'cancer'")
    db = store.open_db(path)
    assert db["documents"].count == 25
    assert db["watermarks"].count == 1
    runs = CliRunner().invoke(cli, ["runs", "--db", path])
    assert "ledger" in runs.output and "expected 25 fetched 25 parsed 25 stored 25" in runs.output


def test_cli_usage_errors(server, tmp_path):
    assert invoke("--db", str(tmp_path / "u.db"), "--source", "pubmed").exit_code == 2
    assert invoke("--db", str(tmp_path / "u.db"), "--query", "x").exit_code == 2
    unknown = invoke("--db", str(tmp_path / "u.db"), "--source", "nope", "--query", "x")
    assert unknown.exit_code == 2 and "unknown source 'nope'" in unknown.stderr
    both = invoke("--db", str(tmp_path / "u.db"), "--source", "pubmed", "--query", "x", "--since", "2024-01-01", "--all")
    assert both.exit_code == 2 and "--since and --all exclude each other" in both.stderr
    assert not server.requests  # refused before any request


def test_api_key_never_stored_or_shown(server, tmp_path, monkeypatch, caplog):
    key = "sEcReTkEy0123456789"
    caplog.set_level(logging.INFO, logger="evidex")
    monkeypatch.setenv("NCBI_API_KEY", key)
    path = str(tmp_path / "key.db")
    assert invoke("--db", path, "--source", "pubmed", "--query", "cancer", "--no-extract").exit_code == 0
    assert all(p.get("api_key") == key for e, p, _ in server.requests if e in ("esearch", "efetch"))
    server.inject("efetch", "503", times=100)
    failed = invoke("--db", path, "--source", "pubmed", "--query", "cancer", "--no-extract", "--all")
    assert failed.exit_code == 4
    assert "retry" in caplog.text  # the retries were logged, without the key
    assert key not in failed.stderr + failed.stdout + caplog.text
    db = store.open_db(path)
    dump = "\n".join(db.conn.iterdump())
    assert key not in dump


def test_cache_dir_replays_offline(server, tmp_path):
    cache = tmp_path / "cache"
    first = invoke("--db", str(tmp_path / "a.db"), "--source", "pubmed", "--query", "cancer", "--no-extract",
                   "--cache-dir", str(cache), "--batch-size", "10")
    assert first.exit_code == 0
    db = store.open_db(tmp_path / "a.db")
    detail = json.loads(db["ledger"].get(1)["detail"])
    assert len(detail["responses"]) == 4  # the esearch and three efetch bodies, by SHA-256
    for digest in detail["responses"]:
        assert (cache / digest[:2] / digest).exists()
    server.stop()
    replay = invoke("--db", str(tmp_path / "b.db"), "--source", "pubmed", "--query", "cancer", "--no-extract",
                    "--cache-dir", str(cache), "--batch-size", "10", "--offline")
    assert replay.exit_code == 0, replay.stderr
    assert store.open_db(tmp_path / "b.db")["documents"].count == 25


def test_two_processes_share_the_rate_limit(tmp_path):
    "Two evidex processes at once stay under the server's limit together; separately they do not."
    rate = 20
    with ReplayServer(rate_limit=rate, burst=3) as srv:
        def pair(command, rate_dirs):
            srv.sync_first(2)  # both processes' first requests leave the gate together
            procs = []
            for n, rate_dir in enumerate(rate_dirs):
                env = {**os.environ, **srv.env(), "EVIDEX_RATE_LIMIT": str(rate), "EVIDEX_RATE_DIR": str(rate_dir),
                       "EVIDEX_BACKOFF": "0.05", "EVIDEX_EMAIL": "t@example.org"}
                procs.append(subprocess.Popen(command(n), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True))
            for proc in procs:
                out, err = proc.communicate(timeout=60)
                assert proc.returncode == 0, err

        pair(lambda n: [sys.executable, "-m", "evidex", "ingest", "--db", str(tmp_path / f"{n}.db"), "--source",
                        "pubmed", "--query", "cancer", "--no-extract", "--batch-size", "1", "--quiet"],
             [tmp_path / "shared", tmp_path / "shared"])
        assert srv.stats["requests"] == 2 * 26  # one esearch and 25 one-id efetches each
        assert srv.stats["rate_limited"] == 0
        # The control: the same requests from two processes with a limiter each (the fetch
        # alone, without spaCy's import time) go over the limit together.
        script = ("from evidex.sources import PubMedSource; s = PubMedSource(); "
                  "[w] = s.plan('cancer', None, None); list(s.fetch('cancer', w, 1))")
        pair(lambda n: [sys.executable, "-c", script], [tmp_path / "one", tmp_path / "two"])
        assert srv.stats["rate_limited"] > 0


def test_replay_server_runs_as_a_process(tmp_path, monkeypatch):
    "The subprocess mode other tests (crash safety) and the benchmark use: env, /_inject, /_stats."
    from replay_server import ReplayProcess

    with ReplayProcess("--scale", "30") as srv:
        for key, value in {**srv.env(), "EVIDEX_RATE_LIMIT": "200", "EVIDEX_RATE_DIR": str(tmp_path),
                           "EVIDEX_BACKOFF": "0.01"}.items():
            monkeypatch.setenv(key, value)
        srv.inject("efetch", "503", times=2)
        db = store.open_db(tmp_path / "p.db")
        result = run(db, PubMedSource(), batch_size=10)
        assert result.stored == 30 and db["documents"].count == 30
        stats = srv.stats()["stats"]
        assert stats["fault:503"] == 2 and stats["efetch"] == 5


def test_a_batch_rolled_back_by_a_signal_leaves_the_totals_as_they_were(tmp_path, monkeypatch):
    "SIGTERM inside a batch's transaction: its ledger and counts must not say it was stored."
    from evidex import fetch
    from evidex.fetch import LedgerRow, _insert_ledger, _store_batch
    from evidex.ingest import Counts
    from evidex.models import Document
    from evidex.sources import Batch, Window

    db = store.open_db(tmp_path / "e.db")
    run_id = store.start_run(db, "ingest")
    ledger = LedgerRow(2)
    ledger_id = _insert_ledger(db, run_id, "pubmed", "q", Window(None, None, 2), ledger)
    counts = Counts()
    real = fetch.store_records

    def interrupted(db, run_id, records, extraction, counts, on_stored=None):
        real(db, run_id, records, extraction, counts, on_stored=on_stored)
        raise KeyboardInterrupt  # the signal lands after the rows, before the commit

    monkeypatch.setattr(fetch, "store_records", interrupted)
    batch = Batch([Document(id="1", title="A", abstract="x"), Document(id="2", title="B", abstract="y")], fetched=2,
                  responses=["abc"])
    with pytest.raises(KeyboardInterrupt):
        _store_batch(db, run_id, ledger_id, ledger, batch, None, counts, PubMedSource())
    assert (ledger.fetched, ledger.stored, ledger.responses) == (0, 0, [])
    assert (counts.documents_seen, counts.documents_new) == (0, 0)
    assert db.execute("select count(*) from documents").fetchone()[0] == 0
    monkeypatch.setattr(fetch, "store_records", real)
    assert _store_batch(db, run_id, ledger_id, ledger, batch, None, counts, PubMedSource()) == 2
    assert (ledger.stored, counts.documents_new) == (2, 2)


def test_the_url_a_fetch_keeps_for_its_receipt_holds_no_password_or_key(server, tmp_path, monkeypatch):
    "A proxy's password in the base URL is not copied into the database; the NCBI key is redacted as everywhere."
    url = server.pubmed_url.replace("http://", "http://evidex:pr0xy-s3cret@").replace("/eutils", "/eutils/k3y-in-the-url")
    monkeypatch.setenv("NCBI_API_KEY", "k3y-in-the-url")
    monkeypatch.setenv("EVIDEX_RATE_LIMIT", "1000")
    monkeypatch.setenv("EVIDEX_PUBMED_URL", url)
    db_path = tmp_path / "a.db"
    first = invoke("--db", str(db_path), "--source", "pubmed", "--query", "cancer", "--no-extract", "--batch-size", "25")
    assert first.exit_code == 0, first.stderr
    receipt = json.loads(CliRunner().invoke(cli, ["runs", "--receipt", "1", "--db", str(db_path)]).output)
    host = server.pubmed_url.removeprefix("http://")
    assert receipt["source_urls"] == {"pubmed": f"http://evidex:[REDACTED]@{host}/[REDACTED]"}
    stored = db_path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("a.db-*"))
    assert b"pr0xy-s3cret" not in stored and b"k3y-in-the-url" not in stored


def cached_fetch(db_path, cache, *more: str):
    "One fixed query and window fetched with --cache-dir (and more options): the invoke result."
    return invoke("--db", str(db_path), "--source", "pubmed", "--query", "cancer", "--no-extract",
                  "--cache-dir", str(cache), "--batch-size", "10", "--since", "2019-01-01", "--until", "2020-06-30",
                  *more)


def test_an_offline_replay_refuses_a_cached_body_edited_since(server, tmp_path):
    "A body whose content no longer matches its SHA-256 is not what was fetched: one line, nothing stored."
    cache = tmp_path / "cache"
    first = cached_fetch(tmp_path / "a.db", cache)
    assert first.exit_code == 0, first.stderr
    digest = json.loads(store.open_db(tmp_path / "a.db")["ledger"].get(1)["detail"])["responses"][-1]
    body = cache / digest[:2] / digest
    body.write_bytes(body.read_bytes().replace(b"<PMID", b"<PMID ", 1))
    replay = cached_fetch(tmp_path / "b.db", cache, "--offline")
    assert replay.exit_code == 4, replay.stderr
    assert f"cached response {digest[:12]}... in {cache} no longer matches its SHA-256" in replay.stderr
    assert store.open_db(tmp_path / "b.db")["ledger"].get(1)["status"] != "complete"


def test_a_receipts_rerun_replays_the_cache_offline_on_any_day(server, tmp_path):
    "The window's end is part of every request: the receipt pins it with --until, so replay is not tied to a date."
    cache = tmp_path / "cache"
    first = cached_fetch(tmp_path / "a.db", cache)
    assert first.exit_code == 0, first.stderr
    receipt = json.loads(CliRunner().invoke(cli, ["runs", "--receipt", "1", "--db", str(tmp_path / "a.db")]).output)
    rerun = receipt["rerun"]
    assert rerun_args(rerun)[0] == "ingest" and rerun[rerun.index("--until") + 1] == "2020-06-30"
    assert f"EVIDEX_PUBMED_URL={server.pubmed_url}" in rerun[:rerun.index("evidex")]
    assert receipt["window"] == {"start": "2019-01-01", "end": "2020-06-30"}
    server.stop()
    replay = invoke("--db", str(tmp_path / "b.db"), *rerun_args(rerun)[1:], "--no-extract", "--batch-size", "10", "--offline")
    assert replay.exit_code == 0, replay.stderr
    assert store.open_db(tmp_path / "b.db")["documents"].count == store.open_db(tmp_path / "a.db")["documents"].count
    # The replay's receipt names the payloads it read: the same ones, so the two can be compared.
    again = json.loads(CliRunner().invoke(cli, ["runs", "--receipt", "1", "--db", str(tmp_path / "b.db")]).output)
    assert again["raw_payload_sha256"] == receipt["raw_payload_sha256"] != []
    assert receipt["source_urls"] == {"pubmed": server.pubmed_url} and again["source_urls"] == {"pubmed": None}
    late = invoke("--db", str(tmp_path / "c.db"), "--source", "pubmed", "--query", "cancer", "--since", "2021-01-01",
                  "--until", "2020-06-30")
    assert late.exit_code == 2 and "--until 2020-06-30 is before --since 2021-01-01" in late.stderr


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "<+2359>-23:59", "UTC", "Pacific/Pago_Pago"])
def test_until_may_be_today_in_the_local_zone_or_in_utc(server, tmp_path, zone):
    "East of UTC early in the day, the local date is a day ahead of UTC's: it is today, not the future."
    import sqlite3

    # What the zone's clock says now (the POSIX zone, UTC+23:59, is a day ahead of UTC all day long).
    probe = "import datetime; print(datetime.date.today())"
    local = datetime.date.fromisoformat(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                                       env={**os.environ, "TZ": zone}, check=True).stdout.strip())
    utc = datetime.datetime.now(datetime.timezone.utc).date()
    assert abs((local - utc).days) <= 1
    latest = max(local, utc)
    db_path = tmp_path / "z.db"

    def ingest(*args: str, tz: str = zone) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "evidex", "ingest", "--db", str(db_path), "--source", "pubmed",
                               "--query", "cancer", "--no-extract", "--batch-size", "10", *args],
                              capture_output=True, text=True, env={**os.environ, "TZ": tz})

    ahead = ingest("--since", "2019-01-01", "--until", (latest + datetime.timedelta(days=1)).isoformat())
    assert ahead.returncode == 2 and f"--until {latest + datetime.timedelta(days=1)} is in the future" in ahead.stderr
    today = ingest("--since", "2019-01-01", "--until", latest.isoformat())
    assert today.returncode == 0, today.stderr
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("select window_end from runs").fetchall() == [(latest.isoformat(),)]
        assert conn.execute("select last_complete from watermarks").fetchall() == [(latest.isoformat(),)]
    conn.close()
    # The next fetch, by UTC's date, starts a day before that watermark: at most today, never after its end.
    assert ingest(tz="UTC").returncode == 0
    # A window that opens today, with no --until: it ends today by the same reckoning, not before it starts.
    since = ingest("--since", latest.isoformat(), "--query", "immunotherapy")
    assert since.returncode == 0, since.stderr


def test_until_never_moves_the_watermark_back_nor_into_the_future(server, tmp_path):
    db_path = tmp_path / "w.db"
    args = ("--db", str(db_path), "--source", "pubmed", "--query", "cancer", "--no-extract", "--batch-size", "10")
    future = invoke(*args, "--until", "2999-01-01")
    assert future.exit_code == 2 and "--until 2999-01-01 is in the future" in future.stderr
    ahead = invoke(*args, "--since", "2999-01-01")  # was "the window starts after it ends ...; give --since"
    assert ahead.exit_code == 2 and "Error: --since 2999-01-01 is in the future" in ahead.stderr
    unbounded = invoke(*args, "--until", "2020-06-30")  # no start: the services would be asked undated
    assert unbounded.exit_code == 2 and "--until needs a start" in unbounded.stderr
    assert invoke(*args).exit_code == 0
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    marks = lambda: store.open_db(db_path).execute("select last_complete from watermarks").fetchall()  # noqa: E731
    assert marks() == [(today,)]
    replay = invoke(*args, "--since", "2019-01-01", "--until", "2020-06-30")  # an old window again
    assert replay.exit_code == 0, replay.stderr
    assert marks() == [(today,)]  # not moved back: the next run does not refetch since 2020
    inverted = invoke(*args, "--until", "2020-06-30")  # starts at the watermark, after the end
    assert inverted.exit_code == 2 and "the date window starts after it ends" in inverted.stderr


def test_a_signal_between_begin_and_the_block_still_closes_the_run(server, tmp_path, monkeypatch):
    "SIGTERM just after an atomic block's BEGIN leaves its transaction open: the run must still end 'interrupted'."
    from evidex import fetch

    db = store.open_db(tmp_path / "e.db")
    real, calls = fetch._insert_ledger, []

    def interrupted(db, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            return real(db, *args, **kwargs)
        db.conn.execute("BEGIN")
        raise KeyboardInterrupt  # sqlite-utils' atomic() runs BEGIN before its try: the signal lands in between

    monkeypatch.setattr(fetch, "_insert_ledger", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(db, PubMedSource())
    assert not db.conn.in_transaction
    other = store.open_db(tmp_path / "e.db")  # what another process (the next run) reads
    assert [tuple(r) for r in other.execute("select status, message from runs")] == [("interrupted", "interrupted")]


def test_a_count_that_failed_shows_as_unknown_not_none(server, db, tmp_path):
    "When esearch itself fails the ledger's expected is unknown: runs and the report say '?', not Python's None."
    server.inject("esearch", "503", times=1000)
    with pytest.raises(SourceError):
        run(db, PubMedSource())
    [row] = ledger(db, 1)
    assert row["expected"] is None and row["status"] == "failed"
    listing = CliRunner().invoke(cli, ["runs", "--db", str(tmp_path / "evidex.db")])
    assert "expected ? fetched 0" in listing.output and "None" not in listing.output, listing.output
    report = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "evidex.db"), "--output", str(report)])
    assert result.exit_code == 0, result.output
    assert "expected ?, stored 0" in report.read_text() and "expected None" not in report.read_text()
