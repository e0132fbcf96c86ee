"""Security: the API key never leaks, SQL is parameterised, XML attacks fail, plugin dirs are opt-in."""

from __future__ import annotations

import ast
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from evidex import logs
from xml_attacks import ATTACKS

ROOT = Path(__file__).resolve().parent.parent
MARKER = "SECRETKEY-7f3a9c1e5b"  # looks like an NCBI key; must appear nowhere we write
import replay_server  # noqa: E402  (tests/ is on sys.path under pytest, as for the other network tests)

CONFIG = """
[run]
extract = {extract}
link_seed = false
{run_extra}

[sources.pubmed]
batch_size = 20

[[queries]]
id = "Q00"
pubmed = "\\"type I interferon\\"[tiab] AND cancer[tiab]"
"""


def base_env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVIDEX_", "NCBI_"))}
    env.update(EVIDEX_RATE_DIR=str(tmp_path / "rate"), EVIDEX_RATE_LIMIT="1000", EVIDEX_RETRIES="1",
               EVIDEX_BACKOFF="0.01", EVIDEX_EMAIL="ci@example.org", **extra)
    return env


def evidex(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evidex", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def files_containing(folder: Path, needle: bytes) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture
def recording_server():
    "The replay server, also recording every request's parameters."
    try:
        server = replay_server.ReplayServer(scale=40)
    except FileNotFoundError as ex:
        pytest.skip(str(ex))
    seen: list[dict] = []
    base = server.httpd.RequestHandlerClass

    class Recording(base):  # type: ignore[misc, valid-type]
        def route(self, q):
            seen.append(q)
            super().route(q)

    server.httpd.RequestHandlerClass = Recording
    server.seen = seen
    with server:
        yield server


def test_api_key_is_used_but_never_written_anywhere(recording_server, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "evidex.toml").write_text(CONFIG.format(extract="true", run_extra=""))
    env = base_env(tmp_path, NCBI_API_KEY=MARKER, **recording_server.env())
    outputs = []
    # A good run, with human and JSON logs.
    for flags in ([], ["--log-json"]):
        proc = evidex(["run", "--config", "evidex.toml", "--db", "e.db", *flags], env, work)
        assert proc.returncode == 0, proc.stderr
        outputs += [proc.stdout, proc.stderr]
    # Failing runs: the server errors until retries run out, then nothing listens at all.
    (work / "evidex.toml").write_text(CONFIG.format(extract="false", run_extra='since = "2000-01-01"')
                                      .replace("AND cancer", "AND tumour"))
    recording_server.inject("esearch", "500", times=10)
    proc = evidex(["run", "--config", "evidex.toml", "--db", "e.db", "--log-json"], env, work)
    assert proc.returncode == 4, proc.stderr
    outputs += [proc.stdout, proc.stderr]
    down = {**env, "EVIDEX_PUBMED_URL": "http://127.0.0.1:9/eutils"}
    proc = evidex(["run", "--config", "evidex.toml", "--db", "e.db"], down, work)
    assert proc.returncode == 4
    outputs += [proc.stdout, proc.stderr]
    # Receipts and listings read back from the database.
    listing = evidex(["runs", "--db", "e.db", "--json"], env, work)
    assert listing.returncode == 0, listing.stderr
    outputs.append(listing.stdout)
    runs = json.loads(listing.stdout)
    # Receipts of a fetch run with a ledger and of a failed one (each is a process start).
    picked = [r for r in runs if r["command"] == "ingest" and r["status"] == "ok"][:1] + \
        [r for r in runs if r["status"] == "failed"][:1]
    assert len(picked) == 2
    for run in picked:
        receipt = evidex(["runs", "--db", "e.db", "--receipt", str(run["id"])], env, work)
        outputs += [receipt.stdout, receipt.stderr]

    # The key was really sent (so its absence below means something) ...
    assert any(q.get("api_key") == [MARKER] for q in recording_server.seen)
    # ... and appears in no output, no log line, no file evidex wrote (db, WAL, lock, rate files).
    assert [o for o in outputs if MARKER in o] == []
    assert files_containing(tmp_path, MARKER.encode()) == []
    with sqlite3.connect(work / "e.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert MARKER not in dump


def test_key_in_a_url_or_message_is_redacted(monkeypatch):
    monkeypatch.setenv("NCBI_API_KEY", MARKER)
    assert logs.redact(f"GET /esearch.fcgi?db=pubmed&api_key={MARKER}&term=x") == \
        "GET /esearch.fcgi?db=pubmed&api_key=[REDACTED]&term=x"
    assert logs.redact(f"failed: {MARKER!r}") == "failed: '[REDACTED]'"
    assert logs.redact("api_key=someotherkey123 &x") == "api_key=[REDACTED] &x"  # not from the env

    stream = io.StringIO()
    log = logs.setup(json_lines=True, stream=stream)
    try:
        log.error("request %s failed", f"?api_key={MARKER}", extra={"event": "x", "fields": {"url": MARKER}})
        try:
            raise RuntimeError(f"boom {MARKER}")
        except RuntimeError:
            log.exception("crashed")
    finally:
        logs.setup()
    assert MARKER not in stream.getvalue()
    assert json.loads(stream.getvalue().splitlines()[0])["url"] == "[REDACTED]"

    inner = io.StringIO()
    out = logs.RedactingStream(inner)
    out.write(f"key {MARKER}\n")
    assert inner.getvalue() == "key [REDACTED]\n"


def test_config_file_refuses_secrets_without_echoing_them(tmp_path):
    from evidex.errors import ConfigError
    from evidex.config import load_config

    config = tmp_path / "c.toml"
    config.write_text(f'[sources.pubmed]\napi_key = "{MARKER}"\n[[queries]]\nid = "Q"\npubmed = "x[tiab]"\n')
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "sources.pubmed.api_key" in str(info.value) and MARKER not in str(info.value)


# ---- SQL ---------------------------------------------------------------------------------------

SQL_START = re.compile(r"^\s*(select|insert|update|delete|with|create|drop|alter|pragma)\b", re.I)
# Interpolations allowed inside SQL f-strings: placeholder lists ("?" repeated), constants
# (UPPER_CASE names holding fixed SQL), and the local names below, each built from "?" marks
# or fixed fragments in the function that uses it (reviewed by hand; extend with care).
SAFE_NAMES = {"marks", "where"}


def _safe(expr: ast.expr) -> bool:
    source = ast.unparse(expr)
    if "'?'" in source or '"?"' in source:
        return True
    # Built only from constants (e.g. SQL_FRAGMENT.format(date=OTHER_FRAGMENT)) or reviewed names.
    names = [n.id for n in ast.walk(expr) if isinstance(n, ast.Name)]
    return bool(names) and all(n.isupper() or n in SAFE_NAMES for n in names)


def sql_fstrings(path: Path) -> list[tuple[int, str]]:
    "f-strings that look like SQL and interpolate something that is not a placeholder or constant."
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.JoinedStr):
            continue
        head = "".join(v.value for v in node.values[:1] if isinstance(v, ast.Constant))
        if not SQL_START.match(head):
            continue
        for value in node.values:
            if isinstance(value, ast.FormattedValue) and not _safe(value.value):
                bad.append((node.lineno, ast.unparse(value.value)))
    return bad


@pytest.mark.parametrize("path", sorted((ROOT / "evidex").glob("*.py")) + sorted((ROOT / "plugins").glob("*.py")),
                         ids=lambda p: p.name)
def test_sql_is_parameterised(path):
    "Values reach SQL only as parameters: an f-string may build placeholders, never splice data."
    assert sql_fstrings(path) == []


def test_hostile_values_are_stored_verbatim(tmp_path):
    hostile = "1'); drop table documents; --"
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": hostile, "title": "x\" or 1=1 -- type I interferon", "abstract": "';--"}) + "\n")
    env = base_env(tmp_path)
    proc = evidex(["ingest", "--db", "e.db", str(docs)], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert evidex(["extract", "--db", "e.db", "--all"], env, tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "e.db") as conn:
        assert conn.execute("select id, abstract from documents").fetchall() == [(hostile, "';--")]


# ---- XML ---------------------------------------------------------------------------------------

PASSWD_LINE = b"root:x:0:0"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_xml_attack_files_are_refused(name, tmp_path):
    attack = tmp_path / name
    attack.write_bytes(ATTACKS[name])
    started = time.monotonic()
    proc = evidex(["ingest", "--db", "e.db", str(attack)], base_env(tmp_path), tmp_path)
    assert time.monotonic() - started < 30  # nothing was expanded
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0] and "entit" in lines[0].lower(), proc.stderr
    assert PASSWD_LINE not in (proc.stdout + proc.stderr).encode()
    assert files_containing(tmp_path, PASSWD_LINE) == []
    # Nothing stored: the refused ingest leaves neither the new database nor its lock file.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("e.db")) == []


