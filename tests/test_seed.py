"""The seed review as data and as baseline versions: one version per content, old versions kept."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidex.cli import cli
from evidex.db import open_db
from evidex.errors import UsageError
from evidex.models import DIRECTIONS

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpora" / "seed"
CATEGORIES = {"ifn", "pathway", "therapy", "age"}
CONTEXT_KEYS = {"cancer_types", "study_systems", "therapies", "age_groups", "cells", "timing", "layer",
                "dose", "route", "caution", "non_cancer"}


def claims() -> list[dict]:
    return [json.loads(line) for line in (SEED / "claims.jsonl").read_text().splitlines() if line.strip()]


def run(*args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args], env={"EVIDEX_LOAD_PLUGINS": ""})
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_review_record():
    record = json.loads((SEED / "review.json").read_text())
    assert record["doi"] == "10.1038/s41568-026-00915-1"
    assert record["title"] == "Striking the right balance with type I interferon signalling in cancer"
    assert record["authors"][:3] == ["Chadwick, T.B.", "So, J.", "Hertzog, P.J."]
    assert (record["journal"], record["year"], record["pub_date"]) == ("Nat Rev Cancer", 2026, None)
    # Which categories bear on one another is seed data, not core code.
    assert record["related_categories"]["ifn"] == ["pathway", "therapy"]
    assert set(record["related_categories"]) == CATEGORIES
    assert record["context_categories"] == {"therapies": "therapy", "age_groups": "age"}


def test_every_seed_claim_of_the_domain_file_is_data(shared):
    text = (shared / "domain" / "seed-claims.md").read_text()
    documented = set(re.findall(r"^### (SR-\d\d)\b", text, re.M)) | set(re.findall(r"^\*\*(LF-\d\d)\*\*", text, re.M))
    rows = claims()
    assert [r["id"] for r in rows] == sorted({r["id"] for r in rows}, key=lambda i: (i[:2] != "SR", i))
    assert {r["id"] for r in rows} == documented and len(documented) == 68


def test_seed_claims_use_the_plugin_vocabulary():
    for row in claims():
        assert row["kind"] == ("review" if row["id"].startswith("SR-") else "literature"), row["id"]
        assert row["category"] in CATEGORIES and row["category"] == row["categories"][0]
        assert set(row["categories"]) <= CATEGORIES
        assert row["direction"] in DIRECTIONS
        assert row["entities"] and len(row["entities"]) == len(set(row["entities"]))
        for entity in row["entities"]:
            # HGNC symbols upper case; concept, class and drug ids lower case (GUIDELINES).
            assert re.fullmatch(r"[A-Z0-9]+", entity) or re.fullmatch(r"[a-z0-9][a-z0-9 .-]*", entity), entity
        assert set(row["context"]) <= CONTEXT_KEYS, row["id"]
        for relation in row.get("relations", []):
            assert relation["direction"] in DIRECTIONS
        if row["kind"] == "literature":
            assert row.get("refs"), row["id"]
    by_id = {r["id"]: r for r in claims()}
    # Spot checks against seed-claims.md.
    assert (by_id["SR-11"]["direction"], by_id["SR-11"]["subject"]) == ("down", "ras")
    assert by_id["SR-09"]["hedged"] and by_id["SR-05"]["context_dependent"]
    assert by_id["LF-26"]["refs"][0]["pmid"] == "37587335" and "IFNE" in by_id["LF-26"]["entities"]
    assert (by_id["LF-35"]["direction"], by_id["LF-36"]["direction"]) == ("down", "up")
    assert "type-i-ifn" not in by_id["LF-15"]["entities"]  # CDK4/6i induce type III, not type I


def test_loading_twice_makes_one_version(tmp_path):
    db_path = tmp_path / "s.db"
    first = run("seed", "load", SEED, "--db", db_path).output
    again = run("seed", "load", SEED, "--db", db_path).output
    assert "(new, 68 seed claims)" in first and "(already loaded, 68 seed claims)" in again
    db = open_db(db_path)
    assert db["baselines"].count == 1 and db["seed_claims"].count == 68
    row = next(db.query("select * from baselines"))
    assert row["doi"] == "10.1038/s41568-026-00915-1" and row["claims_count"] == 68
    assert row["review_date"] == "2026" and json.loads(row["record"])["journal"] == "Nat Rev Cancer"
    assert row["id"] in first
    lf26 = json.loads(db.execute("select record from seed_claims where seed_id = 'LF-26'").fetchone()[0])
    assert lf26["refs"][0]["pmid"] == "37587335" and lf26["direction_text"].startswith("IFN-ε -|")


def test_changed_seed_is_a_new_version_and_the_old_is_kept(tmp_path):
    db_path = tmp_path / "s.db"
    run("seed", "load", SEED, "--db", db_path)
    changed = tmp_path / "seed"
    shutil.copytree(SEED, changed)
    lines = (changed / "claims.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["text"] += " (checked against the full review)"
    (changed / "claims.jsonl").write_text("\n".join([json.dumps(row, ensure_ascii=False), *lines[1:]]) + "\n")
    run("seed", "load", changed, "--db", db_path)
    db = open_db(db_path)
    from evidex.seed import current_baseline

    versions = [r["id"] for r in db.query("select id from baselines order by first_loaded_at")]
    assert len(versions) == 2 and current_baseline(db) == versions[1]
    assert db["seed_claims"].count == 136
    texts = {r["text"] for r in db.query("select text from seed_claims where seed_id = 'SR-01'")}
    assert len(texts) == 2 and any(t.endswith("(checked against the full review)") for t in texts)
    # Loading the first version again makes it current without a third version.
    run("seed", "load", SEED, "--db", db_path)
    assert db["baselines"].count == 2 and current_baseline(db) == versions[0]
    status = json.loads(run("seed", "status", "--db", db_path, "--format", "json").output)
    assert {r["baseline_id"] for r in status} == {versions[0]}


def test_bad_seed_files_are_usage_errors(tmp_path):
    from evidex.seed import read_seed

    shutil.copytree(SEED, tmp_path / "seed")
    path = tmp_path / "seed" / "claims.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[0]]) + "\n")
    with pytest.raises(UsageError, match="duplicate id SR-01"):
        read_seed(tmp_path / "seed")
    path.write_text(lines[0].replace('"direction": "up"', '"direction": "sideways"') + "\n")
    with pytest.raises(UsageError, match="direction 'sideways'"):
        read_seed(tmp_path / "seed")
    with pytest.raises(UsageError, match="cannot read the seed"):
        read_seed(tmp_path / "missing")
    path.write_text(lines[0] + "\n")
    review = tmp_path / "seed" / "review.json"
    record = json.loads(review.read_text())
    review.write_text(json.dumps({**record, "related_categories": {"ifn": "pathway"}}))
    with pytest.raises(UsageError, match="related_categories must map a category to a list"):
        read_seed(tmp_path / "seed")
    review.write_text(json.dumps({**record, "context_categories": {"therapies": ["therapy"]}}))
    with pytest.raises(UsageError, match="context_categories must map a context key to a category"):
        read_seed(tmp_path / "seed")
    result = run("seed", "load", tmp_path / "missing", "--db", tmp_path / "s.db", ok=False)
    assert result.exit_code != 0 and "cannot read the seed" in result.output


@pytest.mark.parametrize("change, problem", [
    ({"relations": "x"}, "relations must be a list of objects"),
    ({"relations": [{"subject": "a", "direction": "sideways"}]}, "relations: direction 'sideways'"),
    ({"entities": None}, "entities must be a list of strings"),
    ({"entities": "IFNB1"}, "entities must be a list of strings"),
    ({"context": ["melanoma"]}, "context must map a setting"),
    ({"context": {"cancer_types": [3]}}, "context must map a setting"),
    ({"subject": ["type-i-ifn"]}, "subject must be a string"),
    ({"text": ""}, "text must be a non-empty string"),
    ({"id": 7}, "id must be a non-empty string"),
    ({"hedged": "no"}, "hedged must be true or false, not 'no'"),
    ({"context_dependent": 1}, "context_dependent must be true or false, not 1"),
])
def test_malformed_seed_claims_are_refused_and_store_nothing(tmp_path, change, problem):
    shutil.copytree(SEED, tmp_path / "seed")
    path = tmp_path / "seed" / "claims.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = json.dumps({**json.loads(lines[2]), **change})
    path.write_text("\n".join(lines) + "\n")
    db_path = tmp_path / "s.db"
    run("seed", "load", SEED, "--db", db_path)
    before = open_db(db_path).execute("select id from baselines").fetchall()
    result = run("seed", "load", tmp_path / "seed", "--db", db_path, ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"claims.jsonl line 3: {problem}" in result.output and len(result.output.strip().splitlines()) == 1
    assert open_db(db_path).execute("select id from baselines").fetchall() == before  # the good one stays current


@pytest.mark.parametrize("name, content, problem", [
    ("claims.jsonl", "LINES\n\xff\xfe".encode("latin-1"), "a file is not UTF-8 text (invalid start byte"),
    ("review.json", "caf\xe9".encode("latin-1"), "a file is not UTF-8 text"),
    ("review.json", b"[]", "review.json: must be a JSON object, not list"),
])
def test_an_unreadable_seed_file_is_one_line_and_keeps_the_baseline(tmp_path, name, content, problem):
    "A seed file in another encoding, or a review record that is no object, is one line, not a traceback."
    shutil.copytree(SEED, tmp_path / "seed")
    path = tmp_path / "seed" / name
    path.write_bytes(content.replace(b"LINES", path.read_bytes().rstrip()))
    db_path = tmp_path / "s.db"
    run("seed", "load", SEED, "--db", db_path)
    before = open_db(db_path).execute("select id from baselines").fetchall()
    result = run("seed", "load", tmp_path / "seed", "--db", db_path, ok=False)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert problem in result.output
    assert open_db(db_path).execute("select id from baselines").fetchall() == before


@pytest.mark.parametrize("review", [{}, {"title": " ", "doi": ""}, {"related_categories": {"ifn": ["pathway"]}}])
def test_a_review_record_that_names_no_review_is_refused(tmp_path, review):
    "A review.json of {} (saved before it was filled in) loaded silently as a review of nothing."
    shutil.copytree(SEED, tmp_path / "seed")
    (tmp_path / "seed" / "review.json").write_text(json.dumps(review))
    db_path = tmp_path / "s.db"
    run("seed", "load", SEED, "--db", db_path)
    before = open_db(db_path).execute("select id, loaded_at from baselines").fetchall()
    result = run("seed", "load", tmp_path / "seed", "--db", db_path, ok=False)
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert result.stderr.strip() == f"Error: {tmp_path / 'seed' / 'review.json'}: names no review: give its title or doi"
    assert open_db(db_path).execute("select id, loaded_at from baselines").fetchall() == before


def test_seed_claims_of_a_category_no_plugin_extracts_are_loaded_with_a_warning(fresh, tmp_path):
    "A misspelt category, or a plugin not installed: one warning line naming them; the seed still loads."
    plugins = {"EVIDEX_LOAD_PLUGINS": "ifn,pathway,therapy,age"}
    shutil.copytree(SEED, tmp_path / "seed")
    path = tmp_path / "seed" / "claims.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[3] = {**rows[3], "category": "agee", "categories": ["agee"]}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db_path = tmp_path / "s.db"
    result = CliRunner().invoke(cli, ["seed", "load", str(tmp_path / "seed"), "--db", str(db_path)], env=plugins)
    assert result.exit_code == 0, result.output
    [summary, warning] = result.stderr.splitlines()  # the summary on stderr too, as ingest's
    assert "(new, 68 seed claims) is current" in summary and result.stdout == ""
    assert warning.startswith(f"Warning: no installed plugin extracts the category of 1 seed claim (agee: {rows[3]['id']}): ")
    assert "(extracted: age, ifn, pathway, therapy)" in warning
    # The seed as shipped: every category has its plugin, so nothing to warn about.
    result = CliRunner().invoke(cli, ["seed", "load", str(SEED), "--db", str(db_path)], env=plugins)
    assert result.exit_code == 0 and "Warning" not in result.stderr, result.output
    # Without the age plugin, the seed claims only it extracts are named.
    fresh.reset()
    result = CliRunner().invoke(cli, ["seed", "load", str(SEED), "--db", str(db_path)],
                                env={"EVIDEX_LOAD_PLUGINS": "ifn,pathway,therapy"})
    [summary, warning] = result.stderr.splitlines()
    assert result.exit_code == 0 and "(already loaded, 68 seed claims)" in summary
    assert re.fullmatch(r"Warning: no installed plugin extracts the category of \d+ seed claims? \(age: [^;]*\): .*",
                        warning), result.stderr


@pytest.mark.parametrize("given", ["--plugins-dir", "EVIDEX_PLUGINS_DIR"])
def test_seed_load_checks_the_seeds_categories_against_a_plugins_dir_too(fresh, tmp_path, given):
    "A category only a --plugins-dir plugin extracts is no warning, given either way; a missing directory stores nothing."
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "ages.py").write_text(textwrap.dedent("""
        from evidex import Extractor, hookimpl

        class Ages(Extractor):
            name = "ages"
            categories = ("age",)

            def extract(self, document, field, doc):
                return []

        @hookimpl
        def register_extractors(register):
            register(Ages())
    """))
    db_path = tmp_path / "s.db"
    env = {"EVIDEX_LOAD_PLUGINS": "ifn,pathway,therapy"}
    args = ["seed", "load", str(SEED), "--db", str(db_path)]
    if given == "--plugins-dir":
        args += ["--plugins-dir", str(plugins)]
    else:
        env["EVIDEX_PLUGINS_DIR"] = str(plugins)
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0 and "(new, 68 seed claims) is current" in result.stderr, result.output
    assert "Warning" not in result.stderr, result.stderr
    # A plugin file that fails to import is named, not taken for a plugin that extracts nothing (exit 1, as extract).
    fresh.reset()
    (plugins / "ages.py").write_text("raise RuntimeError('half-written plugin')\n")
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1 and "(already loaded, 68 seed claims) is current" in result.stderr, result.output
    assert result.stderr.splitlines()[-1] == "plugin ages failed to load: RuntimeError: half-written plugin"
    fresh.reset()
    result = CliRunner().invoke(cli, ["seed", "load", str(SEED), "--db", str(tmp_path / "t.db"),
                                      "--plugins-dir", str(tmp_path / "nope")], env=env)
    assert result.exit_code == 2 and result.output == f"Error: plugins directory does not exist: {tmp_path / 'nope'}\n"
    assert not (tmp_path / "t.db").exists()


def test_empty_seed_and_bad_review_dates_are_refused(tmp_path):
    shutil.copytree(SEED, tmp_path / "seed")
    review = tmp_path / "seed" / "review.json"
    record = json.loads(review.read_text())
    for bad in ("March 2026", "2026/03/01", "2026-13"):
        review.write_text(json.dumps({**record, "pub_date": bad}))
        result = run("seed", "load", tmp_path / "seed", "--db", tmp_path / "s.db", ok=False)
        assert result.exit_code == 2 and "pub_date must be YYYY, YYYY-MM or YYYY-MM-DD" in result.output
    review.write_text(json.dumps({**record, "pub_date": "2026-03"}))
    (tmp_path / "seed" / "claims.jsonl").write_text("\n")
    result = run("seed", "load", tmp_path / "seed", "--db", tmp_path / "s.db", ok=False)
    assert result.exit_code == 2 and "no seed claims" in result.output


def test_a_link_failure_fails_the_ingest_run(fresh, tmp_path, monkeypatch):
    "Claims are kept, but the run says linking failed: status errors, an error row, exit 1."
    import evidex.seed

    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "A title", "abstract": "Type I IFN boosts immunity."}) + "\n")
    db_path = tmp_path / "s.db"
    run("seed", "load", SEED, "--db", db_path)
    fresh.reset()  # seed load loaded none (EVIDEX_LOAD_PLUGINS=""), to check the seed's categories

    def broken(*args, **kwargs):
        raise RuntimeError("index unreadable")

    monkeypatch.setattr(evidex.seed, "link_claims", broken)
    result = CliRunner().invoke(cli, ["ingest", str(docs), "--db", str(db_path)], env={"EVIDEX_LOAD_PLUGINS": "ifn"})
    assert result.exit_code == 1 and "1 errors" in result.output
    db = open_db(db_path)
    assert db.execute("select status, errors from runs").fetchall() == [("errors", 1)]
    assert db.execute("select stage, error from run_errors").fetchall() == [("link", "RuntimeError: index unreadable")]
    assert db["claims"].count > 0


def test_status_and_link_need_a_baseline(tmp_path):
    db_path = tmp_path / "s.db"
    open_db(db_path)
    for command in ("status", "link"):
        result = run("seed", command, "--db", db_path, ok=False)
        assert result.exit_code != 0 and "no baseline loaded" in result.output




def test_runs_record_the_current_baseline(fresh, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "A title", "abstract": "Type I IFN boosts immunity."}) + "\n")
    db_path = tmp_path / "s.db"
    run("ingest", docs, "--db", db_path)
    run("seed", "load", SEED, "--db", db_path)
    run("extract", "--all", "--db", db_path)
    db = open_db(db_path)
    baseline = db.execute("select id from baselines").fetchone()[0]
    assert [r[0] for r in db.execute("select baseline_id from runs order by id")] == [None, baseline]
    view = {r[0] for r in db.execute("select name from sqlite_master where type = 'view'")}
    assert "seed_status" in view


def test_status_dates_evidence_against_the_review_year(fresh, eval_docs, tmp_path):
    "With only the review's year known, evidence counts as after the review from the next year on."
    source = next(json.loads(line) for line in eval_docs.read_text().splitlines() if json.loads(line)["pmid"] == "para-22")
    docs = tmp_path / "docs.jsonl"
    dated = [("late", {"pub_date": "2027-02-01", "year": 2027}), ("same", {"pub_date": "2026-03-01", "year": 2026}),
             ("old", {"year": 2019})]
    docs.write_text("".join(json.dumps({**source, "pmid": None, "id": f"x:{name}", "title": f"{source['title']} ({name})",
                                        **dates}) + "\n" for name, dates in dated))
    db_path = tmp_path / "s.db"
    run("seed", "load", SEED, "--db", db_path)
    fresh.reset()  # seed load loaded none (EVIDEX_LOAD_PLUGINS=""), to check the seed's categories
    CliRunner().invoke(cli, ["ingest", str(docs), "--db", str(db_path)], env={"EVIDEX_LOAD_PLUGINS": "age"})
    status = {r["seed_id"]: r for r in json.loads(run("seed", "status", "--db", db_path, "--format", "json").output)}
    db = open_db(db_path)
    late = db.execute("""select count(*) from claim_links l join claims c on c.id = l.claim_id
                         where c.doc_id = 'x:late' and l.seed_id = 'LF-35' and l.relation != 'novel'""").fetchone()[0]
    row = status["LF-35"]
    assert late and row["documents"] == 3 and row["pmids"] == 0
    assert (row["newest_evidence"], row["documents_after_review"], row["claims_after_review"]) == ("2027-02-01", 1, late)
