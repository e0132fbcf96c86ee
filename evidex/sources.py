"""Built-in sources (PubMed E-utilities, Europe PMC), registered as a default plugin."""

from __future__ import annotations

import datetime
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, TypeVar

from defusedxml import ElementTree as SafeET

from . import __version__
from .errors import InputError, SourceError, UsageError
from .hookspecs import hookimpl
from .http import BadResponse, HttpClient, check_url, env_float
from .models import Deletion, Document, Source
from .offload import Offload, enabled
from .ratelimit import default_rate

EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
EUROPEPMC_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest"
# esearch lists at most 10,000 ids of a result set; bigger sets are split by entry date (then PMID).
ESEARCH_MAX = 9999
EARLIEST = datetime.date(1800, 1, 1)  # before any PubMed entry date
# One entry date can hold more records than esearch lists (bulk loads): such a day is split by
# PMID range ("lo:hi[uid]"), starting from every PMID there can be.
PMID_CEILING = 999_999_999
T = TypeVar("T")
_PMID_IN_XML = re.compile(rb"<Pubmed(?:Book)?Article[\s>]")


@dataclass
class Window:
    "One query window: entry dates start..end (inclusive, None = open) and its expected count."

    start: datetime.date | None
    end: datetime.date | None
    expected: int
    ids: list[str] | None = None  # the PMIDs esearch listed (PubMed only)
    pmids: tuple[int, int] | None = None  # PubMed only: the window holds these PMIDs (inclusive)
    notes: list[str] = field(default_factory=list)


@dataclass
class Batch:
    "What one fetch request brought back, for the ledger."

    records: list[Document | Deletion]
    fetched: int  # records received that were asked for
    failed: int = 0  # expected records that did not arrive (after retries) or did not parse
    failed_ids: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)  # SHA-256 of cached response bodies


class ApiSource(Source):
    "A Source over one HTTP API, with a lazily built client and run options."

    name = ""
    url_env = ""
    default_url = ""

    def __init__(self, **options: Any):
        self.options: dict[str, Any] = {}
        self._http: HttpClient | None = None
        self._offload: Offload | None = None
        self.configure(**options)

    def configure(self, **options: Any) -> None:
        "Set email, cache_dir, offline, base_url, rate... (rebuilds the HTTP client)."
        self.options.update({k: v for k, v in options.items() if v is not None})
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._offload is not None:
            self._offload.close()
            self._offload = None

    def parse(self, func: Callable[..., T], *args: Any) -> T:
        "func(*args), in the parser process unless EVIDEX_PARSE_PROCESS=0 (then in this thread)."
        if not enabled():
            return func(*args)
        if self._offload is None:
            self._offload = Offload()
        return self._offload.call(func, *args)

    @property
    def base_url(self) -> str:
        return self.options.get("base_url") or os.environ.get(self.url_env) or self.default_url

    def check_base_url(self) -> None:
        "Refuse a malformed base URL (configured or from the environment) before anything runs."
        where = "base_url" if self.options.get("base_url") else self.url_env if os.environ.get(self.url_env) else "default"
        check_url(self.base_url, f"{self.name} base URL ({where})")

    def secrets(self) -> tuple[str, ...]:
        return ()

    def rate(self) -> float:
        return self.options.get("rate") or default_rate()

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            email = self.options.get("email")
            agent = f"evidex/{__version__}" + (f" (+{email})" if email else "")
            self._http = HttpClient(
                self.name, self.base_url, rate=self.rate(), user_agent=agent,
                secrets=self.secrets(), cache_dir=self.options.get("cache_dir"),
                offline=bool(self.options.get("offline")), rate_dir=self.options.get("rate_dir"),
            )
        return self._http

    def plan(self, query: str, start: datetime.date | None, end: datetime.date) -> list[Window]:
        raise NotImplementedError

    def fetch(self, query: str, window: Window, batch_size: int) -> Iterator[Batch]:
        raise NotImplementedError

    def search(self, query: str, **options: Any) -> Iterator[Document]:
        "Yield every document matching query (since=DATE to start at an entry date); no ledger."
        since = options.get("since")
        end = datetime.date.today()
        for window in self.plan(query, since, end):
            for batch in self.fetch(query, window, options.get("batch_size", 200)):
                if batch.failed:
                    raise SourceError(f"{self.name}: {batch.failed} records could not be fetched")
                yield from (r for r in batch.records if isinstance(r, Document))


