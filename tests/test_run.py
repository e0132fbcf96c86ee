"""`evidex run` against the local replay server: config, incremental fetches, logs, exit codes."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import rerun_args
from plugin_support import extractor_plugin

from evidex.cli import cli
from evidex.config import load_config
from evidex.errors import UsageError
from evidex.run import EXIT_ERRORS, EXIT_LOCKED, EXIT_NETWORK, EXIT_OK

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpora" / "seed"
import replay_server  # noqa: E402  (tests/ is on sys.path under pytest, as for the other network tests)
SCALE = 60


@pytest.fixture(scope="module")
def server():
    try:
        srv = replay_server.ReplayServer(scale=SCALE)
    except FileNotFoundError as ex:
        pytest.skip(str(ex))
    with srv:
        yield srv


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    "Point evidex at the replay server, fast retries, private rate-limit files."
    values = {**server.env(), "EVIDEX_RATE_DIR": str(tmp_path / "rate"), "EVIDEX_RATE_LIMIT": "1000",
              "EVIDEX_RETRIES": "1", "EVIDEX_BACKOFF": "0.01", "EVIDEX_EMAIL": "ci@example.org"}
    for key in ("EVIDEX_CONFIG", "EVIDEX_DB", "EVIDEX_PLUGINS_DIR", "NCBI_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield values
    # The server is the module's: a fault a failed test left queued (its child never reached efetch)
    # would otherwise hold a later test's request.
    server.faults.clear()


def write_config(path: Path, *, sources=("pubmed",), extract=False, seed=False, extra_run="", queries=None) -> Path:
    "A small run config; queries maps id -> {source: text}."
    queries = queries or {"Q00": {"pubmed": '{IFN} AND cancer[tiab]',
                                  "europepmc": 'TITLE_ABS:"type I interferon"'}}
    lines = ["[run]", f"extract = {str(extract).lower()}", f"link_seed = {str(seed).lower()}"]
    if seed:
        lines.append(f'seed = "{SEED}"')
    lines += [extra_run, ""]
    for name in sources:
        lines += [f"[sources.{name}]", "batch_size = 25", ""]
    lines += ["[blocks]", 'IFN = "(\\"type I interferon\\"[tiab] OR IFN-I[tiab])"', ""]
    for qid, texts in queries.items():
        lines += ["[[queries]]", f'id = "{qid}"']
        lines += [f"{s} = {json.dumps(t)}" for s, t in texts.items() if s in sources]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def config_with_plugin(tmp_path: Path, name: str, body: str, imports: str = "", extra_run: str = "") -> Path:
    "A config that extracts with one one-off plugin (see plugin_support.extractor_plugin) from tmp_path/plugins."
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / f"{name}.py").write_text(extractor_plugin(name, body, imports))
    return write_config(tmp_path / "evidex.toml", extract=True, extra_run=f'plugins_dir = "plugins"\n{extra_run}')


def run(*args: str):
    return CliRunner().invoke(cli, ["run", *args])


def run_serving(server, records: dict, config: Path, db_path: Path) -> dict:
    "A --log-json run while the server holds these records too (pmid -> (body, day)); its events by name."
    saved = dict(server.pubmed)
    try:
        server.pubmed.update(records)
        result = run("--config", str(config), "--db", str(db_path), "--log-json")
    finally:
        server.pubmed.clear()
        server.pubmed.update(saved)
    assert result.exit_code == EXIT_OK, result.output
    return {e["event"]: e for e in map(json.loads, result.output.splitlines())}


def rows(db_path: Path, sql: str, params=()):
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, params).fetchall()


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def test_default_config_is_valid_and_holds_the_seed_review_queries():
    cfg = load_config(ROOT / "corpora" / "evidex.toml")
    assert set(cfg.sources) == {"pubmed", "europepmc"}
    assert cfg.sources["pubmed"].api_key_env == "NCBI_API_KEY"
    assert cfg.sources["pubmed"].email_env == cfg.sources["europepmc"].email_env == "EVIDEX_EMAIL"
    ids = [q.id for q in cfg.queries]
    assert ids[:3] == ["Q00", "Q01", "Q02"] and "Q20" in ids and "Q21" in ids
    for q in cfg.queries:  # every theme for both services, blocks expanded
        assert set(q.texts) == {"pubmed", "europepmc"}, q.id
        assert "{" not in q.texts["pubmed"] and "{" not in q.texts["europepmc"], q.id
        assert "[tiab]" not in q.texts["europepmc"], q.id
    assert '"Interferon Type I"[mh]' in cfg.queries[0].texts["pubmed"]
    assert "SRC:MED" in cfg.queries[0].texts["europepmc"]
    assert cfg.plugins_dir is None  # local plugins only when configured
    text = (ROOT / "corpora" / "evidex.toml").read_text()
    assert "@" not in text.replace("{", "")  # no email in the file


def test_run_fetches_each_source_then_a_second_run_is_incremental(env, tmp_path):
    config = write_config(tmp_path / "evidex.toml", sources=("pubmed", "europepmc"))
    db_path = tmp_path / "e.db"
    result = run("--config", str(config), "--db", str(db_path))
    assert result.exit_code == EXIT_OK, result.output
    europepmc = rows(db_path, "select count(*) from documents where source = 'europepmc'")[0][0]
    assert rows(db_path, "select count(*) from documents where source = 'pubmed'")[0][0] == SCALE
    assert europepmc > 0
    marks = rows(db_path, "select source, last_complete from watermarks order by source")
    assert marks == [("europepmc", today()), ("pubmed", today())]
    assert f"{SCALE + europepmc} new documents" in result.output

    again = run("--config", str(config), "--db", str(db_path))
    assert again.exit_code == EXIT_OK, again.output
    assert "0 new documents, 0 new claims, 0 seed claims changed status" in again.output
    assert rows(db_path, "select count(*) from documents")[0][0] == SCALE + europepmc
    statuses = rows(db_path, "select command, status from runs order by id")
    assert statuses == [("run", "ok"), ("ingest", "ok"), ("ingest", "ok")] * 2


def test_extraction_and_seed_linking_with_a_summary(env, tmp_path):
    config = write_config(tmp_path / "evidex.toml", extract=True, seed=True)
    db_path = tmp_path / "e.db"
    result = run("--config", str(config), "--db", str(db_path), "--log-json")
    assert result.exit_code == EXIT_OK, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    summary = events[-1]
    assert summary["event"] == "run.summary" and summary["exit_code"] == 0
    claims = rows(db_path, "select count(*) from claims")[0][0]
    assert summary["documents_new"] == SCALE and summary["claims_new"] == claims > 0
    links = rows(db_path, "select count(*) from claim_links")[0][0]
    assert links == claims
    # The recorded records (asthma, proton pump inhibitors, fatty acid oxidation ...) are no
    # evidence on the review's claims: every claim is linked, as novel.
    assert rows(db_path, "select count(*) from claim_links where seed_id is not null") == [(0,)]
    assert summary["seed_claims_changed"] == []
    assert {"run.start", "fetch.done", "seed.linked", "run.summary"} <= {e["event"] for e in events}
    assert "seed.categories" not in {e["event"] for e in events}  # the built-ins extract every seed category
    # Nothing left for the catch-up extraction: every document was extracted as it was stored.
    assert rows(db_path, "select count(*) from documents where extracted_with is null") == [(0,)]


def test_a_new_seed_version_no_extractor_can_match_is_a_warning_event(env, tmp_path, monkeypatch, fresh):
    "As `seed load` warns: a run that loads a seed with claims of a category none of its extractors produce says so."
    monkeypatch.setenv("EVIDEX_LOAD_PLUGINS", "ifn,pathway,therapy")
    config = write_config(tmp_path / "evidex.toml", extract=True, seed=True)
    db_path = tmp_path / "e.db"
    events = [json.loads(line) for line in run("--config", str(config), "--db", str(db_path), "--log-json").output.splitlines()]
    [warning] = [e for e in events if e["event"] == "seed.categories"]
    assert warning["level"] == "warning" and "(age: " in warning["message"], warning
    assert "(extracted: ifn, pathway, therapy)" in warning["message"]
    assert events[-1]["event"] == "run.summary" and events[-1]["exit_code"] == EXIT_OK
    # The same seed again is no new version: said once, not on every scheduled run.
    events = [json.loads(line) for line in run("--config", str(config), "--db", str(db_path), "--log-json").output.splitlines()]
    assert not [e for e in events if e["event"] == "seed.categories"]


def test_a_scheduled_runs_diff_and_receipt_cover_its_fetches(env, tmp_path):
    "Each query's fetch is a run of its own; the scheduled run's id stands for all of them."
    from evidex.db import open_db
    from evidex.diff import diff_runs, receipt

    config = write_config(tmp_path / "evidex.toml", sources=("pubmed", "europepmc"), extract=True, seed=True)
    db_path = tmp_path / "e.db"
    docs = tmp_path / "one.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "Type I IFN boosts antitumour immunity in mice."}) + "\n")
    assert CliRunner().invoke(cli, ["ingest", str(docs), "--db", str(db_path)]).exit_code == 0
    result = run("--config", str(config), "--db", str(db_path))
    assert result.exit_code == EXIT_OK, result.output
    assert rows(db_path, "select id, command, parent_run from runs order by id") == [
        (1, "ingest", None), (2, "run", None), (3, "ingest", 2), (4, "ingest", 2)]
    db = open_db(db_path)
    fetched = {r[0] for r in db.execute("select id from claims where first_seen_run in (3, 4)")}
    assert fetched
    diff = diff_runs(db, 1, 2)
    assert {c["id"] for c in diff["added"]} == fetched and not diff["removed"]
    ticket = receipt(db, 2)
    assert ticket["claims_current"]["count"] == db["claims"].count
    assert ticket["runs"] == [3, 4] and {r["run_id"] for r in ticket["ledger"]} == {3, 4}
    assert {w["source"] for w in ticket["watermarks"]} == {"pubmed", "europepmc"}
    urls = sorted((k, v) for k, v in env.items() if k.endswith("_URL"))  # where the run's sources were
    assert ticket["rerun"] == ["env", *(f"{k}={v}" for k, v in urls),
                               "evidex", "run", "--config", str(config)]
    assert receipt(db, 1)["claims_current"]["count"] < ticket["claims_current"]["count"]
    with pytest.raises(UsageError, match="run 3 is one fetch of scheduled run 2"):
        diff_runs(db, 2, 3)
    with pytest.raises(UsageError, match="run 4 is one fetch of scheduled run 2"):
        diff_runs(db, 1, 4)
    child = receipt(db, 3)
    assert child["claims_current"] is None and child["parent_run"] == 2 and child["ledger"]
    # `evidex runs --limit 1`: the scheduled run, its fetches under it, nothing older.
    listing = [line for line in CliRunner().invoke(cli, ["runs", "--db", str(db_path), "--limit", "1"]).output
               .splitlines() if not line.startswith("       ")]
    assert [line.split()[0] for line in listing] == ["2", "4", "3"]
    assert listing[0].startswith("   2 ") and listing[1].startswith("     4 ")


def test_a_receipt_names_the_urls_the_fetches_used_not_the_ones_in_force_later(env, server, tmp_path, monkeypatch):
    "A config's base_url (or the environment's) is kept with each fetch; the receipt reads it back."
    from evidex.db import open_db
    from evidex.diff import receipt

    config = write_config(tmp_path / "evidex.toml", sources=("pubmed", "europepmc"))
    text = config.read_text().replace("[sources.pubmed]\n", f'[sources.pubmed]\nbase_url = "{server.pubmed_url}"\n')
    config.write_text(text.replace("[sources.europepmc]\n",
                                   f'[sources.europepmc]\nbase_url = "{server.europepmc_url}"\n'))
    for key in ("EVIDEX_PUBMED_URL", "EVIDEX_EUROPEPMC_URL"):
        monkeypatch.delenv(key)
    db_path = tmp_path / "e.db"
    result = run("--config", str(config), "--db", str(db_path))
    assert result.exit_code == EXIT_OK, result.output
    urls = {"pubmed": server.pubmed_url, "europepmc": server.europepmc_url}
    assert receipt(open_db(db_path), 1)["source_urls"] == urls
    assert receipt(open_db(db_path), 2)["source_urls"] == {"pubmed": server.pubmed_url}
    # The fetch's own rerun (`ingest --source`) reads no config: it sets the variable to the URL the fetch asked.
    rerun = receipt(open_db(db_path), 2)["rerun"]
    assert rerun[:rerun.index("evidex")] == ["env", f"EVIDEX_PUBMED_URL={server.pubmed_url}"]
    assert receipt(open_db(db_path), 1)["rerun"][0] == "evidex"  # the scheduled run's reads it again
    # A later day's environment points elsewhere: what the run fetched from stays as it was.
    monkeypatch.setenv("EVIDEX_PUBMED_URL", "http://127.0.0.1:9/eutils")
    assert receipt(open_db(db_path), 1)["source_urls"] == urls


def test_summary_names_the_seed_claims_a_run_gave_evidence(env, tmp_path):
    "A seed whose claim the recorded records do bear on: 'targeting STAT3 enhances apoptosis' (a fatty acid oxidation paper)."
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "review.json").write_text((SEED / "review.json").read_text())
    claim = {"id": "T-01", "kind": "review", "category": "pathway", "categories": ["pathway"], "subject": "STAT3",
             "predicate": "targeting enhances", "object": "apoptosis", "direction": "up", "context_dependent": False,
             "hedged": False, "entities": ["STAT3"], "context": {}, "text": "Targeting STAT3 enhances cancer cell apoptosis."}
    (seed / "claims.jsonl").write_text(json.dumps(claim) + "\n")
    config = write_config(tmp_path / "evidex.toml", extract=True, seed=True)
    config.write_text(config.read_text().replace(f'seed = "{SEED}"', f'seed = "{seed}"'))
    db_path = tmp_path / "e.db"
    result = run("--config", str(config), "--db", str(db_path), "--log-json")
    assert result.exit_code == EXIT_OK, result.output
    summary = json.loads(result.output.splitlines()[-1])
    linked = rows(db_path, "select count(*) from claim_links where seed_id = 'T-01'")[0][0]
    assert linked > 0
    assert [(c["seed_id"], c["before"]) for c in summary["seed_claims_changed"]] == [("T-01", "no evidence")]


def test_catch_up_extracts_documents_stored_without_extraction(env, tmp_path):
    db_path = tmp_path / "e.db"
    assert run("--config", str(write_config(tmp_path / "a.toml")), "--db", str(db_path)).exit_code == 0
    assert rows(db_path, "select count(*) from claims") == [(0,)]
    result = run("--config", str(write_config(tmp_path / "b.toml", extract=True)), "--db", str(db_path))
    assert result.exit_code == 0, result.output
    assert "extracted 60 stored documents" in result.output
    assert rows(db_path, "select count(*) from claims")[0][0] > 0


def test_quiet_prints_nothing_on_success(env, tmp_path):
    result = run("--config", str(write_config(tmp_path / "c.toml")), "--db", str(tmp_path / "e.db"), "--quiet")
    assert result.exit_code == 0 and result.output == ""


def test_db_and_config_from_environment_and_config_relative_paths(env, tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    folder.mkdir()
    config = write_config(folder / "evidex.toml", extra_run='db = "data.db"')
    monkeypatch.setenv("EVIDEX_CONFIG", str(config))
    assert run().exit_code == 0
    assert (folder / "data.db").exists()  # relative to the config file, not the cwd
    monkeypatch.setenv("EVIDEX_DB", str(tmp_path / "other.db"))
    assert run().exit_code == 0
    assert (tmp_path / "other.db").exists()


def test_network_failure_exits_4_and_the_next_run_recovers(env, tmp_path, monkeypatch):
    config = write_config(tmp_path / "evidex.toml", queries={
        "Q1": {"pubmed": "a[tiab]"}, "Q2": {"pubmed": "b[tiab]"}})
    db_path = tmp_path / "e.db"
    monkeypatch.setenv("EVIDEX_PUBMED_URL", "http://127.0.0.1:9/eutils")  # nothing listens there
    result = run("--config", str(config), "--db", str(db_path))
    assert result.exit_code == EXIT_NETWORK, result.output
    assert "skipping its 1 remaining queries" in result.output
    assert rows(db_path, "select count(*) from watermarks") == [(0,)]
    assert rows(db_path, "select status from runs where command = 'run'") == [("failed",)]
    monkeypatch.setenv("EVIDEX_PUBMED_URL", env["EVIDEX_PUBMED_URL"])
    assert run("--config", str(config), "--db", str(db_path)).exit_code == EXIT_OK
    assert rows(db_path, "select count(*) from watermarks") == [(2,)]


def test_a_network_failure_outranks_recorded_errors_as_the_exit_code_table_says(env, server, tmp_path):
    "Exit 4 with a refused query too: the summary still counts the error, and the README says 4 hides 1."
    config = write_config(tmp_path / "evidex.toml", sources=("pubmed", "europepmc"), queries={
        "BAD": {"pubmed": "fleegle[tiab]", "europepmc": "TITLE_ABS:cancer"}})
    server.inject("europepmc", "500", times=10)
    try:
        result = run("--config", str(config), "--db", str(tmp_path / "e.db"), "--log-json")
    finally:
        server.faults.clear()
    assert result.exit_code == EXIT_NETWORK, result.output
    [summary] = [e for e in map(json.loads, result.output.splitlines()) if e["event"] == "run.summary"]
    assert (summary["errors"], summary["network_failures"]) == (1, 1)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^\| 4 \| [^|]*outranks 1", readme, flags=re.M)


def test_a_query_that_cannot_balance_does_not_hold_up_the_sources_other_queries(env, server, tmp_path):
    "One record efetch never returns fails its own query (exit 4, watermark kept); the next query still runs."
    config = write_config(tmp_path / "evidex.toml", queries={
        "Q1": {"pubmed": "a[tiab]"}, "Q2": {"pubmed": "b[tiab]"}})
    db_path = tmp_path / "e.db"
    server.inject("efetch", "missing", times=10_000)
    try:
        result = run("--config", str(config), "--db", str(db_path))
    finally:
        server.faults.clear()
    assert result.exit_code == EXIT_NETWORK, result.output
    assert "skipping" not in result.output and result.output.count("could not be fetched") >= 2
    assert rows(db_path, "select count(distinct query) from ledger") == [(2,)]  # both queries fetched
    assert rows(db_path, "select count(*) from watermarks") == [(0,)]
    # The run's totals count what the failed fetches stored.
    stored = rows(db_path, "select count(*) from documents")[0][0]
    assert stored > 0 and rows(db_path, "select documents_new from runs where command = 'run'") == [(stored,)]
    assert f"{stored} new documents" in result.output
    assert run("--config", str(config), "--db", str(db_path)).exit_code == EXIT_OK  # the next run catches up
    assert rows(db_path, "select count(*) from watermarks") == [(2,)]


def test_query_the_service_refuses_is_a_recorded_error_exit_1(env, tmp_path):
    config = write_config(tmp_path / "evidex.toml", queries={
        "BAD": {"pubmed": "fleegle[tiab]"}, "OK": {"pubmed": "cancer[tiab]"}})
    db_path = tmp_path / "e.db"
    result = run("--config", str(config), "--db", str(db_path))
    assert result.exit_code == EXIT_ERRORS, result.output
    assert "BAD pubmed" in result.output
    assert rows(db_path, "select count(*) from documents") == [(SCALE,)]  # OK still ran
    assert rows(db_path, "select status from runs where command = 'run'") == [("errors",)]


def test_a_failing_extractor_is_recorded_and_exits_1(env, tmp_path):
    from evidex.plugins import reset

    config = config_with_plugin(tmp_path, "broken", '        raise RuntimeError("boom")')
    try:
        result = run("--config", str(config), "--db", str(tmp_path / "e.db"), "--log-json")
        # Nothing new to fetch: the documents the plugin failed on are what the next run extracts.
        again = run("--config", str(config), "--db", str(tmp_path / "e.db"), "--log-json")
    finally:
        reset()
    assert result.exit_code == again.exit_code == EXIT_ERRORS, result.output
    # Each document failed once in the run that fetched it: the same run did not extract it again.
    assert rows(tmp_path / "e.db", "select count(*), count(distinct doc_id) from run_errors where plugin = 'broken' "
                "and run_id in (select id from runs where 1 in (id, parent_run))") == [(SCALE, SCALE)]
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [e["errors"] for e in events if e["event"] == "run.summary"] == [SCALE]
    assert not [e for e in events if e["event"] == "extract.done"]
    retried = [json.loads(line) for line in again.output.splitlines()]
    assert [(e["documents"], e["errors"]) for e in retried if e["event"] == "extract.done"] == [(SCALE, SCALE)]


def test_a_paper_a_plugin_failed_on_is_not_extracted_again_by_the_runs_next_query(env, tmp_path):
    "Overlapping queries return the same papers: one failure each per run, and each fetch's log line says so."
    from evidex.plugins import reset

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(extractor_plugin("broken", '        raise RuntimeError("boom")'))
    config = write_config(tmp_path / "evidex.toml", extract=True, extra_run='plugins_dir = "plugins"',
                          queries={"Q00": {"pubmed": "{IFN} AND cancer[tiab]"}, "Q01": {"pubmed": "{IFN}"}})
    try:
        result = run("--config", str(config), "--db", str(tmp_path / "e.db"), "--log-json")
    finally:
        reset()
    assert result.exit_code == EXIT_ERRORS, result.output
    assert rows(tmp_path / "e.db", "select count(*), count(distinct doc_id) from run_errors "
                "where plugin = 'broken'") == [(SCALE, SCALE)]
    events = [json.loads(line) for line in result.output.splitlines()]
    done = [e for e in events if e["event"] == "fetch.done"]
    assert [(e["query"], e["stored"], e["plugin_failures"], e["level"]) for e in done] == [
        ("Q00", SCALE, SCALE, "warning"), ("Q01", SCALE, 0, "info")]
    assert f"{SCALE} plugin failures (first: broken on " in done[0]["message"]
    assert [e["errors"] for e in events if e["event"] == "run.summary"] == [SCALE]


def test_every_log_json_line_of_a_run_names_it_and_another_programs_write_lock_is_one_json_line(
        env, server, tmp_path):
    "A log shipper groups a run's lines by run_id (HTTP retries too); a locked database is a run.error line."
    config = write_config(tmp_path / "evidex.toml")
    db_path = tmp_path / "e.db"
    server.inject("esearch", "500")  # one retry: its log line comes from the HTTP layer
    result = run("--config", str(config), "--db", str(db_path), "--log-json")
    assert result.exit_code == EXIT_OK, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert "evidex.http" in {e["event"] for e in events}
    assert {e.get("run_id") for e in events} == {1}, [e for e in events if e.get("run_id") != 1]

    other = sqlite3.connect(db_path, isolation_level=None, timeout=1)
    other.execute("begin exclusive")
    try:
        locked = run("--config", str(config), "--db", str(db_path), "--log-json")
    finally:
        other.execute("rollback")
        other.close()
    assert locked.exit_code == EXIT_LOCKED
    [line] = [json.loads(line) for line in locked.output.splitlines()]  # JSON, as every --log-json line
    assert line["event"] == "run.error" and line["exit_code"] == EXIT_LOCKED, line
    assert line["message"].startswith("the database is locked by another program"), line


def test_a_second_concurrent_run_exits_3_at_once(env, tmp_path):
    config = write_config(tmp_path / "evidex.toml")
    db_path = tmp_path / "e.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom evidex.lock import RunLock\n"
         "RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(600)", str(db_path)],
        stdout=subprocess.PIPE, text=True)  # holds the lock until killed below: a run that waited would time out
    try:
        assert holder.stdout.readline().strip() == "locked"
        # Interpreter start-up and imports, timed just before at the same load: the bound below is on
        # what the locked run adds to them, so a loaded machine's slow start-up does not fail it.
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "evidex", "run", "--help"], capture_output=True, env=os.environ.copy(),
                       timeout=60, check=True)
        startup = time.monotonic() - start
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "evidex", "run", "--config", str(config), "--db", str(db_path)],
                              capture_output=True, text=True, env=os.environ.copy(), timeout=60)
        elapsed = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == EXIT_LOCKED, proc.stderr
    assert f"another evidex run (pid {holder.pid}) holds the lock" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not db_path.exists()  # it did nothing at all
    assert elapsed < startup + 10  # no waiting on the lock


def start_held_in_efetch(server, command: list[str]) -> subprocess.Popen:
    "Start an evidex command and return once its first efetch is held by the server (a request it answers late)."
    # Counted from the fault itself, read before the start: on a loaded machine the child may reach
    # efetch before this process runs again, and a count read after Popen would then wait for the
    # retry, by which time the run can have finished.
    held = server.stats["fault:timeout"]
    server.inject("efetch", "timeout", times=1, delay=20)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 60
    while server.stats["fault:timeout"] == held and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert server.stats["fault:timeout"] > held, "the command never reached efetch"
    return proc


def test_sigterm_closes_the_run_as_interrupted(env, server, tmp_path):
    config = write_config(tmp_path / "evidex.toml")
    db_path = tmp_path / "e.db"
    proc = start_held_in_efetch(server, [sys.executable, "-m", "evidex", "run", "--config", str(config), "--db",
                                         str(db_path)])
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert rows(db_path, "select status from runs where command = 'run'") == [("interrupted",)]
    assert rows(db_path, "select count(*) from watermarks") == [(0,)]
    server.faults.clear()
    # The listing says it once, with the signal; a message that only repeats the status adds nothing.
    listing = CliRunner().invoke(cli, ["runs", "--db", str(db_path)]).output
    assert "error run: interrupted (SIGINT or SIGTERM)" in listing and "interrupted: interrupted" not in listing


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_an_ingest_from_a_source_as_interrupted(env, server, tmp_path, sig):
    "ingest --source, like run: exit 130, its run and ledger rows 'interrupted', never left 'running'."
    db_path = tmp_path / "e.db"
    proc = start_held_in_efetch(server, [sys.executable, "-m", "evidex", "ingest", "--db", str(db_path), "--source",
                                         "pubmed", "--query", "cancer[tiab]", "--no-extract"])
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    server.faults.clear()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("Error: interrupted (SIGINT or SIGTERM)")
    assert rows(db_path, "select status from runs") == [("interrupted",)]
    assert rows(db_path, "select distinct status from ledger") == [("interrupted",)]
    assert rows(db_path, "select count(*) from watermarks") == [(0,)]


def test_workers_from_the_config_or_the_command_line_store_the_same_claims(env, tmp_path):
    "Extraction in two worker processes, from [run] workers or --workers: the claims of a one-process run."
    serial, parallel, flagged = tmp_path / "serial.db", tmp_path / "parallel.db", tmp_path / "flagged.db"
    config = write_config(tmp_path / "serial.toml", extract=True, seed=True)
    assert run("--config", str(config), "--db", str(serial)).exit_code == EXIT_OK
    config = write_config(tmp_path / "parallel.toml", extract=True, seed=True, extra_run="workers = 2")
    result = run("--config", str(config), "--db", str(parallel))
    assert result.exit_code == EXIT_OK, result.output
    config = write_config(tmp_path / "flagged.toml", extract=True, seed=True)
    assert run("--config", str(config), "--db", str(flagged), "--workers", "2").exit_code == EXIT_OK
    sql = "select id, doc_id, category, sentence, direction, negated, hedged, entities from claims order by id"
    assert rows(parallel, sql) == rows(serial, sql) == rows(flagged, sql)
    assert len(rows(serial, sql)) > 0


@pytest.mark.parametrize("line, problem", [
    ("workers = 0", "'run.workers' must be at least 1, not 0"),
    ('workers = "2"', "'run.workers' must be an integer, not a string"),
])
def test_a_bad_worker_count_in_the_config_is_exit_2(env, tmp_path, line, problem):
    config = write_config(tmp_path / "evidex.toml", extract=True, extra_run=line)
    result = run("--config", str(config), "--db", str(tmp_path / "e.db"))
    assert result.exit_code == 2 and problem in result.output
    assert not (tmp_path / "e.db").exists()


def test_a_worker_that_dies_fails_the_run_with_one_line(env, tmp_path):
    "A worker killed mid-run (here by its plugin) ends the run as failed, saying why; nothing hangs."
    from evidex.plugins import reset

    config = config_with_plugin(tmp_path, "dies", "        os._exit(9)", "import os", "workers = 2")
    try:
        result = run("--config", str(config), "--db", str(tmp_path / "e.db"), "--log-json")
    finally:
        reset()
    assert result.exit_code == 1, result.output
    last = json.loads(result.output.splitlines()[-1])
    assert last["event"] == "run.error" and last["message"].startswith("an extraction worker process died")
    runs = rows(tmp_path / "e.db", "select command, status, message from runs order by id")
    assert runs[0][:2] == ("run", "failed") and "worker process died" in runs[0][2]
    assert all(status != "running" for _, status, _ in runs)
    assert rows(tmp_path / "e.db", "select count(*) from claims") == [(0,)]


@pytest.mark.parametrize("whole_group", [False, True], ids=["run-only", "process-group"])
def test_sigterm_during_extraction_in_workers_closes_the_run_as_interrupted(env, tmp_path, whole_group):
    "A scheduler stopping the run (SIGTERM to the run, or to its whole group as systemd does): exit 130, no leftovers."
    # The plugin marks the first document a worker starts on: the signal then lands with a batch in
    # the workers (a fixed sleep after the fetch began could, on a loaded machine, signal before).
    started = tmp_path / "extracting"
    config = config_with_plugin(tmp_path, "slow", f"        open({str(started)!r}, 'a').close()\n"
                                "        time.sleep(0.4)", "import time", "workers = 2")
    db_path = tmp_path / "e.db"
    proc = subprocess.Popen([sys.executable, "-m", "evidex", "run", "--config", str(config), "--db", str(db_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    assert started.exists(), "no worker started extracting"
    if whole_group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.terminate()
    stopped = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    # Not held up by the batch in hand: it would take its worker 50 documents x 0.4 s x 2 fields.
    assert time.monotonic() - stopped < 15
    assert rows(db_path, "select status from runs where command = 'run'") == [("interrupted",)]
    assert "Traceback" not in err
    # Neither worker outlives the run (their session is the run's own).
    assert subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True).stdout == b""


WORD_PLUGIN = '''
from pathlib import Path

from evidex import Claim, Extractor, hookimpl

WORD = Path(__file__).with_name("word.txt")


class Plugin(Extractor):
    "One claim per title, its subject the word in word.txt (a data file: editing it re-extracts)."

    name = "wordy"
    version = "0.0"
    data_files = (WORD,)

    def extract(self, document, field, doc):
        if field == "title" and doc.text:
            yield Claim(category="word", sentence=doc.text, field=field, start=0, end=len(doc.text),
                        subject=WORD.read_text().strip())


@hookimpl
def register_extractors(register):
    register(Plugin())
'''


def test_claims_a_run_brings_back_are_counted_as_restored_not_as_nothing(env, tmp_path):
    "A data file edited and then undone: the runs that bring the first claims back say how many."
    from evidex.plugins import reset

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "wordy.py").write_text(WORD_PLUGIN)
    word = plugins / "word.txt"
    word.write_text("alpha\n")
    config = write_config(tmp_path / "evidex.toml", extract=True, extra_run='plugins_dir = "plugins"')
    db_path = tmp_path / "e.db"
    try:
        assert run("--config", str(config), "--db", str(db_path)).exit_code == EXIT_OK
        # The built-in plugins run too; their claims do not change.
        first = rows(db_path, "select count(*) from claims where plugin = 'wordy'")[0][0]
        assert first == SCALE
        word.write_text("beta\n")  # every wordy claim changes: the catch-up supersedes all of them
        assert run("--config", str(config), "--db", str(db_path)).exit_code == EXIT_OK
        word.write_text("alpha\n")  # and back: run 5 makes the first claims current again
        result = run("--config", str(config), "--db", str(db_path), "--log-json")
        assert result.exit_code == EXIT_OK, result.output
        events = [json.loads(line) for line in result.output.splitlines()]
        summary = events[-1]
        assert summary["claims_new"] == 0 and summary["claims_restored"] == first
        assert f"0 new claims, {first} restored, 0 seed claims changed status" in summary["message"]
        done = [e for e in events if e["event"] == "extract.done"]
        assert done and done[0]["claims_restored"] == first and f"0 new claims, {first} restored" in done[0]["message"]
        assert summary["run_id"] == 5 and rows(db_path, "select message from runs where id = 5") == [
            (f"0 new documents, 0 new claims, {first} restored, 0 seed claims changed status",)]

        # The listing and the receipt count them from claim_gaps.
        listing = CliRunner().invoke(cli, ["runs", "--db", str(db_path), "--limit", "1"]).output
        assert listing.splitlines()[0].startswith("   5 ") and f"claims +0 ({first} restored) " in listing
        as_json = json.loads(CliRunner().invoke(cli, ["runs", "--db", str(db_path), "--json"]).output)
        assert [(r["id"], r["claims_restored"]) for r in as_json if r["command"] == "run"] == [
            (5, first), (3, 0), (1, 0)]
        ticket = json.loads(CliRunner().invoke(cli, ["runs", "--db", str(db_path), "--receipt", "5"]).output)
        assert ticket["counts"]["claims_restored"] == first and ticket["counts"]["claims_new"] == 0

        # extract, and a fetch that re-extracts what it stores, say so too.
        word.write_text("beta\n")
        extract = CliRunner().invoke(cli, ["extract", "--db", str(db_path), "--plugins-dir", str(plugins)])
        assert extract.exit_code == 0, extract.output
        assert f"0 new claims, {first} restored, {first} superseded, 0 errors" in extract.output
        word.write_text("alpha\n")
        fetch = CliRunner().invoke(cli, ["ingest", "--db", str(db_path), "--plugins-dir", str(plugins), "--source",
                                         "pubmed", "--query", '"type I interferon"[tiab] AND cancer[tiab]', "--all"])
        assert fetch.exit_code == 0, fetch.output
        assert f"0 new documents, 0 new claims, {first} restored" in fetch.output
    finally:
        reset()


def test_a_delete_citation_in_a_scheduled_fetch_withdraws_and_is_in_the_runs_books(env, server, tmp_path):
    """`evidex run` applies efetch's DeleteCitations, and its row and summary count them with its fetches'.

    The recorded answers hold no DeleteCitation: two are added to the server's efetch answers here,
    one for a stored paper and one for a PMID never stored.
    """
    config = write_config(tmp_path / "evidex.toml")
    db_path = tmp_path / "e.db"
    assert run("--config", str(config), "--db", str(db_path)).exit_code == EXIT_OK
    stored = sorted(server.pubmed)[5]
    day = server.pubmed[stored][1]
    # Another query text has no watermark yet: the run asks for everything again.
    other = write_config(tmp_path / "other.toml", queries={"Q01": {"pubmed": "cancer[tiab]"}})
    events = run_serving(server, {
        stored: (f'<DeleteCitation><PMID Version="1">{stored}</PMID></DeleteCitation>'.encode(), day),
        "99999999": (b'<DeleteCitation><PMID Version="1">99999999</PMID></DeleteCitation>', day)}, other, db_path)
    assert events["run.summary"]["message"].startswith(
        "run 3: 0 new documents, 0 new claims, 0 seed claims changed status; 1 withdrawn; "
        "withdrawals skipped: 1 of no stored paper"), events["run.summary"]
    # The fetch's own event says what its withdrawals did, in its line and its fields, as run.summary does.
    done = events["fetch.done"]
    assert "0 new documents, 0 new claims; 1 withdrawn; withdrawals skipped: 1 of no stored paper" in done["message"]
    assert done["documents_withdrawn"] == 1 and done["withdrawals_skipped"] == {
        "not_stored": 1, "other_version": 0, "already_withdrawn": 0}
    # Runs 1 and 2: the first run and its fetch; 3 and 4: the second and the fetch that withdrew.
    assert rows(db_path, "select id, deleted_run from documents where deleted = 1") == [(stored, 4)]
    assert rows(db_path, "select id, command, documents_withdrawn, withdrawals_not_stored from runs where id > 2 "
                         "order by id") == [(3, "run", 1, 1), (4, "ingest", 1, 1)]
    assert done["withdrawn_on_arrival"] == events["run.summary"]["withdrawn_on_arrival"] == 0

    # PMID 99999999's paper arrives in a later run (a recorded article under that PMID): its withdrawal,
    # read first, withdraws it on arrival, and the scheduled run's books say so with its fetch's.
    body, day = server.pubmed[sorted(server.pubmed)[0]]
    own = re.search(rb"<PMID[^>]*>\d+</PMID>", body).group(0)
    later = write_config(tmp_path / "later.toml", queries={"Q02": {"pubmed": "cancer[ti]"}})
    events = run_serving(server, {"99999999": (body.replace(own, b'<PMID Version="1">99999999</PMID>', 1), day)},
                         later, db_path)
    assert events["run.summary"]["message"].startswith(
        "run 5: 1 new documents, 0 new claims, 0 seed claims changed status; 1 withdrawn (1 on arrival)"), events
    assert events["fetch.done"]["withdrawn_on_arrival"] == events["run.summary"]["withdrawn_on_arrival"] == 1
    assert rows(db_path, "select deleted, deleted_run from documents where id = '99999999'") == [(1, 6)]
    listing = CliRunner().invoke(cli, ["runs", "--db", str(db_path)]).output
    assert re.search(r"^ +5 .* withdrawn 1 \(1 on arrival\) errors 0", listing, re.MULTILINE), listing


@pytest.mark.parametrize("args, env", [(["--workers", "0", "--log-json"], {}), (["--log-json"], {"EVIDEX_WORKERS": "two"})])
def test_a_bad_worker_count_under_log_json_is_a_json_line(tmp_path, args, env):
    "A scheduler reading --log-json output (journalctl | jq) must not meet a plain-text usage error."
    db_path = tmp_path / "e.db"
    result = subprocess.run([sys.executable, "-m", "evidex", "run", "--config", str(ROOT / "corpora" / "evidex.toml"),
                             "--db", str(db_path), *args], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **env})
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    record = json.loads(line)
    assert record["event"] == "run.error" and record["exit_code"] == 2 and "--workers" in record["message"]
    assert not db_path.exists()


@pytest.mark.parametrize("before, after", [
    ([], ["--log-json", "--since", "2024-01-01"]),  # an ingest option given to run
    ([], ["--bogus", "--log-json"]),  # misspelt, before --log-json is read
    ([], ["--log-json", "extra"]),
    ([], ["--log-json", "--workers"]),  # an option missing its value: click's error has no context
    ([], ["--log-json=yes"]),
    (["--bogus"], ["--log-json"]),  # the group's parsing fails before `run` is reached
    ([], ["--db", "--log-json"]),  # an option's value that is one of run's options: --log-json was meant
])
def test_every_usage_error_of_run_under_log_json_is_a_json_line(tmp_path, before, after):
    "Whatever the usage error, a scheduler reading --log-json output meets one JSON run.error line, exit 2."
    db_path = tmp_path / "e.db"
    result = subprocess.run([sys.executable, "-m", "evidex", *before, "run", "--config", str(ROOT / "corpora" / "evidex.toml"),
                             "--db", str(db_path), *after], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    record = json.loads(line)
    assert record["event"] == "run.error" and record["exit_code"] == 2 and record["error"] == "UsageError"
    assert not db_path.exists() and result.stdout == ""


def test_usage_errors_without_log_json_stay_plain_text(tmp_path):
    "Only run --log-json asks for JSON: another command's --log-json, or run without it, is the one plain line."
    for args in (["run", "--bogus"], ["runs", "--log-json"], ["--bogus", "runs", "--log-json"]):
        result = subprocess.run([sys.executable, "-m", "evidex", *args], capture_output=True, text=True, timeout=120,
                                cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith("Error: No such option"), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_scheduled_runs_replayed_from_their_receipts_on_a_later_day_give_the_same_digests(env, server, tmp_path,
                                                                                        monkeypatch):
    "A scheduled run's rerun pins the day its windows ended: records entered since are not fetched."
    from evidex import fetch
    from evidex.db import open_db
    from evidex.diff import receipt

    day = {"today": datetime.date(2024, 3, 1)}
    monkeypatch.setattr(fetch, "latest_today", lambda: day["today"])  # every caller looks it up in evidex.fetch
    config = write_config(tmp_path / "evidex.toml", extract=True, extra_run='since = "2015-01-01"')
    first, replay = tmp_path / "first.db", tmp_path / "replay.db"
    assert run("--config", str(config), "--db", str(first)).exit_code == EXIT_OK
    # Papers the first run extracted claims from, under new PMIDs and later entry dates.
    with_claims = [r[0] for r in rows(first, "select distinct doc_id from claims order by doc_id limit 2")]
    assert len(with_claims) == 2

    def entered(pmid: str, source: str, on: datetime.date) -> tuple[bytes, datetime.date]:
        body = server.pubmed[source][0]
        own = re.search(rb"<PMID[^>]*>\d+</PMID>", body).group(0)
        return body.replace(own, f'<PMID Version="1">{pmid}</PMID>'.encode(), 1), on

    saved = dict(server.pubmed)
    try:
        server.pubmed["99999901"] = entered("99999901", with_claims[0], datetime.date(2024, 3, 10))
        day["today"] = datetime.date(2024, 3, 20)
        assert run("--config", str(config), "--db", str(first)).exit_code == EXIT_OK
        # Entered after the second run, then replayed on a later day: neither rerun may fetch it.
        server.pubmed["99999902"] = entered("99999902", with_claims[1], datetime.date(2024, 4, 5))
        day["today"] = datetime.date(2024, 5, 1)
        scheduled = [r[0] for r in rows(first, "select id from runs where parent_run is null order by id")]
        receipts = [receipt(open_db(first), n) for n in scheduled]
        assert [r["rerun"][-2:] for r in receipts] == [["--until", "2024-03-01"], ["--until", "2024-03-20"]]
        for ticket in receipts:
            assert rerun_args(ticket["rerun"])[0] == "run"
            result = CliRunner().invoke(cli, [*rerun_args(ticket["rerun"]), "--db", str(replay)])
            assert result.exit_code == EXIT_OK, result.output
    finally:
        server.pubmed.clear()
        server.pubmed.update(saved)
    assert rows(replay, "select id from runs where parent_run is null order by id") == [(n,) for n in scheduled]
    digests = [receipt(open_db(replay), n)["claims_current"] for n in scheduled]
    assert digests == [r["claims_current"] for r in receipts]
    assert digests[0]["count"] < digests[1]["count"]  # the second run's paper added claims
    assert rows(replay, "select count(*) from documents where id = '99999902'") == [(0,)]


def test_until_ends_every_querys_window_and_is_recorded(env, tmp_path):
    config = write_config(tmp_path / "evidex.toml", extra_run='since = "2015-01-01"',
                          queries={"Q00": {"pubmed": "{IFN} AND cancer[tiab]"}, "Q01": {"pubmed": "cancer[tiab]"}})
    db_path = tmp_path / "e.db"
    result = run("--config", str(config), "--db", str(db_path), "--until", "2015-01-02")
    assert result.exit_code == EXIT_OK, result.output
    assert rows(db_path, "select id, window_start, window_end from runs where parent_run = 1 order by id") == [
        (2, "2015-01-01", "2015-01-02"), (3, "2015-01-01", "2015-01-02")]
    assert rows(db_path, "select distinct last_complete from watermarks") == [("2015-01-02",)]
    options = json.loads(rows(db_path, "select options from runs where id = 1")[0][0])
    assert options["until"] == "2015-01-02"
    assert options["config_sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()
    # Entered on 2015-01-01 and 2015-01-02 (25 a day): not the third day's.
    assert rows(db_path, "select count(*) from documents") == [(50,)]
    # A fetch's own receipt reruns it as the run asked: its batch size (the cache's keys), no extraction.
    from evidex.db import open_db
    from evidex.diff import receipt

    [(text,)] = rows(db_path, "select query from runs where id = 2")
    assert rerun_args(receipt(open_db(db_path), 2)["rerun"]) == [
        "ingest", "--no-extract", "--source", "pubmed", "--query", text, "--since", "2015-01-01",
        "--until", "2015-01-02", "--batch-size", "25"]
    # A window that would start after it ends: refused before any run row.
    again = run("--config", str(config), "--db", str(db_path), "--until", "2014-12-31")
    assert again.exit_code == 2 and "--until 2014-12-31 is before query Q00 (pubmed)'s window start 2015-01-01" \
        in again.output, again.output
    assert rows(db_path, "select count(*) from runs") == [(3,)]


@pytest.mark.parametrize("until, since, message", [
    ("2999-01-01", 'since = "2015-01-01"', "--until 2999-01-01 is in the future"),
    ("01/02/2015", 'since = "2015-01-01"', "Invalid value for '--until'"),
    ("2015-01-02", "", "--until needs a start: query Q00 (pubmed) has no watermark yet"),
])
def test_a_bad_until_is_exit_2_as_one_json_line_and_no_database(env, tmp_path, until, since, message):
    config = write_config(tmp_path / "evidex.toml", extra_run=since)
    db_path = tmp_path / "e.db"
    result = subprocess.run([sys.executable, "-m", "evidex", "run", "--config", str(config), "--db", str(db_path),
                             "--until", until, "--log-json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    record = json.loads(line)
    assert record["event"] == "run.error" and message in record["message"], record
    assert not db_path.exists()


def test_a_scheduled_runs_rerun_names_the_plugins_dir_it_loaded_from_the_environment(env, tmp_path, monkeypatch):
    "EVIDEX_PLUGINS_DIR is not in the config the rerun reads: the receipt's rerun passes --plugins-dir."
    from evidex.db import open_db
    from evidex.diff import receipt
    from evidex.plugins import reset

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "quiet.py").write_text(extractor_plugin("quiet", "        pass"))
    config = write_config(tmp_path / "evidex.toml", extract=True, extra_run='since = "2015-01-01"')
    monkeypatch.setenv("EVIDEX_LOAD_PLUGINS", "quiet")
    monkeypatch.setenv("EVIDEX_PLUGINS_DIR", str(plugins))
    reset()  # plugins loaded by earlier tests in this process
    try:
        assert run("--config", str(config), "--db", str(tmp_path / "a.db")).exit_code == EXIT_OK
        ticket = receipt(open_db(tmp_path / "a.db"), 1)
        assert set(ticket["plugins"]) == {"quiet"}
        assert ticket["rerun"][-2:] == ["--plugins-dir", str(plugins)]
        assert "EVIDEX_LOAD_PLUGINS=quiet" in ticket["rerun"][:ticket["rerun"].index("evidex")]
        reset()
        monkeypatch.delenv("EVIDEX_PLUGINS_DIR")
        result = CliRunner().invoke(cli, [*rerun_args(ticket["rerun"]), "--db", str(tmp_path / "b.db")])
        assert result.exit_code == EXIT_OK, result.output
    finally:
        reset()
    again = receipt(open_db(tmp_path / "b.db"), 1)
    assert again["plugins"] == ticket["plugins"] and again["rerun"] == ticket["rerun"]
