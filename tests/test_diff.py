"""evidex diff: a changed lexicon entry, re-extracted, shows up as exactly the claims it touches."""

from __future__ import annotations

import json
from collections import Counter
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidex.cli import cli
from evidex.db import open_db
from evidex.diff import diff_runs, status_label

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpora" / "seed"
# Ageing-related real abstracts of ../shared/eval/docs.jsonl, plus two without ageing claims.
DOCS = ("para-22", "20354270", "para-24", "22722849", "para-13", "10441571")




def run(*args, ok=True):
    # The built-in ifn plugin beside the copy: a sentence's ageing claim links to a seed claim
    # through the IFN it names too (one shared entity is no evidence of a seed claim).
    result = CliRunner().invoke(cli, [str(a) for a in args], env={"EVIDEX_LOAD_PLUGINS": "ifn"})
    if ok:
        assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture
def setup(fresh, eval_docs, tmp_path):
    "The built-in age plugin copied under another name, with its lexicon, into a plugins dir."
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    shutil.copy(ROOT / "plugins" / "age.jsonl", plugin_dir / "agecopy.jsonl")
    (plugin_dir / "agecopy.py").write_text(textwrap.dedent("""
        from pathlib import Path

        from evidex import hookimpl
        from evidex_plugins.age import AgeExtractor


        class AgeCopy(AgeExtractor):
            name = "agecopy"
            lexicon = Path(__file__).with_name("agecopy.jsonl")


        @hookimpl
        def register_extractors(register):
            register(AgeCopy())
    """))
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(line + "\n" for line in eval_docs.read_text().splitlines()
                            if json.loads(line)["pmid"] in DOCS))
    db_path = tmp_path / "e.db"
    run("seed", "load", SEED, "--db", db_path)
    run("ingest", docs, "--db", db_path, "--plugins-dir", plugin_dir)
    return plugin_dir, db_path


def rename_entity(lexicon: Path, old: str, new: str) -> None:
    "Change the canonical id of one lexicon entry."
    lines = []
    for line in lexicon.read_text().splitlines():
        if line.strip() and json.loads(line).get("id") == old:
            row = json.loads(line)
            row["id"] = new
            line = json.dumps(row, ensure_ascii=False)
        lines.append(line)
    lexicon.write_text("\n".join(lines) + "\n")