# ---- PubMed ------------------------------------------------------------------------------------


@dataclass
class SearchResult:
    count: int
    ids: list[str]
    notes: list[str]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class PubMedSource(ApiSource):
    "PubMed through E-utilities: esearch per entry-date window, efetch XML in POSTed id batches."

    name = "pubmed"
    url_env = "EVIDEX_PUBMED_URL"
    default_url = EUTILS_URL

    def secrets(self) -> tuple[str, ...]:
        key = self.api_key()
        return (key,) if key else ()

    def api_key(self) -> str | None:
        return self.options.get("api_key") or os.environ.get("NCBI_API_KEY") or None

    def rate(self) -> float:
        return self.options.get("rate") or default_rate(keyed=bool(self.api_key()))

    @property
    def window_max(self) -> int:
        return int(self.options.get("window_max") or env_float("EVIDEX_PUBMED_WINDOW_MAX", ESEARCH_MAX))

    def _params(self, **params: Any) -> dict[str, Any]:
        params = {"db": "pubmed", **params, "tool": "evidex"}
        if self.options.get("email"):
            params["email"] = self.options["email"]
        if self.api_key():
            params["api_key"] = self.api_key()
        return params

    def esearch(self, query: str, start: datetime.date | None, end: datetime.date | None,
                pmids: tuple[int, int] | None = None) -> SearchResult:
        "Count and ids (up to window_max) of query within entry dates start..end (and a PMID range)."
        term = f"({query}) AND {pmids[0]}:{pmids[1]}[uid]" if pmids else query
        params = self._params(term=term, retmode="xml", retmax=self.window_max, retstart=0)
        if start or end:
            params.update(datetype="edat", mindate=(start or EARLIEST).strftime("%Y/%m/%d"),
                          maxdate=(end or datetime.date.today()).strftime("%Y/%m/%d"))
        what = f"PubMed esearch {_short(query)!r}" + (f" {_span(start, end)}" if start or end else "")
        if pmids:
            what += f" PMIDs {pmids[0]}-{pmids[1]}"
        result = self.http.request("POST", "esearch.fcgi", _parse_esearch, params=params, what=what,
                                   error_class=UsageError)
        if result.count == 0 and any(n.startswith(("phrase not found", "field not found")) for n in result.notes):
            raise UsageError(f"invalid PubMed query {_short(query)!r}: {'; '.join(result.notes)}")
        return result

    def plan(self, query: str, start: datetime.date | None, end: datetime.date) -> list[Window]:
        "Windows of at most window_max records each whose counts add up to the query's total."
        top = self.esearch(query, start, end if start else None)
        if top.count <= self.window_max:
            return [Window(start, end, top.count, top.ids, notes=top.notes)]
        windows = self._split(query, start or EARLIEST, end, top.count)
        total = sum(w.expected for w in windows)
        if total != top.count:
            raise SourceError(f"PubMed {_short(query)!r}: date windows add up to {total} records, "
                              f"the whole query to {top.count}")
        windows[0].notes[:0] = top.notes
        return windows

    def _split(self, query: str, lo: datetime.date, hi: datetime.date, count: int) -> list[Window]:
        "Halve lo..hi by entry date, recursively, until each part lists all its ids; a day by PMID."
        if lo >= hi:
            return self._split_pmids(query, lo, (1, PMID_CEILING), count)
        mid = lo + (hi - lo) // 2
        parts = [(lo, mid), (mid + datetime.timedelta(days=1), hi)]
        results = [self.esearch(query, a, b) for a, b in parts]
        self._check_halves(query, f"{_span(lo, hi)}", count, results)
        windows: list[Window] = []
        for (a, b), r in zip(parts, results):
            if r.count <= self.window_max:
                windows.append(Window(a, b, r.count, r.ids))
            else:
                windows.extend(self._split(query, a, b, r.count))
        return windows

    def _split_pmids(self, query: str, day: datetime.date, pmids: tuple[int, int], count: int) -> list[Window]:
        "Halve one entry day's PMID range, recursively (a range of one PMID holds at most one record)."
        lo, hi = pmids
        mid = lo + (hi - lo) // 2
        parts = [(lo, mid), (mid + 1, hi)]
        results = [self.esearch(query, day, day, part) for part in parts]
        self._check_halves(query, f"{_span(day, day)} PMIDs {lo}-{hi}", count, results)
        windows: list[Window] = []
        for part, r in zip(parts, results):
            if r.count == 0:
                continue  # most of the PMID space holds nothing of one day
            if r.count <= self.window_max:
                windows.append(Window(day, day, r.count, r.ids, pmids=part, notes=[f"PMIDs {part[0]}-{part[1]}"]))
            else:
                windows.extend(self._split_pmids(query, day, part, r.count))
        return windows

    def _check_halves(self, query: str, what: str, count: int, results: list[SearchResult]) -> None:
        "The two halves' counts must add up to the whole's: every record is in exactly one window."
        if sum(r.count for r in results) != count:
            raise SourceError(f"PubMed {_short(query)!r}: {what} has {count} records but its halves "
                              f"{' + '.join(str(r.count) for r in results)} (records changing? rerun)")

    def efetch(self, ids: list[str]) -> list[Document | Deletion]:
        "Records for ids (POST), parsed; a truncated or malformed body is fetched again."
        what = f"PubMed efetch of {len(ids)} ids ({ids[0]}..{ids[-1]})"

        def parse(body: bytes) -> list[Document | Deletion]:
            return self.parse(parse_efetch, body, what)

        params = self._params(id=",".join(ids), retmode="xml")
        return self.http.request("POST", "efetch.fcgi", parse, params=params, what=what)

    def fetch(self, query: str, window: Window, batch_size: int) -> Iterator[Batch]:
        "Batches of records for the window's ids; ids that never arrive are counted as failed."
        ids = window.ids if window.ids is not None else self.esearch(query, window.start, window.end,
                                                                      window.pmids).ids
        ids = list(dict.fromkeys(ids))  # esearch should not repeat an id; never count one twice
        if len(ids) < window.expected:
            yield Batch([], 0, failed=window.expected - len(ids), responses=self.http.drain(), notes=[
                f"esearch listed {len(ids)} ids for {window.expected} records"])
        for chunk in _chunks(ids, batch_size):
            got: dict[str, Document | Deletion] = {}
            extra = 0
            wanted = chunk
            # Ask again for ids a response left out: efetch drops records silently.
            for attempt in range(3):
                for record in self.efetch(wanted):
                    pmid = record.pmid
                    if pmid in wanted and pmid not in got:
                        got[pmid] = record
                    elif pmid not in chunk:
                        extra += 1
                wanted = [i for i in chunk if i not in got]
                if not wanted:
                    break
                if attempt < 2:
                    self.http.pause(attempt)
            records = [got[i] for i in chunk if i in got]
            # A DeleteCitation goes on to the store, which withdraws the paper it names (as ingest
            # of the same XML does); in the ledger it is a skipped record, never a stored one.
            skipped = {"deleted": sum(isinstance(r, Deletion) for r in records)}
            batch = Batch(records, len(records),
                          failed=len(wanted), failed_ids=wanted,
                          skipped={k: v for k, v in skipped.items() if v})
            if extra:
                batch.notes.append(f"{extra} records not asked for were ignored")
            batch.responses = self.http.drain()
            yield batch


