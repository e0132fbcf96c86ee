"""The HTTP client: retries, backoff, Retry-After, error bodies, redaction, User-Agent, cache."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import require_shared

EUTILS = require_shared("corpora-raw", "api-responses", "pubmed-eutils")

from replay_server import ReplayServer  # noqa: E402

from evidex.errors import SourceError, UsageError  # noqa: E402
from evidex.http import HttpClient, ResponseCache, error_in_body, redact, request_key, retry_after  # noqa: E402


def test_error_bodies_sent_with_status_200_are_recognised():
    assert error_in_body((EUTILS / "biopython" / "epost2.xml").read_bytes()) == "Invalid db name specified: nothing"
    assert error_in_body((EUTILS / "klortho-eutils-json" / "esearch.baderror.json").read_bytes()) == (
        "Invalid db name specified: fleegle")
    assert error_in_body((EUTILS / "klortho-eutils-json" / "einfo.error.xml").read_bytes()).startswith(
        "Can not retrieve DbInfo")
    body = (EUTILS / "error-bodies-from-issues" / "eutils-429-rate-limit-exceeded.biocommons-bioutils-issue16.json")
    assert error_in_body(body.read_bytes()) == "API rate limit exceeded"
    assert error_in_body((EUTILS / "biopython" / "pubmed1.xml").read_bytes()) is None
    assert error_in_body((EUTILS / "biopython" / "esearch8.xml").read_bytes()) is None  # an ErrorList is not <ERROR>


def test_redact_hides_keys_in_urls_and_text():
    assert redact("GET https://x/esearch.fcgi?db=pubmed&api_key=abc123def&term=x") == (
        "GET https://x/esearch.fcgi?db=pubmed&api_key=[REDACTED]&term=x")
    assert redact("the key sEcReT99 leaked", ("sEcReT99",)) == "the key [REDACTED] leaked"


def test_retry_after_seconds_and_dates():
    assert retry_after(httpx.Response(429, headers={"Retry-After": "2"})) == 2.0
    assert retry_after(httpx.Response(429)) is None
    assert retry_after(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0


def test_request_key_ignores_the_caller_identity():
    a = request_key("POST", "efetch.fcgi", {"id": "1,2", "email": "a@b", "api_key": "k", "tool": "evidex"})
    assert a == request_key("post", "efetch.fcgi", {"id": "1,2"})
    assert a != request_key("POST", "efetch.fcgi", {"id": "1,3"})


def test_cache_stores_bodies_by_hash(tmp_path):
    cache = ResponseCache(tmp_path)
    digest = cache.store("k", b"body", "what")
    assert (tmp_path / digest[:2] / digest).read_bytes() == b"body"
    assert cache.lookup("k") == b"body" and cache.lookup("other") is None


# The client's read timeout must be longer than any normal answer of the in-process server on a
# loaded machine (a stalled answer would be retried, and the request counts below are exact), and
# the server's "timeout" fault must hold a request well beyond it.
CLIENT_TIMEOUT = 2.0


@pytest.fixture
def server():
    with ReplayServer(timeout_delay=3 * CLIENT_TIMEOUT) as srv:
        yield srv


def client(server, tmp_path, **kw):
    kw.setdefault("retries", 3)
    return HttpClient("test", server.pubmed_url, rate=500, user_agent="evidex/test (+me@example.org)",
                      timeout=CLIENT_TIMEOUT, backoff=0.01, rate_dir=tmp_path, **kw)


def esearch(http, **kw):
    return http.request("POST", "esearch.fcgi", lambda b: b, params={"db": "pubmed", "term": "x"}, **kw)


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "reset", "timeout", "json_error"])
def test_retries_then_succeeds(server, tmp_path, kind):
    server.inject("esearch", kind, times=2)
    http = client(server, tmp_path)
    assert b"<Count>25</Count>" in esearch(http)
    assert http.stats == {"requests": 3, "retries": 2}
    assert server.requests[-1][2] == "evidex/test (+me@example.org)"


def test_a_password_in_the_base_url_stays_out_of_the_failure_message(server, tmp_path):
    "The message is logged and stored with the run: a proxy's password in the URL is masked there."
    server.inject("esearch", "503", times=10)
    http = HttpClient("test", server.pubmed_url.replace("http://", "http://me:pr0xy-s3cret@"), rate=500,
                      user_agent="evidex/test", timeout=CLIENT_TIMEOUT, backoff=0.01, rate_dir=tmp_path, retries=1)
    with pytest.raises(SourceError) as failed:
        esearch(http, what="what")
    assert "pr0xy-s3cret" not in str(failed.value)
    assert f"(test at {server.pubmed_url.replace('http://', 'http://me:[REDACTED]@')})" in str(failed.value)


def test_gives_up_after_bounded_retries(server, tmp_path):
    server.inject("esearch", "503", times=10)
    http = client(server, tmp_path, retries=2)
    with pytest.raises(SourceError, match=r"^what failed after 3 attempts: HTTP 503 \(test at http://127"):
        esearch(http, what="what")
    assert server.stats["esearch"] == 3


def test_backoff_grows_exponentially_and_is_capped(server, tmp_path):
    http = client(server, tmp_path)
    http.backoff, http.backoff_max = 1.0, 4.0
    for attempt, step in [(0, 1), (1, 2), (2, 4), (5, 4)]:
        delays = [http.delay(attempt) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 1  # jitter


def test_a_trickling_response_times_out_as_a_whole(server, tmp_path):
    "Each read comes within the timeout, but the body would take minutes: the deadline ends it, then retries."
    server.inject("esearch", "trickle", times=2, interval=0.05)
    http = client(server, tmp_path, retries=1)
    http.deadline = 0.5
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"failed after 2 attempts: timed out \(ReadTimeout\)"):
        esearch(http)
    assert time.monotonic() - started < 5


def test_retry_after_header_is_honoured(server, tmp_path):
    server.inject("esearch", "429", retry_after=0.4)
    started = time.monotonic()
    esearch(client(server, tmp_path))
    assert time.monotonic() - started >= 0.4


def test_permanent_error_body_raises_the_callers_error_class_at_once(server, tmp_path):
    server.inject("esearch", "error")
    with pytest.raises(UsageError, match="Invalid db name specified: fleegle"):
        esearch(client(server, tmp_path), error_class=UsageError)
    assert server.stats["esearch"] == 1


def test_api_key_is_posted_and_redacted_from_errors(server, tmp_path):
    key = "0123456789abcdef0123"
    server.inject("esearch", "503", times=10)
    http = client(server, tmp_path, retries=1, secrets=(key,))
    with pytest.raises(SourceError) as err:
        http.request("POST", "esearch.fcgi", lambda b: b, params={"term": "x", "api_key": key})
    assert key not in str(err.value)
    assert server.requests[-1][1]["api_key"] == key


def test_bad_gateway_4xx_is_not_retried(server, tmp_path):
    http = client(server, tmp_path)
    with pytest.raises(SourceError, match="HTTP 404"):
        http.request("GET", "nowhere", lambda b: b)
    assert server.stats["requests"] == 1


def test_offline_replays_the_cache(server, tmp_path):
    online = client(server, tmp_path, cache_dir=tmp_path / "cache")
    body = esearch(online)
    assert len(online.hashes) == 1
    offline = client(server, tmp_path, cache_dir=tmp_path / "cache", offline=True)
    before = server.stats["requests"]
    assert esearch(offline) == body
    assert server.stats["requests"] == before
    with pytest.raises(SourceError, match="not in the response cache"):
        offline.request("GET", "efetch.fcgi", lambda b: b, params={"id": "1"}, what="efetch")