def test_changed_lexicon_entry_diff_names_exactly_the_affected_claims(setup):
    plugin_dir, db_path = setup
    db = open_db(db_path)
    before = {r["id"]: r for r in db.query("select * from claims where superseded_run is null")}
    # The renamed id's claims, and those naming it as the object of their relation (another
    # plugin's claim on the same sentence).
    affected = {i for i, r in before.items()
                if "aged-host" in json.loads(r["entities"]) or "aged-host" in (r["subject"], r["object"])}
    assert affected and len(affected) < len(before)

    rename_entity(plugin_dir / "agecopy.jsonl", "aged-host", "aged-animal")
    run("extract", "--db", db_path, "--plugins-dir", plugin_dir)  # the data hash changed: re-extract
    after = {r["id"]: r for r in db.query("select * from claims where superseded_run is null")}
    new = {i for i, r in after.items()
           if "aged-animal" in json.loads(r["entities"]) or "aged-animal" in (r["subject"], r["object"])}
    assert set(after) - new == set(before) - affected  # every other claim kept its id

    result = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
    removed = {c["id"] for c in result["removed"]} | {c["before"] for c in result["changed"]}
    added = {c["id"] for c in result["added"]} | {c["after"] for c in result["changed"]}
    assert removed == affected and added == new
    for change in result["changed"]:
        changes = change["changes"]
        assert set(changes) <= {"entities", "subject", "object", "extra"}
        if "entities" in changes:
            assert "aged-host" in changes["entities"][0] and "aged-animal" in changes["entities"][1]
        else:  # another plugin's claim, its relation's object renamed
            assert "aged-host" in (changes.get("object") or changes["subject"])[0]
    # The seed claims built on "aged-host" (e.g. LF-35, LF-38) lost or moved evidence.
    moved = {s["seed_id"] for s in result["seeds"]}
    assert moved and moved <= {"LF-35", "LF-36", "LF-38", "LF-39", "SR-15", "SR-16", "SR-17", "LF-37"}
    assert result["a"]["plugins"]["agecopy"]["data_hash"] != result["b"]["plugins"]["agecopy"]["data_hash"]
    assert result["baseline_id"] == db.execute("select baseline_id from runs where id = 2").fetchone()[0]

    # --plugin picks the latest run and the previous one with another version or data hash.
    by_plugin = json.loads(run("diff", "--plugin", "agecopy", "--db", db_path, "--format", "json").output)
    assert (by_plugin["a"], by_plugin["b"], by_plugin["plugin"]) == (result["a"], result["b"], "agecopy")
    for kind in ("added", "removed", "changed"):  # the ifn claims naming the renamed id are left out
        assert by_plugin[kind] == [c for c in result[kind] if c["category"] == "age"], kind
    assert {s["seed_id"] for s in by_plugin["seeds"]} <= moved
    # The table's header says what --plugin compared: here the same version with another lexicon.
    hashes = [result[k]["plugins"]["agecopy"]["data_hash"] for k in ("a", "b")]
    version = result["b"]["plugins"]["agecopy"]["version"]
    assert run("diff", "--plugin", "agecopy", "--db", db_path).output.startswith(
        f"diff run 1 -> run 2 (plugin agecopy {version}, data {hashes[0]} -> {hashes[1]}): ")
    table = run("diff", "1", "2", "--db", db_path).output
    assert table.startswith(f"diff run 1 -> run 2: {len(result['added'])} added, {len(result['removed'])} removed, "
                            f"{len(result['changed'])} changed")
    assert "CHANGED" in table and "aged-animal" in table and "SEED CLAIMS" in table


def test_a_diff_of_past_runs_never_changes_when_claims_come_back(setup):
    "A lexicon edit undone: run 3 restores run 1's claims; the diff of runs 1 and 2 stays as it was."
    plugin_dir, db_path = setup
    rename_entity(plugin_dir / "agecopy.jsonl", "aged-host", "aged-animal")
    run("extract", "--db", db_path, "--plugins-dir", plugin_dir)
    first = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
    assert first["removed"] or first["changed"]
    rename_entity(plugin_dir / "agecopy.jsonl", "aged-animal", "aged-host")
    summary = run("extract", "--db", db_path, "--plugins-dir", plugin_dir).output
    assert json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output) == first
    undone = json.loads(run("diff", "2", "3", "--db", db_path, "--format", "json").output)
    assert len(undone["changed"]) == len(first["changed"]) and len(undone["added"]) == len(first["removed"])
    # The claims diff lists as added are run 1's, made current again: not "0 new claims".
    back_again = len(undone["changed"]) + len(undone["added"])
    assert f"0 new claims, {back_again} restored, {back_again} superseded" in summary
    back = json.loads(run("diff", "1", "3", "--db", db_path, "--format", "json").output)
    assert (back["added"], back["removed"], back["changed"], back["seeds"]) == ([], [], [], [])
    db = open_db(db_path)
    restored = {r[0] for r in db.execute("select claim_id from claim_gaps where superseded_run = 2 and restored_run = 3")}
    assert restored and all(db.execute("select superseded_run from claims where id = ?", [i]).fetchone()[0] is None
                            for i in restored)