def parse_efetch(body: bytes, what: str) -> list[Document | Deletion]:
    "The records of one efetch body; a malformed or truncated one is a (retryable) BadResponse."
    from .pubmed_xml import iter_pubmed_xml

    try:
        return list(iter_pubmed_xml(io.BytesIO(body), what))
    except InputError as ex:
        raise BadResponse(str(ex)) from None


def _short(query: str, limit: int = 90) -> str:
    "A query cut to one readable line for messages; the full text is in the run record."
    return query if len(query) <= limit else query[: limit - 1] + "…"


def _span(start: datetime.date | None, end: datetime.date | None) -> str:
    return f"{start or '...'}..{end or '...'}"


def _parse_esearch(body: bytes) -> SearchResult:
    "Count, ids and query problems of an esearch XML answer."
    try:
        root = SafeET.fromstring(body)
    except Exception as ex:  # ParseError or refused unsafe XML: a broken answer, ask again
        raise BadResponse(f"esearch answer is not valid XML: {ex}") from None
    if root.tag != "eSearchResult":
        raise BadResponse(f"esearch answer has root <{root.tag}>, expected <eSearchResult>")
    count = root.findtext("Count")
    if count is None or not count.strip().isdigit():
        raise BadResponse("esearch answer has no Count")
    ids = [(e.text or "").strip() for e in root.findall("IdList/Id")]
    notes = [f"phrase not found: {(e.text or '').strip()}" for e in root.findall("ErrorList/PhraseNotFound")]
    notes += [f"field not found: {(e.text or '').strip()}" for e in root.findall("ErrorList/FieldNotFound")]
    notes += [f"warning: {(e.text or '').strip()}" for e in root.findall("WarningList/QuotedPhraseNotFound")]
    return SearchResult(int(count), [i for i in ids if i], notes)


