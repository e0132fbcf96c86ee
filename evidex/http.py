"""One polite httpx client per source: rate limit, bounded retries with jitter, error bodies, cache."""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from .errors import ConfigError, EvidexError, SourceError
from .ratelimit import RateLimiter

T = TypeVar("T")
log = logging.getLogger("evidex.http")

RETRY_STATUSES = {429, 500, 502, 503, 504}
# Parameters that identify the caller rather than the request: left out of cache keys.
CALLER_PARAMS = {"api_key", "email", "tool"}
MAX_RETRY_AFTER = 300.0
_KEY_PARAM = re.compile(r"(api[_-]?key=)[^&\s\"'#]+", re.IGNORECASE)
_XML_ERROR = re.compile(rb"<ERROR>(.*?)</ERROR>", re.DOTALL)
# E-utilities answers some overloads with status 200 and an error message: worth a retry.
_TRANSIENT = re.compile(r"rate limit|backend|temporar|unavailable|timed? ?out|try again|"
                        r"unable to obtain|too many|busy", re.IGNORECASE)


# Environment settings read as numbers: (smallest allowed value, whole numbers only).
ENV_NUMBERS: dict[str, tuple[float, bool]] = {
    "EVIDEX_TIMEOUT": (0.001, False), "EVIDEX_RETRIES": (0, True), "EVIDEX_BACKOFF": (0, False),
    "EVIDEX_BACKOFF_MAX": (0, False), "EVIDEX_RATE_LIMIT": (0.001, False), "EVIDEX_PUBMED_WINDOW_MAX": (1, True),
    "EVIDEX_DEADLINE": (0.001, False),
}


@dataclass
class Reply:
    "A response read in full: status, headers and body."

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def env_float(name: str, default: float) -> float:
    "A numeric environment setting, or default when unset; a bad value is a one-line ConfigError."
    value = os.environ.get(name)
    if not value:
        return default
    smallest, whole = ENV_NUMBERS.get(name, (float("-inf"), False))
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        number = None
    if number is None or number != number or number < smallest:  # number != number: NaN
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{name}={value!r}: must be {kind} of at least {smallest:g}")
    return float(number)


def check_environment() -> None:
    "Read every numeric setting (and the parse-process switch) once, so a bad one stops a command first."
    from .offload import check_setting

    for name in ENV_NUMBERS:
        env_float(name, 0)
    check_setting()


def check_url(url: str, what: str) -> None:
    "A base URL must be http(s)://host...: a typo is a config error (exit 2), not a network failure to retry."
    shown = public_url(url)  # the error is printed: a password (or api_key=) in the URL must not be
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        # urlsplit drops tabs and line breaks before looking, the HTTP client does not (a "\r"
        # from an env file edited on Windows): refuse them here, naming them.
        raise ConfigError(f"{what}: {shown!r} holds white space or a control character")
    parts, error = _split(url)
    if parts is None:
        # Said of the masked URL: a "port" may be the start of a password holding a '/'.
        reason = error if shown == url else \
            _split(shown.replace("[REDACTED]", "REDACTED"))[1] or "a malformed user part or port"
        raise ConfigError(f"{what}: {shown!r} is not a URL ({reason})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what}: {shown!r} is not an http:// or https:// URL with a host")


def _split(url: str) -> tuple[SplitResult | None, str | None]:
    "urlsplit with its port read too (which raises on one that is no number): (parts, None) or (None, what is wrong)."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError as ex:
        return None, str(ex)
    return parts, None


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    "Text with the given secret values and any api_key=... parameter replaced."
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return _KEY_PARAM.sub(lambda m: m.group(1) + "[REDACTED]", text)


def public_url(url: str, secrets: tuple[str, ...] = ()) -> str:
    "A URL as a stored record may keep it: a password in it masked, secrets and api_key=... redacted."
    return redact(mask_password(url), secrets)


def mask_password(url: str) -> str:
    "url with the password in its user part (or a user part with no password) replaced by [REDACTED], also when url is malformed."
    parts, _ = _split(url)
    if parts is not None and parts.netloc:
        if "@" not in parts.netloc:
            return url
        # The user name stays beside a password; a user part alone ('https://TOKEN@host') is how
        # many services take a token: masked whole.
        user = f"{parts.username}:" if parts.password is not None else ""
        return urlunsplit(parts._replace(netloc=f"{user}[REDACTED]@{parts.netloc.rpartition('@')[2]}"))
    # Unparsable (or no authority where one was meant, 'user:pw@host'): mask from the user part's
    # ':' (or its start) to the last '@', which may take more than the secret but never less.
    start = url.find("//") + 2 if "//" in url else 0
    at = url.rfind("@")
    if at <= start:
        return url
    keep = url.find(":", start, at) + 1 or start
    return f"{url[:keep]}[REDACTED]{url[at:]}"


