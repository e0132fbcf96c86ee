"""`evidex serve`: a real Datasette server on 127.0.0.1 over a database built from real abstracts."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess

import httpx
import pytest
from querying_support import EVIDEX, ROOT, evidence_db, has_seed_tables, running_server, sql_rows

from evidex.errors import PluginError
from evidex.hookspecs import hookimpl
from evidex.plugins import pm
from evidex.serve import QUERIES, SEED_QUERIES, build_metadata

# httpx's default timeout is 5 s; Datasette on a loaded machine can take longer over a page, so the
# client's timeout only bounds a hang (a call may still give its own).
get = functools.partial(httpx.get, timeout=60)
post = functools.partial(httpx.post, timeout=60)

# Named parameters for every canned query, and whether the test data must give rows.
PARAMS: dict[str, tuple[dict, bool]] = {
    "claims_for_entity": ({"entity": "STING1"}, True),
    "therapy_evidence": ({"therapy": "radiotherapy"}, True),
    "age_evidence": ({}, True),
    "hedged_only": ({"category": ""}, True),
    "claims_added_by_run": ({"run_id": ""}, True),
    "new_evidence_since": ({"since": "2021"}, True),
    "evidence_for_seed_claim": ({"seed_id": None}, True),  # None: the seed claim with most evidence
    "new_evidence_since_review": ({"since": "2021"}, True),
    "contradictions_of_review": ({}, True),
}


@pytest.fixture(scope="module")
def db():
    return evidence_db()


@pytest.fixture(scope="module")
def server(db):
    with running_server(db) as base:
        yield base


def fingerprint(path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_every_canned_query_has_a_test(db):
    "The core's queries, the seed's and the built-in plugins' (therapy, age) through register_queries."
    queries = build_metadata(db)["databases"]["evidex"]["queries"]
    assert set(QUERIES) | set(SEED_QUERIES) <= set(queries) == set(PARAMS)
    assert {"therapy_evidence", "age_evidence"} <= set(queries) - set(QUERIES)


def test_the_seed_queries_are_listed_before_a_seed_load_and_return_no_rows(tmp_path):
    "A server left up across runs keeps its metadata: the seed queries are there from the start."
    from evidex.db import open_db

    path = tmp_path / "evidex.db"
    open_db(path).conn.close()
    queries = build_metadata(path)["databases"]["evidex"]["queries"]
    assert set(SEED_QUERIES) <= set(queries)
    for name in SEED_QUERIES:
        params = {"seed_id": "SR-01", "since": ""}
        assert sql_rows(path, queries[name]["sql"], params) == [], name


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_canned_query_returns_the_rows_sqlite_returns(db, server, name):
    queries = build_metadata(db)["databases"]["evidex"]["queries"]
    if name in SEED_QUERIES and not has_seed_tables(db):
        pytest.skip("the seed migration (baselines, seed_claims, claim_links) is not in this schema yet")
    params, must_have_rows = PARAMS[name]
    params = dict(params)
    if params.get("seed_id", "") is None:
        params["seed_id"] = sql_rows(db, "select seed_id from seed_status order by documents desc limit 1")[0]["seed_id"]
    response = get(f"{server}/evidex/{name}.json", params={**params, "_shape": "objects"}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = sql_rows(db, queries[name]["sql"], params)
    if body.get("truncated"):  # Datasette returns the first max_returned_rows (1000) rows
        assert len(body["rows"]) == 1000 < len(expected)
        expected = expected[:1000]
    assert body["rows"] == expected
    if must_have_rows:
        assert expected, f"{name} returned no rows on the test database"


def test_no_canned_query_hides_a_table_or_view(db):
    "Datasette serves a canned query at /db/NAME: a table or view of that name would be unreachable."
    queries = build_metadata(db)["databases"]["evidex"]["queries"]
    names = {r["name"] for r in sql_rows(db, "select name from sqlite_master where type in ('table', 'view')")}
    assert not set(queries) & names


def test_parameters_read_as_described(db):
    "A seed id in any case; a therapy fragment taken literally, never as a LIKE wildcard."
    queries = build_metadata(db)["databases"]["evidex"]["queries"]
    if has_seed_tables(db):
        seed = sql_rows(db, "select seed_id from seed_status order by documents desc limit 1")[0]["seed_id"]
        upper = sql_rows(db, queries["evidence_for_seed_claim"]["sql"], {"seed_id": seed})
        assert upper and sql_rows(db, queries["evidence_for_seed_claim"]["sql"], {"seed_id": seed.lower()}) == upper
    therapy = queries["therapy_evidence"]["sql"]
    assert sql_rows(db, therapy, {"therapy": "RadioTherapy"}) == sql_rows(db, therapy, {"therapy": "radiotherapy"})
    assert sql_rows(db, therapy, {"therapy": "%"}) == [] and sql_rows(db, therapy, {"therapy": "_"}) == []


def test_new_evidence_since_review_agrees_with_seed_status(db, server):
    if not has_seed_tables(db):
        pytest.skip("the seed migration is not in this schema yet")
    rows = get(f"{server}/evidex/new_evidence_since_review.json?_shape=array", timeout=30).json()
    after = sql_rows(db, "select coalesce(sum(claims_after_review), 0) as n from seed_status")[0]["n"]
    assert len(rows) == after


@pytest.mark.parametrize("table, fts, term", [
    ("claims", "claims_fts", "interferon"),
    ("current_claims", "claims_fts", "STING"),
    ("documents", "documents_fts", "melanoma"),
])
def test_full_text_search(db, server, table, fts, term):
    response = get(f"{server}/evidex/{table}.json",
                         params={"_search": term, "_shape": "objects", "_size": "max"}, timeout=30)
    assert response.status_code == 200, response.text
    found = sorted(r["id"] for r in response.json()["rows"])
    base = "claims" if table == "current_claims" else table
    sql = f"select id from {table} where rowid in (select rowid from {fts} where {fts} match :q)"
    if table == "current_claims":
        sql = f"select id from current_claims where claim_rowid in (select rowid from {fts} where {fts} match :q)"
    expected = sorted(r["id"] for r in sql_rows(db, sql, {"q": f'"{term}"'}))
    assert found == expected and expected, base


def test_writes_are_refused_and_the_file_is_unchanged(db, server):
    before = fingerprint(db)
    attempts = [
        get(f"{server}/evidex.json", params={"sql": "insert into runs (command, started_at, status) "
                                                           "values ('x', 'y', 'z')"}),
        get(f"{server}/evidex.json", params={"sql": "delete from claims"}),
        post(f"{server}/evidex", data={"sql": "drop table claims"}),
        post(f"{server}/evidex/claims_for_entity", data={"entity": "STING1"}),
        post(f"{server}/evidex/runs/-/insert", json={"row": {"command": "x"}}),
        post(f"{server}/evidex/-/create", json={"table": "x", "rows": [{"a": 1}]}),
    ]
    for response in attempts:
        assert response.status_code >= 400, (response.request.url, response.text[:200])
    databases = get(f"{server}/-/databases.json").json()
    assert [d["is_mutable"] for d in databases if d["name"] == "evidex"] == [True]  # live, read with mode=ro
    assert fingerprint(db) == before
    assert sql_rows(db, "select count(*) as n from runs where command = 'x'")[0]["n"] == 0


def test_every_table_and_every_column_of_documents_and_claims_is_described(db):
    "A new table or column shows up in Datasette with a description, or this test says which."
    tables = build_metadata(db)["databases"]["evidex"]["tables"]
    names = {r["name"] for r in sql_rows(db, "select name from sqlite_master where type in ('table', 'view') "
                                             "and name not like '%fts%' and name not like 'sqlite_%' "
                                             "and name != '_sqlite_migrations'")}
    assert names - set(tables) == set()
    for table in ("documents", "claims"):
        columns = {r["name"] for r in sql_rows(db, f"select name from pragma_table_info('{table}')")}
        assert columns - set(tables[table]["columns"]) == set(), table


def test_metadata_descriptions_licence_and_facets(db, server):
    meta = get(f"{server}/-/metadata.json").json()
    assert get(f"{server}/-/settings.json").json()["sql_time_limit_ms"] == 5000
    assert meta["license"].startswith("Abstracts") and meta["source_url"].startswith("https://")
    claims = meta["databases"]["evidex"]["tables"]["claims"]
    assert claims["columns"]["direction"] and claims["description"]
    page = get(f"{server}/evidex/claims.json", params={"_size": "1"}).json()
    facets = set(page["facet_results"])
    assert {"category", "plugin", "direction", "negated", "hedged", "study_system", "cancer_type"} <= facets
    if has_seed_tables(db):
        # The review's citation comes from the baseline record, not from evidex's code.
        record = json.loads(sql_rows(db, "select record from baselines order by loaded_at desc limit 1")[0]["record"])
        assert meta["about_url"] == f"https://doi.org/{record['doi']}" and record["title"] in meta["description"]
        links = get(f"{server}/evidex/claim_links.json", params={"_size": "1"}).json()
        assert "relation" in links["facet_results"]
        overview = get(f"{server}/evidex/seed_overview.json", params={"_size": "1"}).json()
        statuses = {f["value"]: f["count"] for f in overview["facet_results"]["status"]["results"]}
        expected = sql_rows(db, "select status, count(*) as n from seed_overview group by status")
        assert statuses == {r["status"]: r["n"] for r in expected}


def test_rows_link_to_their_document_run_and_seed_claim(db, server):
    claim = sql_rows(db, "select id, doc_id, first_seen_run from claims order by id limit 1")[0]
    html = get(f"{server}/evidex/claims/{claim['id']}").text
    assert f'href="/evidex/documents/{claim["doc_id"]}"' in html
    assert f'href="/evidex/runs/{claim["first_seen_run"]}"' in html
    if has_seed_tables(db):
        link = sql_rows(db, "select claim_id, baseline_id, seed_id from claim_links where relation = 'supports' "
                            "order by claim_id limit 1")[0]
        page = get(f"{server}/evidex/evidence_for_seed_claim", params={"seed_id": link["seed_id"]}).text
        seed_url = f'/evidex/seed_claims/{link["baseline_id"]},{link["seed_id"]}'
        assert f'href="{seed_url}"' in page
        assert get(server + seed_url).status_code == 200


def test_immutable_serves_a_frozen_copy_and_writable_is_still_accepted(db):
    with running_server(db, "--immutable") as base:
        databases = get(f"{base}/-/databases.json").json()
    assert [d["is_mutable"] for d in databases if d["name"] == "evidex"] == [False]
    with running_server(db, "--writable") as base:
        databases = get(f"{base}/-/databases.json").json()
    assert [d["is_mutable"] for d in databases if d["name"] == "evidex"] == [True]


def test_a_server_left_running_sees_what_a_run_writes(db, tmp_path):
    "The scheduled-run use: Datasette stays up while ingest writes; its answers follow each commit."
    import shutil

    copy = tmp_path / "live.db"
    shutil.copy(db, copy)
    docs = tmp_path / "new.jsonl"
    docs.write_text("".join(json.dumps({"pmid": f"9{i:07d}", "title": f"Type I interferon in tumour {i}.",
                                        "abstract": "IFN-beta suppressed tumour growth in mice."}) + "\n"
                            for i in range(300)))

    def count(base: str, table: str) -> int:
        body = get(f"{base}/live.json", params={"sql": f"select count(*) as n from {table}", "_shape": "array"})
        assert body.status_code == 200, body.text
        return body.json()[0]["n"]

    with running_server(copy) as base:
        documents, claims = count(base, "documents"), count(base, "claims")
        result = subprocess.run([*EVIDEX, "ingest", str(docs), "--db", str(copy)], capture_output=True, text=True,
                                cwd=ROOT)
        assert result.returncode == 0, result.stderr
        assert count(base, "documents") == documents + 300 == sql_rows(copy, "select count(*) as n from documents")[0]["n"]
        assert count(base, "claims") == sql_rows(copy, "select count(*) as n from claims")[0]["n"] > claims
        assert get(f"{base}/live/claims.json", params={"_size": "5"}).status_code == 200


@pytest.mark.parametrize("content, problem", [
    (b"name,value\n1,2\n", "not a usable SQLite database"),
    ("sqlite", "a SQLite database of something else"),
])
def test_a_file_that_is_no_evidex_database_is_one_line(tmp_path, content, problem):
    import sqlite3

    path = tmp_path / "other.db"
    if content == "sqlite":
        with sqlite3.connect(path) as conn:
            conn.execute("create table notes (id integer primary key, text)")
        conn.close()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    result = subprocess.run([*EVIDEX, "serve", "--db", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert problem in result.stderr and path.read_bytes() == before


def test_metadata_json_option_prints_the_generated_metadata(db):
    result = subprocess.run([*EVIDEX, "serve", "--db", str(db), "--metadata-json"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == build_metadata(db)


def test_missing_database_is_a_usage_error(tmp_path):
    result = subprocess.run([*EVIDEX, "serve", "--db", str(tmp_path / "nope.db")], capture_output=True, text=True)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_an_unknown_setting_is_one_line_naming_it(db):
    result = subprocess.run([*EVIDEX, "serve", "--db", str(db), "--setting", "bogus", "1"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: unknown Datasette setting 'bogus'; known: ") and "sql_time_limit_ms" in line


class QueryPlugin:
    "A plugin adding one canned query and facets through register_queries."

    @hookimpl
    def register_queries(self, register):
        register("ifn_receptor_claims", sql="select * from claims_by_entity where entity = :entity",
                 title="IFN receptor claims")
        register(table="current_claims", facets=["role", "section"])


def test_hook_register_queries(db):
    pm.register(QueryPlugin(), name="test-queries")
    try:
        meta = build_metadata(db)["databases"]["evidex"]
        assert meta["queries"]["ifn_receptor_claims"] == {
            "sql": "select * from claims_by_entity where entity = :entity", "title": "IFN receptor claims"}
        assert {"role", "section", "category"} <= {f for f in meta["tables"]["current_claims"]["facets"] if isinstance(f, str)}
    finally:
        pm.unregister(name="test-queries")


def test_register_queries_rejects_a_duplicate_name(db):
    class Clash:
        @hookimpl
        def register_queries(self, register):
            register("claims_for_entity", sql="select 1")

    pm.register(Clash(), name="clash")
    try:
        with pytest.raises(PluginError, match="claims_for_entity"):
            build_metadata(db)
    finally:
        pm.unregister(name="clash")


@pytest.mark.parametrize("facets,message", [
    (["section", "nocolumn"], "plugin 'facets' registered a facet on claims.nocolumn, a column claims does not have"),
    ([{"array": "entitys"}], "plugin 'facets' registered a facet on claims.entitys, a column claims does not have"),
    ([5], "plugin 'facets' registered the facet 5 on claims: a facet is a column name or a one-key dict such as "
          "{'array': 'entities'}"),
    ([{"array": "entities"}, "section"], None),
])
def test_a_plugin_facet_on_a_column_its_table_lacks_is_refused_naming_the_plugin(db, facets, message):
    "Datasette would answer the table's every page with 400 'no such column': the plugin's mistake, said once."
    class Facets:
        @hookimpl
        def register_queries(self, register):
            register(table="claims", facets=facets)
            register(table="no_such_table_yet", facets=["anything"])  # skipped, as the guide says

    pm.register(Facets(), name="facets")
    try:
        if message is None:
            assert {"section"} <= set(f for f in build_metadata(db)["databases"]["evidex"]["tables"]["claims"]["facets"]
                                      if isinstance(f, str))
        else:
            with pytest.raises(PluginError) as raised:
                build_metadata(db)
            assert str(raised.value) == message
    finally:
        pm.unregister(name="facets")


def test_a_register_queries_hook_that_raises_is_one_line_naming_the_plugin(db, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken_queries.py").write_text(
        "from evidex import hookimpl\n\n\n@hookimpl\ndef register_queries(register):\n"
        "    raise ValueError('no such table in my head')\n")
    proc = subprocess.run([*EVIDEX, "serve", "--db", str(db), "--metadata-json"], capture_output=True, text=True,
                          env={**os.environ, "EVIDEX_PLUGINS_DIR": str(plugins)}, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "Error: plugin 'broken_queries': register_queries raised ValueError: no such table in my head"]
    assert proc.stdout == ""


def test_a_plugin_that_fails_to_load_is_a_warning_of_serve(db, tmp_path):
    "Its canned queries are missing from the server: the line says why."
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "my_queries.py").write_text("import no_such_module_for_queries\n")
    proc = subprocess.run([*EVIDEX, "serve", "--db", str(db), "--metadata-json"], capture_output=True, text=True,
                          env={**os.environ, "EVIDEX_PLUGINS_DIR": str(plugins)}, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["Warning: plugin my_queries failed to load: ModuleNotFoundError: "
                                        "No module named 'no_such_module_for_queries'"]
    assert "claims_for_entity" in json.loads(proc.stdout)["databases"]["evidex"]["queries"]


def test_claims_added_by_run_takes_a_run_id_as_datasette_sends_it(db, server):
    "Parameters arrive as text: '1' must find run 1's claims, not nothing."
    for run_id, in sql_rows(db, "select distinct first_seen_run from claims order by 1")[:3] and \
            [(r["first_seen_run"],) for r in sql_rows(db, "select distinct first_seen_run from claims order by 1")][:3]:
        expected = sql_rows(db, "select count(*) as n from claims where first_seen_run in "
                                "(select id from runs where :r in (id, parent_run))", {"r": run_id})[0]["n"]
        body = get(f"{server}/evidex/claims_added_by_run.json", params={"run_id": str(run_id)}).json()
        assert expected > 0 and len(body["rows"]) == min(expected, 1000), run_id


def test_a_missing_page_or_bad_sql_logs_one_line_not_a_traceback(db, server):
    "Datasette's handler prints every 404 and 400 as a rich traceback with locals: the log keeps one access line."
    port = server.rsplit(":", 1)[1]
    log = db.parent / f"serve-{port}.log"
    start = log.stat().st_size  # the module's server: earlier tests' lines are theirs
    missing = get(f"{server}/no-such-database")
    bad_sql = get(f"{server}/evidex.json", params={"sql": "select no_such_column from claims"})
    not_select = get(f"{server}/evidex", params={"sql": "delete from claims"})
    assert (missing.status_code, bad_sql.status_code, not_select.status_code) == (404, 400, 400)
    text = log.read_bytes()[start:].decode()
    assert "/no-such-database" in text and "Traceback" not in text, text[-2000:]


@pytest.mark.parametrize("where", ["busy port", "unknown host"])
def test_an_address_it_cannot_listen_on_is_one_line_and_exit_2(db, where):
    "uvicorn would log the bind error among its start-up lines and exit 3, which means 'locked' to evidex users."
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        host = "127.0.0.1" if where == "busy port" else "no-such-host.invalid"
        result = subprocess.run([*EVIDEX, "serve", "--db", str(db), "--host", host, "--port", str(port)],
                                capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: cannot listen on {host}:{port}: "), line