def test_an_upgrade_changing_only_role_and_confidence_supersedes_and_shows_in_the_diff(setup, fresh):
    "A new version whose claims differ only in fields beside the relation keeps no stale values."
    plugin_dir, db_path = setup
    # A new module (the old one stays imported in this process), registering the same name.
    upgraded = plugin_dir.parent / "upgraded"
    upgraded.mkdir()
    shutil.copy(plugin_dir / "agecopy.jsonl", upgraded / "agecopy.jsonl")
    source = (plugin_dir / "agecopy.py").read_text()
    (upgraded / "agecopy_v9.py").write_text(source.replace('    name = "agecopy"\n', textwrap.indent(textwrap.dedent("""
        name = "agecopy"
        version = "9.0"

        def extract(self, document, field, doc):
            for item in super().extract(document, field, doc):
                if hasattr(item, "role"):
                    item.role, item.confidence, item.cancer_type = "background", 0.125, "melanoma"
                yield item
    """), "    ")))
    db = open_db(db_path)
    before = {r["id"] for r in db.query("select id from claims where plugin = 'agecopy'")}
    fresh.reset()  # as a new process would start: only the upgraded module registers "agecopy"
    run("extract", "--db", db_path, "--plugins-dir", upgraded)
    current = list(db.query("select * from claims where plugin = 'agecopy' and superseded_run is null"))
    assert current and all((c["role"], c["confidence"], c["cancer_type"], c["plugin_version"])
                           == ("background", 0.125, "melanoma", "9.0") for c in current)
    assert {r["id"] for r in db.query("select id from claims where superseded_run = 2")} == before
    result = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
    age_changes = [c for c in result["changed"] if c["category"] == "age"]
    assert len(age_changes) == len(before) and not [c for c in result["added"] if c["category"] == "age"]
    assert all({"confidence", "cancer_type"} <= set(c["changes"]) for c in age_changes)
    assert any(c["changes"].get("role") == ["result", "background"] for c in age_changes)
    header = run("diff", "--plugin", "agecopy", "--db", db_path).output.splitlines()[0]
    old_version = result["a"]["plugins"]["agecopy"]["version"]
    assert header.startswith(f"diff run 1 -> run 2 (plugin agecopy {old_version} -> 9.0): 0 added, 0 removed, "
                             f"{len(age_changes)} changed, ")


def test_unchanged_plugin_gives_an_empty_diff(setup):
    plugin_dir, db_path = setup
    run("extract", "--all", "--db", db_path, "--plugins-dir", plugin_dir)
    db = open_db(db_path)
    result = diff_runs(db, 1, 2)
    assert (result["added"], result["removed"], result["changed"], result["seeds"]) == ([], [], [], [])
    out = run("diff", "--plugin", "agecopy", "--db", db_path, ok=False)
    assert out.exit_code != 0 and "one version in every run" in out.output


def test_usage_errors(setup):
    _, db_path = setup
    assert "must come before" in run("diff", "1", "1", "--db", db_path, ok=False).output
    assert "no run 9" in run("diff", "1", "9", "--db", db_path, ok=False).output
    assert "give two run ids" in run("diff", "1", "--db", db_path, ok=False).output
    out = run("diff", "1", "2", "--baseline", "nope", "--db", db_path, ok=False)
    assert out.exit_code == 2 and "unknown baseline 'nope'; known: " in out.output


def test_status_labels():
    from collections import Counter

    assert status_label(Counter()) == "no evidence"
    assert status_label(Counter(supports=2)) == "supported"
    assert status_label(Counter(extends=1)) == "extended"
    assert status_label(Counter(contradicts=1)) == "contradicted"
    assert status_label(Counter(supports=1, contradicts=1)) == "contested"
    assert status_label(Counter(contradicts=2, extends=1)) == "contradicted"


@pytest.mark.parametrize("supporting,contradicting,extending", [
    (0, 0, 0), (2, 0, 0), (0, 0, 1), (0, 1, 0), (1, 1, 0), (0, 2, 1), (1, 1, 1), (3, 0, 2)])
def test_one_status_rule_for_the_view_and_the_diff(tmp_path, supporting, contradicting, extending):
    "seed_overview (SQL) and status_label (diff, run logs) give every combination the same word."
    from collections import Counter
    import sqlite3

    from evidex.views import SEED_OVERVIEW

    conn = sqlite3.connect(":memory:")
    conn.execute(f"create table seed_status as select {supporting} as supporting, {contradicting} as contradicting, "
                 f"{extending} as extending")
    [(word, *_)] = conn.execute(SEED_OVERVIEW).fetchall()
    assert word == status_label(Counter(supports=supporting, contradicts=contradicting, extends=extending))