class BadResponse(Exception):
    "A response that is not what was asked for; retryable ones are asked for again."

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


def error_in_body(body: bytes) -> str | None:
    "The error message of an E-utilities / Europe PMC error body sent with status 200, if any."
    head = body.lstrip()[:1]
    if head == b"{":
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if isinstance(data, dict):
            if "error" in data:
                return str(data["error"])
            inner = data.get("esearchresult")
            if isinstance(inner, dict) and "ERROR" in inner:
                return str(inner["ERROR"])
            if data.get("errMsg"):
                return str(data["errMsg"])
        return None
    match = _XML_ERROR.search(body)
    if match:
        return match.group(1).decode("utf-8", "replace").strip() or "(empty ERROR element)"
    return None


def retry_after(response: httpx.Response | Reply) -> float | None:
    "Seconds to wait from a Retry-After header (seconds or an HTTP date), if present."
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def request_key(method: str, path: str, params: Mapping[str, Any] | None) -> str:
    "A stable key for a request, without the caller's identity, for the response cache."
    items = sorted((k, str(v)) for k, v in (params or {}).items() if k not in CALLER_PARAMS)
    return hashlib.sha256(json.dumps([method.upper(), path, items]).encode()).hexdigest()


class ResponseCache:
    "Raw response bodies stored by SHA-256, with an index from request key to body hash."

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index = self.dir / "index.jsonl"

    def store(self, key: str, body: bytes, what: str) -> str:
        digest = hashlib.sha256(body).hexdigest()
        path = self.dir / digest[:2] / digest
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(body)
            tmp.replace(path)  # atomic: a killed run never leaves half a body under its hash
        with open(self.index, "a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "sha256": digest, "what": what, "at": time.time()}) + "\n")
        return digest

    def lookup(self, key: str) -> bytes | None:
        "The last body stored for this request key."
        if not self.index.exists():
            return None
        digest = None
        with open(self.index, encoding="utf-8") as f:
            for line in f:
                entry = json.loads(line)
                if entry["key"] == key:
                    digest = entry["sha256"]
        if digest is None:
            return None
        body = (self.dir / digest[:2] / digest).read_bytes()
        if hashlib.sha256(body).hexdigest() != digest:
            # A replay must read what was fetched: a body edited since is not that.
            raise SourceError(f"cached response {digest[:12]}... in {self.dir} no longer matches its SHA-256")
        return body


class HttpClient:
    "An httpx.Client for one source with rate limiting, retries, error-body checks and a cache."

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        rate: float,
        user_agent: str,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        backoff_max: float | None = None,
        secrets: tuple[str, ...] = (),
        cache_dir: str | os.PathLike | None = None,
        offline: bool = False,
        rate_dir: str | os.PathLike | None = None,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.limiter = RateLimiter(name, rate, rate_dir)
        timeout = timeout if timeout is not None else env_float("EVIDEX_TIMEOUT", 30.0)
        self.retries = retries if retries is not None else int(env_float("EVIDEX_RETRIES", 6))
        self.backoff = backoff if backoff is not None else env_float("EVIDEX_BACKOFF", 1.0)
        self.backoff_max = backoff_max if backoff_max is not None else env_float("EVIDEX_BACKOFF_MAX", 60.0)
        # A whole response may take ten read timeouts (300 s by default), then it counts as timed out.
        self.deadline = env_float("EVIDEX_DEADLINE", 10 * timeout)
        self.secrets = secrets
        self.cache = ResponseCache(cache_dir) if cache_dir else None
        self.offline = offline
        if offline and not self.cache:
            raise SourceError("offline replay needs a --cache-dir with recorded responses")
        self.hashes: list[str] = []  # body hashes stored since the caller last drained them
        self.stats = {"requests": 0, "retries": 0}
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": user_agent},
            http2=False,  # HTTP/1.1 keep-alive, one connection reused
            follow_redirects=True,
        )

    def close(self) -> None:
        self.client.close()

    def drain(self) -> list[str]:
        "The cached body hashes since the last drain (for the ledger's list of responses)."
        hashes, self.hashes = self.hashes, []
        return hashes

    def pause(self, attempt: int) -> None:
        "Sleep one backoff step (used between re-asks for records a response left out)."
        time.sleep(self.delay(attempt))

    def delay(self, attempt: int) -> float:
        "Exponential backoff with 'equal jitter': half fixed, half random, capped."
        step = min(self.backoff_max, self.backoff * 2 ** attempt)
        return step / 2 + random.uniform(0, step / 2)

    def request(
        self,
        method: str,
        path: str,
        parse: Callable[[bytes], T],
        *,
        params: Mapping[str, Any] | None = None,
        what: str = "request",
        error_class: type[EvidexError] = SourceError,
    ) -> T:
        """Send one request (params in the query for GET, as a form for POST) and parse its body.

        Retries on 429, 5xx, timeouts, connection errors and retryable bad bodies; raises
        error_class for a permanent error body and SourceError once the retries are spent.
        """
        key = request_key(method, path, params)
        if self.offline:
            body = self.cache.lookup(key)  # type: ignore[union-attr]
            if body is None:
                raise SourceError(f"{what}: not in the response cache {self.cache.dir}")  # type: ignore[union-attr]
            # The replayed bodies are this run's inputs: its receipt lists them as a fetch's are.
            self.hashes.append(hashlib.sha256(body).hexdigest())
            try:
                return self._check(body, parse, what, error_class)
            except BadResponse as ex:
                raise SourceError(f"{what}: cached response is unusable: {ex}") from None
        url = f"{self.base_url}/{path.lstrip('/')}"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retries"] += 1
            self.limiter.wait()
            self.stats["requests"] += 1
            wait = None
            try:
                response = self._send(method, url, params)
            except httpx.TimeoutException as ex:
                problem = f"timed out ({type(ex).__name__})"
            except httpx.TransportError as ex:
                problem = f"connection failed ({type(ex).__name__}: {ex})"
            else:
                status = response.status_code
                if status in RETRY_STATUSES:
                    problem = f"HTTP {status}"
                    wait = retry_after(response)
                elif status >= 400:
                    snippet = response.text[:200].strip()
                    cls = error_class if status == 400 else SourceError
                    raise cls(self._redact(f"{what}: HTTP {status} from {self.name}: {snippet}"))
                else:
                    try:
                        result = self._check(response.content, parse, what, error_class)
                    except BadResponse as ex:
                        problem = str(ex)
                        if problem.startswith(what):
                            # A parse error names the request ("what:6:11884: XML ends early"): said once, in front.
                            problem = "the response" + problem[len(what):]
                    else:
                        if self.cache:
                            self.hashes.append(self.cache.store(key, response.content, what))
                        return result
            if attempt == self.retries:
                break
            pause = min(wait, MAX_RETRY_AFTER) if wait is not None else self.delay(attempt)
            log.info(self._redact(f"{what}: {problem}; retry {attempt + 1}/{self.retries} in {pause:.2f}s"))
            time.sleep(pause)
        raise SourceError(self._redact(
            f"{what} failed after {self.retries + 1} attempts: {problem} ({self.name} at {public_url(self.base_url)})"))

    def _send(self, method: str, url: str, params: Mapping[str, Any] | None) -> Reply:
        "One request, its body read within the deadline: a server trickling bytes cannot hold a run forever."
        # httpx's timeout bounds each read, not the whole body; one byte a second never trips it.
        deadline = time.monotonic() + self.deadline
        # GET: params in the query; POST: a form body, so long id lists and the API key stay out of the URL.
        sent: dict[str, Any] = {"params": params} if method.upper() == "GET" else {"data": params}
        with self.client.stream(method, url, **sent) as response:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"the response took over {self.deadline:g}s in all")
            return Reply(response.status_code, response.headers, b"".join(chunks))

    def _check(self, body: bytes, parse: Callable[[bytes], T], what: str,
               error_class: type[EvidexError]) -> T:
        "Error bodies sent with status 200 are failures; then the caller's parse decides."
        if not body.strip():
            raise BadResponse("empty response body")
        message = error_in_body(body)
        if message is not None:
            if _TRANSIENT.search(message):
                raise BadResponse(f"error body: {message}")
            raise error_class(self._redact(f"{what}: {self.name} answered with an error: {message}"))
        return parse(body)

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets)