class AttackServer:
    "A tiny E-utilities stand-in whose efetch answers with an XML attack."

    def __init__(self, body: bytes):
        body_ = body

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                if self.path.endswith("esearch.fcgi"):
                    out = (b"<eSearchResult><Count>1</Count><RetMax>1</RetMax><RetStart>0</RetStart>"
                           b"<IdList><Id>1</Id></IdList></eSearchResult>")
                else:
                    assert form.get("id") == ["1"]
                    out = body_
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/eutils"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("name", ["billion-laughs.xml", "xxe-passwd.xml"])
def test_xml_attacks_from_the_network_are_refused(name, tmp_path):
    (tmp_path / "evidex.toml").write_text(CONFIG.format(extract="false", run_extra=""))
    with AttackServer(ATTACKS[name]) as url:
        started = time.monotonic()
        proc = evidex(["run", "--config", "evidex.toml", "--db", "e.db"],
                      base_env(tmp_path, EVIDEX_PUBMED_URL=url), tmp_path)
    assert time.monotonic() - started < 60
    assert proc.returncode == 4, proc.stderr  # a bad body is retried, then the source has failed
    assert "entit" in proc.stderr.lower()
    assert PASSWD_LINE not in (proc.stdout + proc.stderr).encode()
    assert files_containing(tmp_path, PASSWD_LINE) == []
    with sqlite3.connect(tmp_path / "e.db") as conn:
        assert conn.execute("select count(*) from documents").fetchone() == (0,)
        assert conn.execute("select count(*) from watermarks").fetchone() == (0,)