# ---- Europe PMC --------------------------------------------------------------------------------


class _HtmlText(HTMLParser):
    "Plain text of abstractText HTML; <h1>-<h6> headings become 'Label: ' section starts."

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple[str, str]] = []  # (kind, text): kind is "text" or "label"
        self.in_heading = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self.in_heading = True
            self.parts.append(("label", ""))
        elif tag in ("p", "br", "div", "li"):
            self.parts.append(("text", " "))

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self.in_heading = False
        elif tag in ("p", "div", "li"):
            self.parts.append(("text", " "))

    def handle_data(self, data: str) -> None:
        if self.in_heading and self.parts and self.parts[-1][0] == "label":
            self.parts[-1] = ("label", self.parts[-1][1] + data)
        else:
            self.parts.append(("text", data))


# HTML white space only, as the PubMed XML reader: a no-break or thin space ("30\u00a0years",
# "p\u2009<\u2009.001") is the author's, and the same paper reads the same from either source.
_HTML_WS = re.compile(r"[ \t\n\r\f]+")
# Europe PMC titles carry inline markup entity-escaped ("m&lt;sup&gt;6&lt;/sup&gt;A") where
# abstracts carry tags: both are markup, and neither may leave "<sup>" in the stored text.
_ESCAPED_INLINE = re.compile(r"&lt;(/?(?:i|b|u|em|strong|sup|sub|sc))&gt;", re.IGNORECASE)


def strip_html(value: str | None) -> tuple[str, list[dict[str, Any]]]:
    "Text without HTML, headings kept as 'Label: ' paragraph starts, and the sections they span."
    if not value:
        return "", []
    parser = _HtmlText()
    parser.feed(_ESCAPED_INLINE.sub(r"<\1>", value))
    parser.close()
    paragraphs: list[tuple[str | None, str]] = [(None, "")]
    for kind, text in parser.parts:
        if kind == "label":
            paragraphs.append((_HTML_WS.sub(" ", text).strip().rstrip(":"), ""))
        else:
            label, body = paragraphs[-1]
            paragraphs[-1] = (label, body + text)
    out = ""
    sections = []
    for label, body in paragraphs:
        # The parser decoded the entities once (convert_charrefs): decoding again would read
        # "R&amp;paracrine" as "R¶crine".
        body = _HTML_WS.sub(" ", body).strip()
        if not body and not label:
            continue
        paragraph = f"{label}: {body}" if label else body
        start = len(out) + (1 if out else 0)
        out = f"{out} {paragraph}" if out else paragraph
        if label:
            sections.append({"label": label, "category": None, "start": start, "end": start + len(paragraph)})
    return out, sections


def europepmc_document(result: dict[str, Any]) -> Document:
    "A Document from one Europe PMC core result; records without a PMID are keyed source:id."
    src = result.get("source") or "?"
    rid = str(result.get("id") or "")
    key = f"{src}:{rid}"
    pmid = str(result["pmid"]) if result.get("pmid") else None
    title, _ = strip_html(result.get("title"))
    abstract, sections = strip_html(result.get("abstractText"))
    journal_info = result.get("journalInfo") or {}
    journal = (journal_info.get("journal") or {}).get("title") or result.get("journalTitle")
    year: Any = result.get("pubYear")  # a number or its digits
    pub_date = result.get("firstPublicationDate") or None
    if not str(year or "").isdigit() and pub_date and pub_date[:4].isdigit():
        # PMC-source results often lack pubYear: without a year, the MED copy of the same paper
        # (PMID, no PMC id) cannot be matched by title and year, and the paper is stored twice.
        year = pub_date[:4]
    pub_types = (result.get("pubTypeList") or {}).get("pubType") or (
        [result["pubType"]] if result.get("pubType") else [])
    return Document(
        id=pmid or key,
        title=title,
        abstract=abstract,
        pmid=pmid,
        doi=result.get("doi") or None,
        pmcid=result.get("pmcid") or None,
        source="europepmc",
        source_ids={"europepmc": key},
        journal=journal,
        pub_date=pub_date,
        year=int(year) if str(year or "").isdigit() else None,
        entry_date=result.get("firstIndexDate") or None,
        language=result.get("language") or None,
        pub_types=list(pub_types) if isinstance(pub_types, list) else [str(pub_types)],
        sections=sections,
    )