def test_m013_rekeys_claims_stored_under_the_old_ids(setup):
    "A database from before m013: claim ids that hashed only the relation are rekeyed, links and all."
    from evidex.models import Claim, content_hash

    def old_id(c: Claim) -> str:
        return content_hash("claim", c.doc_id, c.plugin, c.category, c.field, c.start, c.end, c.subject,
                            c.predicate, c.object, c.direction, int(c.negated), int(c.hedged),
                            ",".join(sorted(c.entities)))

    _, db_path = setup
    db = open_db(db_path)
    rows = list(db.query("select * from claims"))
    assert rows
    mapping = [(old_id(Claim.from_row(r)), r["id"]) for r in rows]
    assert db["claim_links"].count and all(old != new for old, new in mapping)
    for table, column in (("claims", "id"), ("claim_entities", "claim_id"), ("claim_links", "claim_id")):
        db.conn.executemany(f"update {table} set {column} = ? where {column} = ?", mapping)
    db.execute("delete from _sqlite_migrations where name = 'm013_claim_ids_cover_every_field'")
    db.conn.commit()
    counts = {t: db[t].count for t in ("claims", "claim_entities", "claim_links")}
    assert {r[0] for r in db.execute("select id from claims")} == {old for old, _ in mapping}

    again = open_db(db_path)
    assert {r[0] for r in again.execute("select id from claims")} == {r["id"] for r in rows}
    assert {t: again[t].count for t in counts} == counts
    orphans = again.execute("select count(*) from claim_links where claim_id not in (select id from claims)").fetchone()[0]
    assert orphans == 0 and again.execute(
        "select count(*) from claim_entities where claim_id not in (select id from claims)").fetchone()[0] == 0
    assert again.execute("select count(*) from claims_fts where claims_fts match 'aged'").fetchone()[0] > 0


def test_a_relink_keeps_past_seed_status_and_shows_in_the_diff_of_its_run(setup, monkeypatch):
    "Stricter linking rules move seed claims: the diff of the relinking run shows it, older diffs stay."
    import evidex.seed

    plugin_dir, db_path = setup
    run("extract", "--all", "--db", db_path, "--plugins-dir", plugin_dir)  # run 2: nothing changes
    db = open_db(db_path)
    assert db.execute("select count(*) from claim_links where seed_id is not null").fetchone()[0] > 0
    before = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
    monkeypatch.setattr(evidex.seed, "LINK_RULES", "stricter")
    monkeypatch.setattr(evidex.seed, "LINK_THRESHOLD", 0.99)  # no claim links to any seed claim
    out = run("seed", "link", "--db", db_path).output
    assert out.startswith("baseline ") and "novel" in out
    assert db.execute("select id, command, status from runs order by id desc limit 1").fetchone() == (3, "seed link", "ok")
    history = db.execute("select count(*), min(replaced_run), max(replaced_run) from claim_link_history").fetchone()
    assert history[0] > 0 and history[1:] == (3, 3)
    assert db.execute("select count(*) from claim_links where seed_id is not null").fetchone()[0] == 0

    assert json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output) == before
    moved = json.loads(run("diff", "2", "3", "--db", db_path, "--format", "json").output)
    assert (moved["added"], moved["removed"], moved["changed"]) == ([], [], [])
    assert moved["seeds"] and all(s["status_after"] == "no evidence" for s in moved["seeds"])
    # Linking again with the same rules changes nothing and starts no run.
    assert run("seed", "link", "--db", db_path).output.endswith("linked 0 claims\n")
    assert db.execute("select max(id) from runs").fetchone()[0] == 3


