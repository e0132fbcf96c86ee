"""Linking claims to the seed baseline: supports, contradicts, extends, novel, on real abstracts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidex.cli import cli
from evidex.db import open_db
from evidex.seed import LINK_RULES, SeedIndex, current_baseline, load_baseline, norm

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpora" / "seed"
BUILTIN = {"EVIDEX_LOAD_PLUGINS": "ifn,pathway,therapy,age"}
# Real abstracts of ../shared/eval/docs.jsonl used below: ageing and pDC IFN-α (para-22), aged
# donors' DNA and IFN-α (20354270), radiation dose and TREX1 (para-14), anthracyclines and
# type I IFN (para-13), and two off-topic ones (PAX6, ciprofloxacin).
DOCS = ("para-22", "20354270", "para-14", "para-13", "10441571", "10741713")




def run(*args, env=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], env={**BUILTIN, **(env or {})})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def subset(eval_docs: Path, tmp_path: Path, ids=DOCS) -> Path:
    "The named documents of the eval set as a JSON Lines file."
    out = tmp_path / "docs.jsonl"
    lines = [line for line in eval_docs.read_text().splitlines() if json.loads(line)["pmid"] in ids]
    assert len(lines) == len(ids)
    out.write_text("\n".join(lines) + "\n")
    return out


def links(db, baseline_id=None):
    "Current claims with their link to the baseline, by (doc, sentence start, category)."
    baseline_id = baseline_id or current_baseline(db)
    return list(db.query(
        """select c.doc_id, c.category, c.sentence, c.direction, c.negated, c.entities, l.relation, l.seed_id,
                  l.score, l.shared_entities, l.plugin_version, l.run_id
           from claims c join claim_links l on l.claim_id = c.id and l.baseline_id = ?
           where c.superseded_run is null order by c.doc_id, c.start""", [baseline_id]))


def find(rows, doc_id, category, prefix):
    hits = [r for r in rows if r["doc_id"] == doc_id and r["category"] == category and r["sentence"].startswith(prefix)]
    assert hits, f"no {category} claim in {doc_id} starting {prefix!r}"
    return hits[0]


def test_real_abstracts_link_as_supports_contradicts_and_novel(fresh, eval_docs, tmp_path):
    db_path = tmp_path / "e.db"
    run("seed", "load", SEED, "--db", db_path)
    run("ingest", subset(eval_docs, tmp_path), "--db", db_path)  # linking runs at the end of ingest
    db = open_db(db_path)
    rows = links(db)
    assert {r["relation"] for r in rows} <= {"supports", "contradicts", "extends", "novel"}

    # Agrees with LF-35 (inducible IFN-α falls with age): supports.
    agree = find(rows, "para-22", "age", "Ageing impairs IRF7 induction")
    assert (agree["relation"], agree["seed_id"], agree["direction"]) == ("supports", "LF-35", "down")
    assert "ageing" in json.loads(agree["shared_entities"]) and agree["score"] >= 0.45
    # The opposite direction against the same seed claim: more IFN-α with age.
    opposite = find(rows, "20354270", "age", "We observed increased upregulation")
    assert (opposite["relation"], opposite["seed_id"], opposite["direction"]) == ("contradicts", "LF-35", "up")
    # A negated claim: a high single radiation dose "did not produce" regression (LF-06).
    negated = find(rows, "para-14", "therapy", "In contrast, a single dose above the threshold")
    assert negated["negated"] and (negated["relation"], negated["seed_id"]) == ("contradicts", "LF-06")
    # Off-topic abstracts: every claim is novel, without a seed id.
    off = [r for r in rows if r["doc_id"] in ("10441571", "10741713")]
    assert off and all(r["relation"] == "novel" and r["seed_id"] is None for r in off)
    # The run recorded the baseline it linked against.
    assert {r["run_id"] for r in rows} == {1}
    assert db.execute("select baseline_id from runs where id = 1").fetchone()[0] == current_baseline(db)


def test_status_counts_the_links(fresh, eval_docs, tmp_path):
    db_path = tmp_path / "e.db"
    run("ingest", subset(eval_docs, tmp_path), "--db", db_path)
    db = open_db(db_path)
    assert db["claim_links"].count == 0  # no baseline yet: nothing to link
    out = run("seed", "load", SEED, "--db", db_path).output
    assert "is current; linked" in out
    status = {r["seed_id"]: r for r in json.loads(run("seed", "status", "--db", db_path, "--format", "json").output)}
    assert len(status) == 68 and list(status)[:2] == ["SR-01", "SR-02"]
    expected = db.execute("""select count(*), count(distinct c.doc_id) from claim_links l join claims c on c.id = l.claim_id
                             where l.seed_id = 'LF-35' and l.relation = 'supports'""").fetchone()
    assert (status["LF-35"]["supporting"], status["LF-35"]["supporting_documents"]) == tuple(expected)
    assert status["LF-35"]["contradicting"] >= 1 and status["LF-35"]["documents"] >= 2
    assert status["LF-35"]["documents_after_review"] == 0  # the eval abstracts predate 2026
    table = run("seed", "status", "--db", db_path).output.splitlines()
    assert table[0].split()[:5] == ["seed_id", "kind", "category", "direction", "supporting"]
    assert any(line.startswith("LF-35") for line in table)


def test_new_baseline_keeps_old_links_and_relinks(fresh, eval_docs, tmp_path):
    db_path = tmp_path / "e.db"
    run("seed", "load", SEED, "--db", db_path)
    run("ingest", subset(eval_docs, tmp_path, ("para-22",)), "--db", db_path)
    db = open_db(db_path)
    first = current_baseline(db)
    before = {(r["sentence"], r["category"]): r["relation"] for r in links(db, first)}
    changed = tmp_path / "seed2"
    changed.mkdir()
    (changed / "review.json").write_text((SEED / "review.json").read_text())
    # Drop LF-35: the claims that supported it must now link elsewhere or be novel.
    (changed / "claims.jsonl").write_text("".join(
        line + "\n" for line in (SEED / "claims.jsonl").read_text().splitlines() if '"LF-35"' not in line))
    run("seed", "load", changed, "--db", db_path)
    second = current_baseline(db)
    assert second != first and db["baselines"].count == 2
    assert {(r["sentence"], r["category"]): r["relation"] for r in links(db, first)} == before
    assert all(r["seed_id"] != "LF-35" for r in links(db, second))
    assert len(links(db, second)) == len(before)


def test_plugin_version_change_relinks(fresh, eval_docs, tmp_path):
    db_path = tmp_path / "e.db"
    run("seed", "load", SEED, "--db", db_path)
    run("ingest", subset(eval_docs, tmp_path, ("para-22",)), "--db", db_path)
    db = open_db(db_path)
    assert "linked 0 claims" in run("seed", "link", "--db", db_path).output  # all linked already
    n = db.execute("update claims set plugin_version = 'next' where plugin = 'age'").rowcount
    assert n and f"linked {n} claims" in run("seed", "link", "--db", db_path).output
    versions = {r["plugin_version"] for r in links(db) if r["category"] == "age"}
    assert versions == {"next"}


def test_an_entity_stands_on_the_side_of_its_category(index, tmp_path):
    # LF-35: ageing (age) lowers IFN-α (ifn). With the plugins' categories known, an aged host is
    # on the ageing side and type I IFN on the IFN-α side; TLR9 (pathway) is on neither.
    db = open_db(tmp_path / "s.db")
    baseline_id, _ = load_baseline(db, SEED)
    # As the plugins stored them with their claims.
    db["claim_entities"].insert_all([{"claim_id": f"c{i}", "entity": e, "category": c} for i, (e, c) in enumerate(
        [("ageing", "age"), ("aged-host", "age"), ("ifn-alpha", "ifn"), ("type-i-ifn", "ifn"), ("TLR9", "pathway")])])
    by_category = SeedIndex.for_baseline(db, baseline_id)
    ages = {"category": "age", "entities": ["aged-host", "ifn-alpha", "IRF7"]}
    up = by_category.classify(claim(direction="up", subject="aged-host", object="ifn-alpha", **ages))
    assert (up.relation, up.seed_id) == ("contradicts", "LF-35")
    assert by_category.classify(claim(direction="down", subject="aged-host", object="ifn-alpha",
                                      **ages)).relation in ("supports", "extends")
    tlr = by_category.classify(claim(direction="up", subject="TLR9", object="ifn-alpha",
                                     **{**ages, "entities": ["TLR9", "ifn-alpha", "IRF7"]}))
    assert tlr.relation == "novel"  # polarity about another relation is no evidence
    # Without the categories, only the seed's own ids tell the sides.
    assert index.classify(claim(direction="up", subject="aged-host", object="ifn-alpha", **ages)).relation == "novel"


def test_links_made_by_other_rules_are_redone(fresh, eval_docs, tmp_path):
    db_path = tmp_path / "e.db"
    run("seed", "load", SEED, "--db", db_path)
    run("ingest", subset(eval_docs, tmp_path, ("para-22",)), "--db", db_path)
    db = open_db(db_path)
    assert {r[0] for r in db.execute("select rules from claim_links")} == {LINK_RULES}
    # Links from a database made before the rules had a version (null), or by older rules.
    n = db.execute("update claim_links set rules = null where rowid % 2 = 0").rowcount
    m = db.execute("update claim_links set rules = 'old' where rowid % 2 = 1").rowcount
    assert n and m and f"linked {n + m} claims" in run("seed", "link", "--db", db_path).output
    assert {r[0] for r in db.execute("select rules from claim_links")} == {LINK_RULES}
    assert "linked 0 claims" in run("seed", "link", "--db", db_path).output


def claim(category="ifn", entities=(), direction="up", negated=False, **more):
    return {"category": category, "entities": json.dumps(list(entities)), "direction": direction,
            "negated": int(negated), "doc_id": "d", **more}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    db = open_db(tmp_path_factory.mktemp("seed") / "s.db")
    baseline_id, _ = load_baseline(db, SEED)
    return SeedIndex.for_baseline(db, baseline_id)


def test_rules_on_constructed_claims(index):
    # Same entities and direction as LF-26 (IFN-ε restrains ovarian cancer).
    link = index.classify(claim(entities=["IFNE", "IFNAR1"], direction="down"))
    assert (link.relation, link.seed_id, link.shared) == ("supports", "LF-26", ["IFNAR1", "IFNE"])
    # The opposite direction, or a negation, of the seed's relation: LF-26's object is a concept no
    # plugin extracts, named in words.
    relation = {"subject": "IFNE", "sentence": "IFN-ε loss drove ovarian cancers in mice."}
    assert index.classify(claim(entities=["IFNE", "IFNAR1"], direction="up", **relation)).relation == "contradicts"
    assert index.classify(claim(entities=["IFNE", "IFNAR1"], direction="down", negated=True,
                                **relation)).relation == "contradicts"
    # Without a relation of the claim's own, sharing two entities is no contradiction; nor is
    # another relation between them ("IFN-ε induces IFNAR1" says nothing of ovarian cancer).
    link = index.classify(claim(entities=["IFNE", "IFNAR1"], direction="up"))
    assert (link.relation, link.seed_id) == ("novel", None)
    other = index.classify(claim(entities=["IFNE", "IFNAR1"], direction="up", subject="IFNE", object="IFNAR1"))
    assert other.relation != "contradicts"
    # Nor is a relation whose object lies outside the seed: "DNMT inhibitors trigger an IFN
    # response" shares a therapy and type I IFN with SR-18 (chronic IFN signalling promotes
    # therapy resistance, down) but states another relation.
    shares = index.classify(claim(category="therapy", entities=["epigenetic-therapy"], direction="up",
                                  subject="epigenetic-therapy", object="erv", sentence_entities=["type-i-ifn"]))
    assert shares.relation != "contradicts"
    against = index.classify(claim(category="therapy", entities=["epigenetic-therapy"], direction="up",
                                   subject="type-i-ifn", object="therapy-resistance",
                                   sentence_entities=["type-i-ifn"]))
    assert (against.relation, against.seed_id) == ("contradicts", "SR-18")
    # The reverse relation is no evidence either way: LF-35 says ageing lowers IFN-α; a claim
    # that IFN-α acts on ageing says nothing of that, while "ageing raises IFN-α" contradicts it.
    ages = {"category": "age", "entities": ["ageing", "ifn-alpha"]}
    assert index.classify(claim(direction="up", subject="ageing", object="ifn-alpha", **ages)).relation == "contradicts"
    assert index.classify(claim(direction="up", subject="ifn-alpha", object="ageing", **ages)).relation == "novel"
    # Only the paper's own finding, stated as shown, contradicts: a speculation or a restated
    # background against the seed is no evidence against it.
    for shaky in ({"hedged": True}, {"role": "background"}):
        link = index.classify(claim(direction="up", subject="ageing", object="ifn-alpha", **ages, **shaky))
        assert link.relation == "novel", shaky
    # Nor is a relation between two of a broad seed's entities, neither in its role: SR-01 (type I
    # IFNs boost antitumour immunity) lists IFN-α and IFN-β, but "IFN-α lowers IFN-β" is another relation.
    broad = index.classify(claim(entities=["ifn-alpha", "IFNB1", "type-i-ifn"], direction="down",
                                 subject="ifn-alpha", object="IFNB1"))
    assert broad.relation != "contradicts"
    # An association is compatible with a directional seed claim.
    assert index.classify(claim(entities=["IFNE", "IFNAR1"], direction="assoc")).relation == "supports"
    # Another cancer type or study system than the seed's context extends it.
    assert index.classify(claim(entities=["IFNE", "IFNAR1"], direction="down",
                                cancer_type="endometrial cancer")).relation == "extends"
    assert index.classify(claim(entities=["IFNE", "IFNAR1"], direction="down",
                                cancer_type="Ovarian cancer", study_system="mouse")).relation == "supports"
    assert index.classify(claim(entities=["IFNE", "IFNAR1"], direction="down",
                                study_system="in vitro")).relation == "extends"
    # One shared entity puts a sentence on the seed's topic, not on its claim: novel either way ...
    for direction in ("up", "down"):
        link = index.classify(claim(category="ifn", entities=["IFNE"], direction=direction,
                                    sentence="IFN-ε was measured in fallopian tube epithelium."))
        assert (link.relation, link.seed_id) == ("novel", None), direction
    # ... unless the sentence names the seed's subject and, in words, the concept its object is
    # (LF-26: IFNE suppresses ovarian-cancer, a concept no plugin extracts).
    link = index.classify(claim(category="ifn", entities=["IFNE"], direction="down",
                                sentence="IFN-ε restrains the growth of ovarian cancers in mice."))
    assert (link.relation, link.seed_id) == ("supports", "LF-26")
    # Nothing shared: novel, no seed id.
    link = index.classify(claim(category="pathway", entities=["PAX6"]))
    assert (link.relation, link.seed_id, link.score) == ("novel", None, 0.0)


def test_normalised_ids_and_context_dependent_seeds(index):
    # Case, Greek letters and hyphens are folded: "IFN-ε" style spellings of a concept id match.
    assert norm("cGAS–STING") == norm("cgas-sting") == "cgassting"
    assert norm("IFN-α") == norm("ifn alpha") == norm("IFN-alfa")
    link = index.classify(claim(category="pathway", entities=["cGAS-STING", "NF-κB"], direction="up"))
    assert (link.relation, link.seed_id) == ("supports", "LF-20")
    # A seed whose direction depends on context (SR-15, ageing alters IFN ±) is supported both ways.
    for direction in ("up", "down"):
        link = index.classify(claim(category="age", entities=["ageing", "immunosenescence"], direction=direction,
                                    sentence_entities=["type-i-ifn"]))
        assert (link.relation, link.seed_id) == ("supports", "SR-15")
    # A seed listing two relations (LF-06: high dose down, fractionated up) accepts both directions.
    for direction in ("up", "down"):
        link = index.classify(claim(category="pathway", entities=["TREX1"], direction=direction,
                                    sentence_entities=["radiotherapy", "IFNB1"]))
        assert (link.relation, link.seed_id) == ("supports", "LF-06")


# The eval set's para-* abstracts restate papers the seed's LF claims are drawn from.
PARAPHRASES = {
    "para-01": "LF-17", "para-02": "LF-19", "para-04": "LF-26", "para-05": "LF-02", "para-06": "LF-08",
    "para-07": "LF-20", "para-09": "LF-11", "para-10": "LF-12", "para-11": "LF-04", "para-13": "LF-10",
    "para-14": "LF-06", "para-16": "LF-30", "para-17": "LF-30", "para-18": "LF-30", "para-19": "LF-30",
    "para-20": "LF-37", "para-21": "LF-38", "para-22": "LF-35", "para-23": "LF-36", "para-24": "LF-36",
    "para-25": "LF-21", "para-26": "LF-13", "para-27": "LF-16", "para-28": "LF-18", "para-29": "LF-24",
    "para-30": "LF-28", "para-31": "LF-25", "para-32": "LF-01", "para-33": "LF-31",
}


def test_paraphrased_sources_link_to_their_literature_claim(fresh, eval_docs, tmp_path):
    "A floor on linking quality: most restated sources link mostly to the seed claim they support."
    db_path = tmp_path / "e.db"
    run("seed", "load", SEED, "--db", db_path)
    run("ingest", subset(eval_docs, tmp_path, tuple(PARAPHRASES)), "--db", db_path)
    rows = links(open_db(db_path))
    top = {}
    for doc_id in PARAPHRASES:
        seeds = [r["seed_id"] for r in rows if r["doc_id"] == doc_id and r["seed_id"]]
        top[doc_id] = max(set(seeds), key=seeds.count) if seeds else None
    hits = sorted(d for d, lf in PARAPHRASES.items() if top[d] == lf)
    # Measured: 19 of 29 with the built-in plugins of 2026-11-27; many misses link to the SR
    # claim the LF paper backs (e.g. para-13 -> SR-02), which is not wrong.
    assert len(hits) >= 15, (hits, top)


def test_related_categories_come_from_the_seed_record(index):
    "A related category scores 0.4 for the category term; the relation is the seed's data, read from its record."
    assert index.related["therapy"] == {"ifn"}
    rows = [{"seed_id": "X-1", "category": "ifn", "categories": "[]", "subject": "IFNB1", "object": None,
             "direction": "up", "relations": "[]", "entities": json.dumps(["IFNB1", "radiotherapy"]), "context": "{}"}]
    probe = claim(category="therapy", entities=["IFNB1", "radiotherapy"], subject="radiotherapy", object="IFNB1")
    related = SeedIndex(rows, {"therapy": ["ifn"]}).classify(probe)
    unrelated = SeedIndex(rows).classify(probe)
    assert related.score > unrelated.score > 0


def test_context_categories_come_from_the_seed_record(index):
    "A therapy claim's therapies are a setting because the seed record says so, not the core."
    assert index.context_categories == {"therapies": "therapy", "age_groups": "age"}
    rows = [{"seed_id": "X-1", "category": "therapy", "categories": "[]", "subject": "radiotherapy", "object": "IFNB1",
             "direction": "up", "relations": "[]", "entities": json.dumps(["IFNB1", "radiotherapy"]),
             "context": json.dumps({"therapies": ["radiotherapy"]})}]
    probe = claim(category="therapy", entities=["IFNB1", "radiotherapy", "cisplatin"], subject="radiotherapy",
                  object="IFNB1")
    assert SeedIndex(rows, context_categories={"therapies": "therapy"}).classify(probe).relation == "extends"
    assert SeedIndex(rows).classify(probe).relation == "supports"


def test_seed_status_does_not_depend_on_the_order_plugins_arrived_in(fresh, eval_docs, tmp_path):
    "A link reads its sentence's other claims: adding a plugin later relinks its neighbours, as a fresh build has them."
    from click.testing import CliRunner

    from evidex.cli import cli
    from evidex.db import open_db

    def invoke(plugins, *args):
        fresh.reset()
        result = CliRunner().invoke(cli, [str(a) for a in args], env={"EVIDEX_LOAD_PLUGINS": plugins})
        assert result.exit_code == 0, result.output
        return result

    every = "ifn,pathway,therapy,age"
    late, once = tmp_path / "late.db", tmp_path / "once.db"
    for path in (late, once):
        invoke(every, "seed", "load", SEED, "--db", path)
    invoke("ifn,pathway,age", "ingest", eval_docs, "--db", late)
    invoke(every, "extract", "--db", late)  # therapy arrives: every document is extracted again
    invoke(every, "ingest", eval_docs, "--db", once)

    def links(path):
        return sorted(tuple(r) for r in open_db(path).execute(
            "select c.id, l.relation, l.seed_id from claim_links l join claims c on c.id = l.claim_id "
            "where c.superseded_run is null"))

    def status(path):
        return [tuple(r) for r in open_db(path).execute(
            "select seed_id, supporting, contradicting, extending from seed_status order by seed_id")]

    assert links(late) == links(once) and status(late) == status(once)