class EuropePMCSource(ApiSource):
    "Europe PMC REST search: resultType=core JSON pages followed by cursorMark."

    name = "europepmc"
    url_env = "EVIDEX_EUROPEPMC_URL"
    default_url = EUROPEPMC_URL

    @staticmethod
    def windowed(query: str, start: datetime.date | None, end: datetime.date | None) -> str:
        "The query limited to first-index dates start..end (Europe PMC's entry date)."
        if not start:
            return query
        return f"({query}) AND FIRST_IDATE:[{start.isoformat()} TO {(end or datetime.date.today()).isoformat()}]"

    def _page(self, query: str, cursor: str, size: int, what: str, check=None) -> dict[str, Any]:
        def parse(body: bytes) -> dict[str, Any]:
            try:
                data = json.loads(body)
            except ValueError as ex:
                raise BadResponse(f"not JSON: {ex}") from None
            if not isinstance(data, dict) or not isinstance(data.get("hitCount"), int):
                raise BadResponse("answer has no hitCount")
            results = (data.get("resultList") or {}).get("result")
            if not isinstance(results, list):
                raise BadResponse("answer has no resultList")
            if check:
                check(data, results)
            return data

        params = {"query": query, "resultType": "core", "format": "json", "pageSize": size,
                  "cursorMark": cursor, "synonym": "false"}
        if self.options.get("email"):
            params["email"] = self.options["email"]
        return self.http.request("GET", "search", parse, params=params, what=what, error_class=UsageError)

    def plan(self, query: str, start: datetime.date | None, end: datetime.date) -> list[Window]:
        q = self.windowed(query, start, end)
        data = self._page(q, "*", 1, f"Europe PMC count of {_short(q)!r}")
        return [Window(start, end, data["hitCount"])]

    def fetch(self, query: str, window: Window, batch_size: int) -> Iterator[Batch]:
        "Cursor pages until hitCount; a repeated cursor or an early end is an error, never 'done'."
        q = self.windowed(query, window.start, window.end)
        size = max(1, min(batch_size, 1000))
        cursor = "*"
        cursors = {cursor}
        seen: set[str] = set()
        total = window.expected
        while True:
            def check(data: dict[str, Any], results: list) -> None:
                if not results and len(seen) < data["hitCount"]:
                    raise BadResponse(f"Europe PMC pages stopped at {len(seen)} of {data['hitCount']} records")

            data = self._page(q, cursor, size, f"Europe PMC search {_short(q)!r} page at {len(seen)}", check)
            total = data["hitCount"]
            if total != window.expected:  # records indexed or withdrawn since the count
                window.notes.append(f"hitCount changed from {window.expected} to {total}")
                window.expected = total
            records: list[Document | Deletion] = []
            duplicates = 0
            for result in data["resultList"]["result"]:
                key = f"{result.get('source')}:{result.get('id')}"
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                records.append(europepmc_document(result))
            batch = Batch(records, len(records), responses=self.http.drain())
            if duplicates:
                batch.notes.append(f"{duplicates} results repeated from earlier pages were ignored")
            yield batch
            if len(seen) >= total or not data["resultList"]["result"]:
                return
            following = data.get("nextCursorMark")
            if not following:
                raise SourceError(f"Europe PMC {_short(q)!r}: no nextCursorMark at {len(seen)} of {total} records")
            if following in cursors:
                raise SourceError(f"Europe PMC {_short(q)!r}: cursor {following!r} repeated at {len(seen)} of "
                                  f"{total} records; stopping rather than looping")
            cursors.add(following)
            cursor = following


@hookimpl
def register_sources(register):
    register(PubMedSource())
    register(EuropePMCSource())
