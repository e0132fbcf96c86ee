"""What changed between two runs (or two versions of a plugin), and a run's reproducibility receipt.

A claim is *current at run R* when it was first seen at or before R, not superseded at or
before R (nor in a gap of claim_gaps), and its paper not withdrawn at R (a withdrawals row with
withdrawn_run at or before R and no revived_run at or before R). Between runs A < B: **added** =
current at B but not at A; **removed** = current at A but not at B; **changed** = an added and a
removed claim on the same document, field, sentence offsets and category (paired in id order),
reported with the attributes that differ; **seeds** = seed claims of one baseline (B's, else the
current one) whose supporting / contradicting / extending counts differ between A and B, with the
status label before and after.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter, defaultdict
from typing import Any

import click
from sqlite_utils import Database

from . import db as store
from . import runenv
from .errors import UsageError
from .http import public_url
from .models import content_hash
from .seed import SeedIndex, current_baseline, db_option, table, with_sentence_entities

COMPARED = ("subject", "predicate", "object", "direction", "negated", "hedged", "role", "entities",
            "section", "study_system", "cancer_type", "confidence", "negation_cues", "hedge_cues", "extra",
            "plugin")
CURRENT_AT = ("c.first_seen_run <= :run and (c.superseded_run is null or c.superseded_run > :run) "
              "and not exists (select 1 from claim_gaps g where g.claim_id = c.id "
              "and g.superseded_run <= :run and g.restored_run > :run) "
              "and not exists (select 1 from withdrawals w where w.doc_id = c.doc_id and w.withdrawn_run <= :run "
              "and (w.revived_run is null or w.revived_run > :run))")


def _current_at(run: str) -> str:
    "CURRENT_AT for the run named by the parameter :run (e.g. ':a')."
    return CURRENT_AT.replace(":run", run)


def _run(db: Database, run_id: int) -> dict:
    "The runs row of run_id; run 0 is the empty database before the first run (what run 1 added is diff 0 1)."
    if run_id == 0:
        return {"id": 0, "command": None, "started_at": None, "plugins": None, "baseline_id": None,
                "parent_run": None}
    row = db.execute("select * from runs where id = ?", [run_id]).fetchone()
    if row is None:
        raise UsageError(f"no run {run_id}")
    return dict(zip([d[0] for d in db.execute("select * from runs limit 0").description], row))


def run_end(db: Database, run_id: int) -> int:
    "The run whose end is this run's end: its last child for `evidex run` (one fetch run per query), else itself."
    # Children take ids after their parent's, and the parent's own work (catch-up extraction,
    # seed links) carries the parent's smaller id: the state after the last child holds it all.
    return db.execute("select max(id) from runs where id = ? or parent_run = ?", [run_id, run_id]).fetchone()[0] or run_id


def plugin_runs(db: Database, plugin: str) -> tuple[int, int]:
    "The latest run with plugin and the latest earlier run with another version or data hash of it."
    runs = [r for r in db.query("select id, plugins from runs where status != 'running' and parent_run is null "
                                "order by id desc")
            if plugin in json.loads(r["plugins"] or "{}")]
    if not runs:
        raise UsageError(f"no finished run used plugin {plugin!r}")
    latest = json.loads(runs[0]["plugins"])[plugin]
    for r in runs[1:]:
        if json.loads(r["plugins"])[plugin] != latest:
            return r["id"], runs[0]["id"]
    raise UsageError(f"plugin {plugin!r} has one version in every run (latest run {runs[0]['id']}); nothing to compare")


def _claims(db: Database, where: str, params: dict, plugin: str | None) -> list[dict]:
    sql = f"select c.* from claims c where {where}" + (" and c.plugin = :plugin" if plugin else "")
    return list(db.query(sql + " order by c.doc_id, c.field, c.start, c.category, c.id", {**params, "plugin": plugin}))


def _summary(claim: dict) -> dict:
    keys = ("id", "doc_id", "plugin", "plugin_version", "category", "field", "start", "end", "direction",
            "negated", "hedged", "subject", "predicate", "object", "entities", "sentence")
    out = {k: claim.get(k) for k in keys}
    out["entities"] = json.loads(out["entities"] or "[]")
    out["negated"], out["hedged"] = bool(out["negated"]), bool(out["hedged"])
    return out


def diff_runs(db: Database, a: int, b: int, plugin: str | None = None, baseline_id: str | None = None) -> dict:
    "Claims added, removed and changed between runs a and b, and seed claims whose status moved."
    run_a, run_b = _run(db, a), _run(db, b)
    if a >= b:
        raise UsageError(f"run A ({a}) must come before run B ({b})")
    for run in (run_a, run_b):
        if run.get("parent_run"):
            # The scheduled run's own later work (catch-up extraction, linking) carries its smaller
            # id, so the state at the end of one of its fetches cannot be told apart.
            raise UsageError(f"run {run['id']} is one fetch of scheduled run {run['parent_run']}: "
                             f"diff scheduled runs (e.g. {run['parent_run']})")
    end_a, end_b = run_end(db, a), run_end(db, b)
    params = {"a": end_a, "b": end_b}
    # Current at B and not at A, and the reverse: a claim superseded and later restored is in
    # neither when both runs fall outside its gap.
    added = _claims(db, f"{_current_at(':b')} and not ({_current_at(':a')})", params, plugin)
    removed = _claims(db, f"{_current_at(':a')} and not ({_current_at(':b')})", params, plugin)
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for claim in removed:
        by_key[(claim["doc_id"], claim["field"], claim["start"], claim["end"], claim["category"])].append(claim)
    changed, still_added, paired = [], [], set()
    for claim in added:
        olds = by_key.get((claim["doc_id"], claim["field"], claim["start"], claim["end"], claim["category"]))
        if not olds:
            still_added.append(claim)
            continue
        old = olds.pop(0)
        paired.add(old["id"])
        before, after = _summary(old), _summary(claim)
        changes = {k: [before.get(k, old.get(k)), after.get(k, claim.get(k))] for k in COMPARED
                   if before.get(k, old.get(k)) != after.get(k, claim.get(k))}
        changed.append({"doc_id": claim["doc_id"], "category": claim["category"], "sentence": claim["sentence"],
                        "before": old["id"], "after": claim["id"], "changes": changes})
    given = baseline_id
    baseline_id = baseline_id or run_b.get("baseline_id") or current_baseline(db)
    baseline_before = _baseline_at(db, end_a)
    return {
        # No seed review at B at all: its seed section is read against one loaded later, and says so.
        "baseline_loaded_after": bool(baseline_id and not given and _baseline_at(db, end_b) is None),
        # The seed section reads one baseline; a new seed version between A and B is said, not hidden.
        "baseline_before": baseline_before if baseline_before != baseline_id else None,
        # No baseline at A, one at B: the first seed load is a change as much as a new version.
        "baseline_first_loaded": baseline_before is None and _baseline_at(db, end_b) is not None,
        "a": _run_info(run_a), "b": _run_info(run_b), "plugin": plugin, "baseline_id": baseline_id,
        "added": [_summary(c) for c in still_added],
        "removed": [_summary(c) for c in removed if c["id"] not in paired],
        "changed": changed,
        "seeds": seed_changes(db, end_a, end_b, baseline_id, plugin) if baseline_id else [],
    }


def _baseline_at(db: Database, run_id: int) -> str | None:
    "The seed baseline the latest run up to run_id was linked against."
    row = db.execute("select baseline_id from runs where id <= ? and baseline_id is not null order by id desc limit 1",
                     [run_id]).fetchone()
    return row[0] if row else None


def _run_info(run: dict) -> dict:
    return {"id": run["id"], "command": run["command"], "started_at": run["started_at"],
            "plugins": json.loads(run["plugins"] or "{}"), "baseline_id": run.get("baseline_id")}


def seed_counts(db: Database, run_id: int, baseline_id: str, plugin: str | None = None) -> dict[str, Counter]:
    "Per seed id, the relations of the claims current at run_id (linking on the fly where unlinked)."
    # The link in force at the run: the earliest one replaced after it (claim_link_history), else
    # the current one. Only ids and links: a dict per current claim cost most of a diff's time.
    sql = f"""select c.id, coalesce(h.relation, l.relation) as link_relation,
                     case when h.claim_id is null then l.seed_id else h.seed_id end as link_seed
              from claims c
              left join claim_links l on l.claim_id = c.id and l.baseline_id = :baseline
              left join claim_link_history h on h.claim_id = c.id and h.baseline_id = :baseline
                and h.replaced_run = (select min(h2.replaced_run) from claim_link_history h2
                                      where h2.claim_id = c.id and h2.baseline_id = :baseline
                                      and h2.replaced_run > :run)
              where {CURRENT_AT}""" + (" and c.plugin = :plugin" if plugin else "")
    counts: dict[str, Counter] = defaultdict(Counter)
    unlinked = []
    for claim_id, relation, seed_id in db.execute(sql, {"run": run_id, "baseline": baseline_id, "plugin": plugin}):
        if relation is None:
            unlinked.append(claim_id)
        elif seed_id:
            counts[seed_id][relation] += 1
    if unlinked:  # e.g. claims superseded before this baseline was loaded
        index = SeedIndex.for_baseline(db, baseline_id)
        for start in range(0, len(unlinked), 500):
            chunk = unlinked[start:start + 500]
            rows = list(db.query(f"select * from claims where id in ({','.join('?' * len(chunk))})", chunk))
            for row in with_sentence_entities(db, rows):
                link = index.classify(row)
                if link.seed_id:
                    counts[link.seed_id][link.relation] += 1
    return counts


def status_label(counts: Counter) -> str:
    "A seed claim's evidence in a word or two, by the rule of the seed_overview view (views.SEED_OVERVIEW)."
    if counts["contradicts"] and counts["supports"]:
        return "contested"
    if counts["contradicts"]:
        return "contradicted"
    if counts["supports"]:
        return "supported"
    return "extended" if counts["extends"] else "no evidence"


def seed_changes(db: Database, a: int, b: int, baseline_id: str, plugin: str | None = None) -> list[dict]:
    "Seed claims whose evidence counts differ between runs a and b, against one baseline."
    before, after = seed_counts(db, a, baseline_id, plugin), seed_counts(db, b, baseline_id, plugin)
    out = []
    for (seed_id,) in db.execute("select seed_id from seed_claims where baseline_id = ? order by position",
                                 [baseline_id]):
        x, y = before.get(seed_id, Counter()), after.get(seed_id, Counter())
        keys = ("supports", "contradicts", "extends")
        if any(x[k] != y[k] for k in keys):
            out.append({"seed_id": seed_id, "status_before": status_label(x), "status_after": status_label(y),
                        "before": {k: x[k] for k in keys}, "after": {k: y[k] for k in keys}})
    return out


def plugin_versions(result: dict) -> str:
    "'plugin ifn 0.16 -> 0.17', with the data hashes when they changed: what --plugin compared, said in the header."
    name = result["plugin"]
    a, b = ((result[k]["plugins"] or {}).get(name) for k in ("a", "b"))
    version_a, version_b = (p["version"] if p else "not run" for p in (a, b))
    text = f"plugin {name} " + (version_b if version_a == version_b else f"{version_a} -> {version_b}")
    if a and b and a.get("data_hash") != b.get("data_hash"):
        text += f", data {a.get('data_hash')} -> {b.get('data_hash')}"
    return text


def format_table(result: dict) -> str:
    "A diff as text: a header, then one section per kind of change."
    lines = [f"diff run {result['a']['id']} -> run {result['b']['id']}"
             + (f" ({plugin_versions(result)})" if result["plugin"] else "")
             + f": {len(result['added'])} added, {len(result['removed'])} removed, "
               f"{len(result['changed'])} changed, {len(result['seeds'])} seed claims moved"]
    for kind in ("added", "removed"):
        if result[kind]:
            lines += ["", f"{kind.upper()}", table(
                [{**c, "entities": ",".join(c["entities"]), "sentence": c["sentence"][:70]} for c in result[kind]],
                ("id", "doc_id", "plugin", "category", "direction", "negated", "entities", "sentence"))]
    if result["changed"]:
        lines += ["", "CHANGED", table(
            [{**c, "changes": "; ".join(f"{k}: {v[0]} -> {v[1]}" for k, v in c["changes"].items())}
             for c in result["changed"]], ("doc_id", "category", "before", "after", "changes"))]
    if result.get("baseline_before"):
        lines += ["", f"The seed review changed between these runs: baseline {result['baseline_before']} -> "
                      f"{result['baseline_id']}; seed claims below are read against the second "
                      f"(diff --baseline {result['baseline_before']} reads them against the first)"]
    if result.get("baseline_loaded_after"):
        lines += ["", f"No seed review was loaded by run {result['b']['id']}: seed claims are read against "
                      f"baseline {result['baseline_id']}, loaded after it"]
    if result.get("baseline_first_loaded"):
        lines += ["", f"The seed review was first loaded between these runs (baseline {result['baseline_id']}); "
                      "seed claims are read against it at both runs"]
    if result["seeds"]:
        lines += ["", f"SEED CLAIMS (baseline {result['baseline_id']})", table(
            [{"seed_id": s["seed_id"], "status": f"{s['status_before']} -> {s['status_after']}",
              **{k: f"{s['before'][k]} -> {s['after'][k]}" for k in s["before"]}} for s in result["seeds"]],
            ("seed_id", "status", "supports", "contradicts", "extends"))]
    return "\n".join(lines)


@click.command()
@click.argument("a", type=int, required=False)
@click.argument("b", type=int, required=False)
@db_option
@click.option("--plugin", help="Only this plugin's claims; without A and B, its latest version vs the one before")
@click.option("--baseline", "baseline_id", help="Seed baseline for the seed section (default: B's, else current)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def diff(a: int | None, b: int | None, db_path: str, plugin: str | None, baseline_id: str | None, fmt: str) -> None:
    """Claims added, removed and changed between runs A and B, and seed claims whose status changed.

    Example: evidex diff 3 7, evidex diff 0 1 (what the first run added: run 0 is the empty
    database), or evidex diff --plugin ifn (its latest version against the previous)
    """
    db = store.open_db(db_path, create=False, read_only=True)
    if a is None or b is None:
        if a is not None or not plugin:
            raise click.UsageError("give two run ids A and B, or --plugin NAME")
        a, b = plugin_runs(db, plugin)
    if baseline_id and db.execute("select 1 from baselines where id = ?", [baseline_id]).fetchone() is None:
        known = [r[0] for r in db.execute("select id from baselines order by loaded_at")]
        raise UsageError(f"unknown baseline {baseline_id!r}; known: {', '.join(known) or 'none (evidex seed load)'}")
    result = diff_runs(db, a, b, plugin, baseline_id)
    click.echo(json.dumps(result, indent=2, ensure_ascii=False) if fmt == "json" else format_table(result))


def receipt(db: Database, run_id: int) -> dict[str, Any]:
    "Everything needed to rerun a run and check the rerun: inputs, versions, ledger, payload hashes."
    run = _run(db, run_id)
    # A scheduled run's fetches are runs of their own: its receipt covers them.
    runs = [run_id, *(r[0] for r in db.execute("select id from runs where parent_run = ? order by id", [run_id]))]
    marks = ",".join("?" * len(runs))
    ledger = list(db.query(f"select * from ledger where run_id in ({marks}) order by id", runs))
    payloads: list[str] = []
    for row in ledger:
        for key in ("skipped_reasons", "detail"):
            row[key] = json.loads(row[key]) if row.get(key) else None
        payloads += (row["detail"] or {}).get("responses", [])
    baseline = None
    if run.get("baseline_id"):
        # Not loaded_at or path: reloading the seed (every scheduled run does) rewrites those, and
        # a receipt must not change afterwards.
        found = db.execute("select id, doi, title, first_loaded_at, claims_count from baselines where id = ?",
                           [run["baseline_id"]]).fetchone()
        baseline = dict(zip(("id", "doi", "title", "first_loaded_at", "claims_count"), found)) if found \
            else {"id": run["baseline_id"]}
    # A fetch of a scheduled run has no state of its own (see diff_runs): its parent's receipt has it.
    current = None if run.get("parent_run") else [r[0] for r in db.execute(
        "select c.id from claims c where " + CURRENT_AT + " order by c.id", {"run": run_end(db, run_id)})]
    rerun = rerun_command(run, ledger)
    return {
        "receipt": 1,
        "run": {k: run.get(k) for k in ("id", "command", "status", "started_at", "finished_at", "message")},
        "query": run.get("query"), "source": run.get("source"),
        "window": {"start": run.get("window_start") or _edge(min, ledger, "window_start"),
                   "end": run.get("window_end") or _edge(max, ledger, "window_end")},
        "source_urls": _source_urls({run.get("source")} | {r["source"] for r in ledger}, _recorded_urls(db, runs)),
        "evidex_version": run.get("evidex_version"),
        "plugins": json.loads(run.get("plugins") or "{}"),
        "pipeline": json.loads(run["pipeline"]) if run.get("pipeline") else None,
        "baseline": baseline,
        "options": json.loads(run["options"]) if run.get("options") else None,
        "counts": {k: run.get(k) for k in ("documents_seen", "documents_new", "documents_changed", "claims_new",
                                           "claims_superseded", "documents_withdrawn", "withdrawals_not_stored",
                                           "withdrawals_other_version", "withdrawals_already_withdrawn", "errors")}
        | {"claims_restored": store.claims_restored(db, run_id),
           "withdrawn_on_arrival": store.withdrawn_on_arrival(db, run_id)},
        "ledger": ledger,
        "raw_payload_sha256": sorted(set(payloads)),
        "runs": runs[1:],
        "watermarks": list(db.query(f"select * from watermarks where run_id in ({marks})", runs)),
        "claims_current": None if current is None else {"count": len(current),
                                                         "digest": content_hash("claims", *current)},
        "parent_run": run.get("parent_run"),
        "env_vars": json.loads(run["env_vars"]) if run.get("env_vars") else None,
        "rerun": rerun,
        # The same, for a shell; what a receipt could not show (a password) is named below it.
        "rerun_shell": shlex.join(rerun) if rerun else None,
        "rerun_supply": runenv.masked(rerun),
        # What the run ran on, as it recorded it (null for a run from before m023), beside what prints this.
        "environment": json.loads(run["environment"]) if run.get("environment") else None,
        "environment_now": store.run_environment(),
    }


def _recorded_urls(db: Database, runs: list[int]) -> dict[str, str | None]:
    "Base URL each source's fetch among these runs recorded, None for an offline replay (older fetches have none)."
    marks = ",".join("?" * len(runs))
    urls: dict[str, str | None] = {}
    for source, options in db.execute(f"select source, options from runs where id in ({marks}) order by id", runs):
        found = (json.loads(options or "{}") or {}) if source else {}
        if found.get("base_url") or found.get("offline"):
            urls.setdefault(source, found.get("base_url"))
    return urls


def _source_urls(names: set[str | None], recorded: dict[str, str | None]) -> dict[str, str | None]:
    "Base URL each named source used, as its fetch recorded it, else the one it would use now."
    named: set[str] = {n for n in names if n and n != "file"}
    if not named:
        return {}
    if named <= recorded.keys():
        return {n: recorded[n] for n in sorted(named)}
    try:
        from . import get_sources

        sources = get_sources()
    except Exception:  # a broken source plugin must not hide the rest of the receipt
        sources = {}
    # As a fetch records it: a password in an EVIDEX_*_URL set now is no more printed than a stored one.
    now = {n: public_url(url) if (url := getattr(sources.get(n), "base_url", None)) else None
           for n in named - recorded.keys()}
    return {n: recorded[n] if n in recorded else now[n] for n in sorted(named)}


def rerun_command(run: dict, ledger: list[dict]) -> list[str] | None:
    "The command line that repeats a run: its environment variables set, same inputs, query, window and cache."
    argv = _evidex_argv(run, ledger)
    if argv is None:
        return None
    options = json.loads(run["options"]) if run.get("options") else {}
    fetches = run["command"] == "run" or run.get("source") not in (None, "file")
    extracts = not options.get("no_extract")  # a scheduled run's config may not: its variables do no harm
    recorded = json.loads(run["env_vars"]) if run.get("env_vars") else {}  # {}: a run from before m022
    env = {n: v for n, v in recorded.items() if runenv.changes(n, fetches, extracts)}
    if run["command"] == "ingest" and options.get("base_url"):
        # The URL the fetch asked, which for one fetch of a scheduled run may be its config's
        # base_url: its `ingest --source` rerun reads no config, so the variable must say it.
        env.update(_url_setting(run["source"], options["base_url"]))
    return runenv.env_prefix(env) + argv


def _url_setting(source: str, url: str) -> dict[str, str]:
    "{the source's base URL variable: url}, or {} for a source with none (or that no longer loads)."
    try:
        from . import get_sources

        name = getattr(get_sources().get(source), "url_env", "")
    except Exception:  # a broken source plugin must not hide the rest of the receipt
        name = ""
    return {name: url} if name else {}


def _evidex_argv(run: dict, ledger: list[dict]) -> list[str] | None:
    "The evidex command line that repeats a run: same inputs, query and window start, same cache."
    options = json.loads(run["options"]) if run.get("options") else {}
    if run["command"] == "run" and options.get("config"):
        # Every fetch's window ends on the day the run took as today: pinned, a rerun on a later
        # day asks for the same windows. An undated fetch (a query's first, with no since) asked
        # for everything, as ingest's does: its rerun asks for what the services hold then.
        end = options.get("until") or run.get("window_end") or _edge(max, ledger, "window_end")
        dated = all(r["window_start"] for r in ledger)
        return ["evidex", "run", "--config", options["config"], *(["--until", end] if end and dated else []),
                *(["--plugins-dir", options["plugins_dir"]] if options.get("plugins_dir") else [])]
    # The same plugins: a plugins directory, and for extract the extractors it was limited to.
    plugins = ["--plugins-dir", options["plugins_dir"]] if options.get("plugins_dir") else []
    if run["command"] == "extract":
        return ["evidex", "extract", *(["--all"] if options.get("all") else []),
                *(a for name in options.get("only") or [] for a in ("--extractor", name)), *plugins]
    if run["command"] != "ingest":
        return None
    flags = ["--no-extract"] if options.get("no_extract") else []  # else the rerun extracts: another digest
    flags += plugins
    if run.get("source") in (None, "file"):
        return ["evidex", "ingest", *flags, *options.get("files", [])]
    argv = ["evidex", "ingest", *flags, "--source", run["source"], "--query", run.get("query") or ""]
    start = run.get("window_start") or _edge(min, ledger, "window_start")
    if start:
        argv += ["--since", start]
    elif options.get("all"):
        argv.append("--all")
    elif options.get("since"):  # a plugin's search()-only source: no window, the date it was passed
        argv += ["--since", options["since"]]
    end = run.get("window_end") or _edge(max, ledger, "window_end")
    if end and start:
        # The same window, so the same requests: a cache replays them any day. A fetch with no
        # start asked for everything, undated: its rerun asks for what the service holds then.
        argv += ["--until", end]
    if options.get("limit"):
        argv += ["--limit", str(options["limit"])]
    if options.get("batch_size"):  # the efetch requests, so the cache's keys, depend on it
        argv += ["--batch-size", str(options["batch_size"])]
    if options.get("cache_dir"):
        argv += ["--cache-dir", options["cache_dir"]] + (["--offline"] if options.get("offline") else [])
    return argv


def _edge(pick, ledger: list[dict], key: str) -> str | None:
    "The first or last date of the ledger's windows."
    return pick((r[key] for r in ledger if r[key]), default=None)