def test_a_new_seed_version_between_two_runs_is_said(setup, tmp_path):
    plugin_dir, db_path = setup
    db = open_db(db_path)
    first = db.execute("select baseline_id from runs where id = 1").fetchone()[0]
    changed = tmp_path / "seed2"
    shutil.copytree(SEED, changed)
    lines = (changed / "claims.jsonl").read_text().splitlines()
    (changed / "claims.jsonl").write_text("\n".join(lines[1:]) + "\n")  # SR-01 dropped
    run("seed", "load", changed, "--db", db_path)
    second = db.execute("select baseline_id from runs where id = 2").fetchone()[0]
    assert first and second and first != second
    result = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
    assert result["baseline_before"] == first and result["baseline_id"] == second
    assert f"The seed review changed between these runs: baseline {first} -> {second}" in run(
        "diff", "1", "2", "--db", db_path).output
    same = json.loads(run("diff", "1", "2", "--db", db_path, "--baseline", first, "--format", "json").output)
    assert same["baseline_before"] is None


def test_an_ingest_that_brings_claims_back_counts_them_as_restored(setup, tmp_path):
    "The same file ingested again after a lexicon edit was undone: its summary and the listing name the restored claims."
    plugin_dir, db_path = setup
    rename_entity(plugin_dir / "agecopy.jsonl", "aged-host", "aged-animal")
    run("extract", "--db", db_path, "--plugins-dir", plugin_dir)
    rename_entity(plugin_dir / "agecopy.jsonl", "aged-animal", "aged-host")
    output = run("ingest", tmp_path / "docs.jsonl", "--db", db_path, "--plugins-dir", plugin_dir).output
    db = open_db(db_path)
    restored = db.execute("select count(*) from claim_gaps where restored_run = 3").fetchone()[0]
    assert restored > 0
    assert f"run 3 ingest: 6 documents (0 new, 0 changed), 0 new claims, {restored} restored, " in output
    listing = run("runs", "--db", db_path).output.splitlines()
    assert listing[0].startswith("   3 ") and f"claims +0 ({restored} restored) " in listing[0]
    assert "restored" not in listing[1] + listing[2]
    html = tmp_path / "report.html"
    assert run("report", "--db", db_path, "--output", html).exit_code == 0
    runs = html.read_text().split('<table class="runs">', 1)[1].split("</table>", 1)[0]
    assert "<th>Restored claims</th>" in runs
    third = next(r for r in runs.split("<tr>") if r.startswith('<td class="num">3</td>'))
    assert f'<td class="num">{restored}</td>' in third


def one_paper_ingested(tmp_path: Path) -> tuple[Path, Path]:
    "A JSON Lines file of one IFN paper, ingested as run 1 of a new database."
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "Type I IFN boosts antitumour immunity",
                                "abstract": "IFN-beta increased CD8+ T cell priming in melanoma."}) + "\n")
    db_path = tmp_path / "e.db"
    run("ingest", "--db", db_path, docs)
    return docs, db_path


def test_a_first_seed_load_between_two_runs_is_said(fresh, tmp_path):
    "README: when a seed version was loaded between two runs, diff says so; the first one too."
    docs, db_path = one_paper_ingested(tmp_path)
    before = json.loads(run("diff", "0", "1", "--db", db_path, "--format", "json").output)
    assert before["seeds"] == [] and before["baseline_loaded_after"] is False
    run("seed", "load", SEED, "--db", db_path)
    baseline = open_db(db_path).execute("select baseline_id from runs where id = 2").fetchone()[0]
    # The same two past runs, read against a seed review that came later: said, not passed off as run 1's.
    after = json.loads(run("diff", "0", "1", "--db", db_path, "--format", "json").output)
    assert after["seeds"] and after["baseline_loaded_after"] is True and after["baseline_id"] == baseline
    assert (f"No seed review was loaded by run 1: seed claims are read against baseline {baseline}, loaded after it"
            in run("diff", "0", "1", "--db", db_path).output)
    assert baseline and open_db(db_path).execute("select baseline_id from runs where id = 1").fetchone()[0] is None
    result = json.loads(run("diff", "1", "2", "--db", db_path, "--format", "json").output)
    assert result["baseline_first_loaded"] is True and result["baseline_before"] is None
    assert f"The seed review was first loaded between these runs (baseline {baseline})" in run(
        "diff", "1", "2", "--db", db_path).output
    run("ingest", "--db", db_path, docs)  # a later pair of runs, both under that baseline, says nothing
    later = json.loads(run("diff", "2", "3", "--db", db_path, "--format", "json").output)
    assert later["baseline_first_loaded"] is False and later["baseline_loaded_after"] is False
    assert "first loaded" not in run("diff", "2", "3", "--db", db_path).output