# ---- plugin directories --------------------------------------------------------------------------

EVIL_PLUGIN = """
import pathlib
pathlib.Path(__file__).with_name("LOADED").write_text("imported")
"""


def test_local_plugin_dirs_load_only_when_configured(recording_server, tmp_path):
    work = tmp_path / "work"
    (work / "plugins").mkdir(parents=True)
    (work / "plugins" / "sneaky.py").write_text(EVIL_PLUGIN)
    loaded = work / "plugins" / "LOADED"
    env = base_env(tmp_path, **recording_server.env())
    (work / "evidex.toml").write_text(CONFIG.format(extract="true", run_extra=""))
    # A plugins/ folder in the working directory is just a folder.
    for args in (["run", "--config", "evidex.toml", "--db", "e.db"], ["plugins", "--json"]):
        proc = evidex(args, env, work)
        assert proc.returncode == 0, proc.stderr
        assert not loaded.exists(), f"{args} imported an unconfigured plugins directory"
    assert "sneaky" not in proc.stdout
    # Configured, it loads.
    (work / "evidex.toml").write_text(CONFIG.format(extract="true", run_extra='plugins_dir = "plugins"'))
    proc = evidex(["run", "--config", "evidex.toml", "--db", "e.db"], env, work)
    assert proc.returncode == 0, proc.stderr
    assert loaded.exists()
