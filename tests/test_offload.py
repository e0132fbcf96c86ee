"""Parsing in a child process: same records as parsing here, errors carried back, a dead child survived."""

from __future__ import annotations

import datetime
import logging
import os

import pytest
from conftest import require_shared

EUTILS = require_shared("corpora-raw", "api-responses", "pubmed-eutils")

from replay_server import ReplayServer  # noqa: E402

from evidex.http import BadResponse  # noqa: E402
from evidex.offload import Offload  # noqa: E402
from evidex.sources import PubMedSource, parse_efetch  # noqa: E402

RECORDED = EUTILS / "klortho-eutils-json" / "efetch.pubmed.xml"


@pytest.fixture
def offload():
    worker = Offload()
    yield worker
    worker.close()


def test_calls_run_in_another_process(offload):
    assert offload.call(os.getpid) != os.getpid()
    assert offload.call(os.getpid) == offload.call(os.getpid)  # one long-lived child


def test_recorded_efetch_body_parses_to_the_same_records(offload):
    body = RECORDED.read_bytes()
    here = parse_efetch(body, "recorded efetch")
    there = offload.call(parse_efetch, body, "recorded efetch")
    assert len(here) >= 2
    assert [d.to_row() for d in there] == [d.to_row() for d in here]


def test_a_truncated_body_raises_the_same_error_as_here(offload):
    body = RECORDED.read_bytes()
    half = body[: len(body) // 2]
    with pytest.raises(BadResponse) as local:
        parse_efetch(half, "half a body")
    with pytest.raises(BadResponse) as remote:
        offload.call(parse_efetch, half, "half a body")
    assert str(remote.value) == str(local.value) and "XML ends early" in str(remote.value)


def test_output_printed_by_the_child_does_not_corrupt_replies(offload, capfd):
    assert offload.call(print, "stray output") is None
    assert offload.call(len, b"abc") == 3
    assert "stray output" in capfd.readouterr().err


def test_a_dead_child_is_reported_and_calls_run_here(offload, caplog):
    child = offload.call(os.getpid)
    os.kill(child, 9)
    with caplog.at_level(logging.WARNING, logger="evidex"):
        assert offload.call(os.getpid) == os.getpid()
    assert "parser process" in caplog.text and "parsing in this process from now on" in caplog.text
    assert offload.call(len, b"ab") == 2


def test_fetch_completes_when_the_parser_process_dies_mid_window(monkeypatch, tmp_path, caplog):
    with ReplayServer() as srv:
        monkeypatch.setenv("EVIDEX_PUBMED_URL", srv.pubmed_url)
        monkeypatch.setenv("EVIDEX_RATE_LIMIT", "200")
        monkeypatch.setenv("EVIDEX_RATE_DIR", str(tmp_path))
        monkeypatch.delenv("EVIDEX_PARSE_PROCESS", raising=False)
        source = PubMedSource(email="me@example.org")
        try:
            [window] = source.plan("cancer", None, datetime.date(2026, 1, 1))
            batches = source.fetch("cancer", window, 5)
            first = next(batches)
            os.kill(source._offload.call(os.getpid), 9)
            with caplog.at_level(logging.WARNING, logger="evidex"):
                rest = list(batches)
        finally:
            source.close()
    got = [d.pmid for b in [first, *rest] for d in b.records]
    assert sorted(got) == sorted(window.ids) and len(got) == window.expected > 5
    assert sum(b.failed for b in [first, *rest]) == 0
    assert "parsing in this process from now on" in caplog.text


def test_parse_process_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("EVIDEX_PARSE_PROCESS", "0")
    source = PubMedSource()
    assert source.parse(os.getpid) == os.getpid() and source._offload is None
    monkeypatch.setenv("EVIDEX_PARSE_PROCESS", "1")
    assert source.parse(os.getpid) != os.getpid()
    source.close()