def test_the_runs_listing_lines_up_when_a_command_is_longer_than_ingest(fresh, tmp_path):
    "`runs`: a 'seed load' run's status starts in the same column as an ingest run's."
    _, db_path = one_paper_ingested(tmp_path)
    run("seed", "load", "--db", db_path)
    listing = run("runs", "--db", db_path).output.splitlines()
    assert [line.split()[2] for line in listing] == ["seed", "ingest"]
    columns = {line.index(" ok ") for line in listing}
    assert len(columns) == 1, listing


WORDS_PLUGIN = """
from evidex import Claim, Extractor, hookimpl


class Words(Extractor):
    name = "words"
    version = {version!r}
    categories = ("words",)

    def extract(self, document, field, doc):
        return [Claim(category="words", sentence=s.text, field=field, start=s.start_char, end=s.end_char)
                for s in doc.sents if "IFN" in s.text]


@hookimpl
def register_extractors(register):
    register(Words())
"""


def test_the_runs_listing_says_which_plugins_changed_since_the_run_before(fresh, tmp_path):
    "Why a run extracted everything again: a plugin added, upgraded or gone, not only in runs --json."
    _, db_path = one_paper_ingested(tmp_path)  # run 1: ifn alone
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    v1.mkdir(), v2.mkdir()
    (v1 / "words.py").write_text(WORDS_PLUGIN.format(version="1.0"))
    (v2 / "words_v2.py").write_text(WORDS_PLUGIN.format(version="2.0"))  # another module: this process has v1's
    run("extract", "--db", db_path, "--plugins-dir", v1)  # run 2
    run("extract", "--db", db_path, "--plugins-dir", v1, "--extractor", "words", "--all")  # run 3: words alone
    fresh.reset()
    run("extract", "--db", db_path, "--plugins-dir", v2)  # run 4: against run 2, not the partial run 3
    fresh.reset()
    run("extract", "--db", db_path)  # run 5
    listing = run("runs", "--db", db_path).output.splitlines()
    said = {int(listing[i - 1].split()[0]): line.strip() for i, line in enumerate(listing) if line.strip().startswith("plugins ")}
    assert said == {2: "plugins words 1.0 added", 4: "plugins words 1.0 -> 2.0", 5: "plugins words removed"}, listing


def test_run_0_is_the_empty_database_so_a_diff_shows_what_the_first_run_added(setup):
    "README: `evidex diff 0 1` is what the first run added; run 0 is the database before any run."
    _, db_path = setup
    db = open_db(db_path)
    first = db.execute("select min(id) from runs where command = 'ingest'").fetchone()[0]
    stored = {r[0] for r in db.execute("select id from claims where first_seen_run <= ?", [first])}
    assert stored
    result = json.loads(run("diff", "0", first, "--db", db_path, "--format", "json").output)
    assert {c["id"] for c in result["added"]} == stored
    assert (result["removed"], result["changed"], result["a"]["id"]) == ([], [], 0)
    assert result["seeds"] and all(s["status_before"] == status_label(Counter()) for s in result["seeds"])
    assert run("diff", "0", first, "--db", db_path).output.startswith(f"diff run 0 -> run {first}: {len(stored)} added")
    assert "no run -1" in run("diff", "--db", db_path, "--", "-1", str(first), ok=False).output
