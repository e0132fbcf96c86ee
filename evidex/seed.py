"""The seed review as a versioned baseline, and every claim linked to the baseline's claims.

A baseline is the review's record (``review.json``) plus its claims (``claims.jsonl``), stored
under a content hash of both: loading the same files again changes nothing but which baseline
is current (the most recently loaded one); a changed file makes a new version and keeps the old.

Linking rules (``classify``). Every current claim is compared with every seed claim of a
baseline that shares at least one entity with it:

* Entity ids are normalised before comparing: case, Greek letters and their names (α, alpha,
  alfa -> a), hyphens, dashes, spaces and underscores are folded, so ``cGAS–STING`` equals
  ``cgas-sting`` and ``NF-κB`` equals ``nf-kb``, while ``IFNB1`` and ``ifn-beta`` stay apart.
  A claim's subject and object count as entities too.
* Entities are weighted by rarity in the baseline (smoothed inverse document frequency), so a
  shared specific gene outweighs a shared generic concept such as ``type-i-ifn``.
* score = (0.55 * entity overlap + 0.2 * category match + 0.15 * subject/object match
  + 0.1 * setting match) * sides * specificity, where
  entity overlap = 0.7 * (weight of shared / weight of the claim's entities) + 0.3 * (weight of
  shared / weight of the seed's entities); category match = 1 for the seed's main category,
  0.7 for another of its categories, 0.4 for a related category (the seed record's
  ``related_categories``), else 0; subject/
  object match = 0.5 for each of subject and object equal to the seed's (0.25 if swapped);
  setting match = the share of cancer type and study system, among those both the claim and
  the seed name, that agree; sides = (2 + seed subject/object ids named in the claim's
  sentence) / (2 + seed subject/object ids that are entities); specificity = min(1, 0.5 +
  weight of shared / (2 * SPECIFIC_WEIGHT)). So a sentence naming one side of the seed's
  relation, or sharing only generic entities, is weaker evidence.
* The claim's sentence counts: the entities of the other current claims on the same sentence
  (other categories) join the claim's own for scoring, but only the claim's own entities
  select candidate seed claims.
* A seed claim is a candidate only when the sentence shares at least two entities with it
  (``MIN_SHARED``), or names its subject and, written out, the concept its object is when that
  object is no entity (``metastasis``, ``ovarian-cancer``: word stems of the id, so plurals and
  tumour/tumor count). One shared entity puts a sentence on the seed's topic, not on its claim.
* The best-scoring seed claim wins (ties: the earlier one in the file). Below
  ``LINK_THRESHOLD`` the claim is ``novel`` and no seed id is stored.
* Otherwise, in this order: ``contradicts`` if the claim is negated, or its direction is up
  where the seed only says down (or the reverse; a seed may list extra relations, all of whose
  directions count), provided the claim states the seed's relation: neither of its ends in the
  reverse role of the seed's relations (a subject that is only ever acted on there, an object
  that only ever acts), its subject on the seed's subject side and its object on the object side,
  and the claim is the paper's own finding, stated as shown: not hedged, not background.
  An end is on a side when it is one of the side's ids, or an entity of the seed whose plugin
  category only that side's ids share (an aged host stands with ageing). A claim without an
  object states a seed whose object no plugin extracts when its sentence names that concept in
  words (``concept_words``); a negated or opposite claim
  that does not is ``novel``, since polarity about another relation is no evidence; ``extends`` if the claim's context is new for the seed: a cancer type,
  study system, therapy or age group outside what the seed's context lists for that dimension
  (a dimension the seed does not list is general, never "new"); else ``supports`` (same
  direction, or an association, or a seed without a direction).

Links are stored per (claim, baseline) with the matched seed id, score, shared entities and the
plugin version of the claim and the version of these rules (``LINK_RULES``); they are
recomputed when the baseline changes (new rows, old baselines' rows kept), when a claim's plugin
version differs from the one linked, or when the rules that made a link have changed since.
A relink that changes a claim's seed claim or relation keeps the old row in claim_link_history
with the run that replaced it (diff.seed_counts reads the link in force at a past run).
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from sqlite_utils import Database

from . import db as store
from .errors import UsageError
from .models import DIRECTIONS, ISO_DATE, content_hash
from .options import hold_run_lock, plugins_dir_option

DEFAULT_SEED = Path("corpora/seed")
CHECKOUT_SEED = Path(__file__).resolve().parent.parent / DEFAULT_SEED
LINK_THRESHOLD = 0.45
# The version of the rules below, stored on every link: a link made by other rules is redone at
# the next linking, as one made at another plugin version is. Change it whenever a rule changes.
LINK_RULES = "4"
MIN_SHARED = 2  # entities a claim's sentence must share with a seed claim to bear on it
SPECIFIC_WEIGHT = 4.0  # shared entity weight that counts as fully specific (a gene in one seed claim)
RELATIONS = ("supports", "contradicts", "extends", "novel")
OPPOSITE = {"up": "down", "down": "up"}
# Greek letters and their spelled names fold to one Latin letter: IFN-α, IFN-alpha, IFN-alfa and
# "IFNa" compare equal, and so do NF-κB, NF-kappaB and nf-kb.
GREEK = {"α": "a", "ɑ": "a", "β": "b", "ß": "b", "γ": "g", "δ": "d", "ε": "e", "ϵ": "e", "κ": "k",
         "λ": "l", "ω": "o", "μ": "m", "alpha": "a", "alfa": "a", "beta": "b", "gamma": "g",
         "delta": "d", "epsilon": "e", "kappa": "k", "lambda": "l", "omega": "o"}
# Setting keys every claim can fill from its own attributes; others (e.g. the therapies a claim of
# one category names) come from the seed record's context_categories.
CLAIM_ATTRIBUTES = {"cancer_types": "cancer_type", "study_systems": "study_system"}


@functools.lru_cache(maxsize=65536)
def _norm(text: str) -> str:
    text = _fold(text)
    for letter, name in GREEK.items():
        text = text.replace(letter, name)
    return re.sub(r"[\s\-\u2010-\u2015\u2212_/]+", "", text)


def norm(value: Any) -> str:
    "Fold case, Greek letters, hyphens, dashes, spaces and underscores out of an id."
    return _norm(str(value or ""))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", _fold(text))


def _fold(text: str) -> str:
    "Lower case, British spelling folded: ids and sentences compare alike."
    return text.lower().replace("tumour", "tumor")


def concept_words(concept: str | None) -> tuple[str, ...]:
    "Word stems of a concept id, to find it written out: 'tumour-rejection' -> ('tumo', 'rejecti')."
    # A stem two letters short of the word takes plurals and inflections: metastasis/metastases.
    return tuple(w[: max(4, len(w) - 2)] for w in _words(concept or ""))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def read_seed(path: str | Path) -> tuple[dict, list[dict]]:
    "Read review.json and claims.jsonl from a seed folder, checking each claim's shape."
    path = Path(path)
    try:
        record = json.loads((path / "review.json").read_text(encoding="utf-8"))
        lines = (path / "claims.jsonl").read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as ex:  # before JSONDecodeError: both are ValueErrors
        raise UsageError(f"cannot read the seed in {path}: a file is not UTF-8 text ({ex.reason} at byte "
                         f"{ex.start})") from None
    except (OSError, json.JSONDecodeError) as ex:
        raise UsageError(f"cannot read the seed in {path}: {ex}") from None
    if not isinstance(record, dict):
        raise UsageError(f"{path / 'review.json'}: must be a JSON object, not {type(record).__name__}")
    if not any(_is_text(record.get(key)) for key in ("title", "doi")):
        # An empty {} (a file saved before it was filled in) would load as a review of nothing.
        raise UsageError(f"{path / 'review.json'}: names no review: give its title or doi")
    related = record.get("related_categories", {})
    if not isinstance(related, dict) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in related.values()):
        raise UsageError(f"{path / 'review.json'}: related_categories must map a category to a list of categories")
    by_category = record.get("context_categories", {})
    if not isinstance(by_category, dict) or not all(isinstance(v, str) for v in by_category.values()):
        raise UsageError(f"{path / 'review.json'}: context_categories must map a context key to a category")
    claims: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            claim = json.loads(line)
        except json.JSONDecodeError as ex:
            raise UsageError(f"{path / 'claims.jsonl'} line {number}: {ex}") from None
        problem = _claim_problem(claim, seen)
        if problem:
            raise UsageError(f"{path / 'claims.jsonl'} line {number}: {problem}")
        seen.add(claim["id"])
        claims.append(claim)
    if not claims:
        raise UsageError(f"{path / 'claims.jsonl'}: no seed claims; a baseline needs at least one")
    date = record.get("pub_date")
    if date is not None and not (isinstance(date, str) and ISO_DATE.fullmatch(date)):
        raise UsageError(f"{path / 'review.json'}: pub_date must be YYYY, YYYY-MM or YYYY-MM-DD, not {date!r}")
    if record.get("year") is not None and (isinstance(record["year"], bool) or not isinstance(record["year"], int)):
        raise UsageError(f"{path / 'review.json'}: year must be a whole number, not {record['year']!r}")
    return record, claims


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _claim_problem(claim: Any, seen: set[str]) -> str | None:
    "What is wrong with one seed claim's shape, or None: linking reads every one of these fields."
    if not isinstance(claim, dict):
        return f"a seed claim must be a JSON object, not {type(claim).__name__}"
    missing = [k for k in ("id", "category", "direction", "entities", "text") if k not in claim]
    if missing:
        return f"missing {', '.join(missing)}"
    if not _is_text(claim["id"]):
        return f"id must be a non-empty string, not {claim['id']!r}"
    if claim["id"] in seen:
        return f"duplicate id {claim['id']}"
    if claim["direction"] not in DIRECTIONS:
        return f"direction {claim['direction']!r}"
    for key in ("category", "text"):
        if not _is_text(claim[key]):
            return f"{key} must be a non-empty string, not {claim[key]!r}"
    for key in ("subject", "predicate", "object"):
        if claim.get(key) is not None and not isinstance(claim[key], str):
            return f"{key} must be a string, not {claim[key]!r}"
    for key in ("hedged", "context_dependent"):
        # Stored as int(bool(...)): the string "no" would read as hedged.
        if claim.get(key) is not None and not isinstance(claim[key], bool):
            return f"{key} must be true or false, not {claim[key]!r}"
    for key in ("entities", "categories"):
        value = claim.get(key)
        if key in claim and not (isinstance(value, list) and all(_is_text(v) for v in value)):
            return f"{key} must be a list of strings, not {value!r}"
    relations = claim.get("relations")
    if relations is not None:
        if not isinstance(relations, list) or not all(isinstance(r, dict) for r in relations):
            return f"relations must be a list of objects, not {relations!r}"
        for r in relations:
            if r.get("direction", "none") not in DIRECTIONS:
                return f"relations: direction {r.get('direction')!r}"
            if any(r.get(k) is not None and not isinstance(r[k], str) for k in ("subject", "object")):
                return f"relations: subject and object must be strings, not {r!r}"
    context = claim.get("context")
    # A setting lists values (cancer types a seed holds for) or flags one ("non_cancer": true).
    if context is not None and not (isinstance(context, dict) and all(
            isinstance(v, (str, bool, int, float)) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
            for v in context.values())):
        return f"context must map a setting to a value or a list of strings, not {context!r}"
    return None


def baseline_hash(record: dict, claims: list[dict]) -> str:
    "Content hash of a seed: the same record and claims give the same baseline id."
    return content_hash("baseline", json.dumps([record, claims], sort_keys=True, ensure_ascii=False))


def load_baseline(db: Database, path: str | Path = DEFAULT_SEED) -> tuple[str, bool]:
    "Store a seed folder as a baseline version and make it current; returns (id, created)."
    record, claims = read_seed(path)
    baseline_id = baseline_hash(record, claims)
    now = _now()
    with db.atomic():
        if db.execute("select 1 from baselines where id = ?", [baseline_id]).fetchone():
            db.table("baselines").update(baseline_id, {"loaded_at": now, "path": str(path)})
            return baseline_id, False
        db.table("baselines").insert({
            "id": baseline_id, "doi": record.get("doi"), "title": record.get("title"),
            "record": json.dumps(record, ensure_ascii=False), "loaded_at": now, "first_loaded_at": now,
            "claims_count": len(claims), "path": str(path),
            "review_date": record.get("pub_date") or (str(record["year"]) if record.get("year") else None),
        })
        db.table("seed_claims").insert_all([{
            "baseline_id": baseline_id, "seed_id": c["id"], "position": i, "kind": c.get("kind"),
            "category": c["category"], "categories": json.dumps(c.get("categories") or [c["category"]]),
            "subject": c.get("subject"), "predicate": c.get("predicate"), "object": c.get("object"),
            "direction": c["direction"], "relations": json.dumps(c.get("relations") or []),
            "hedged": int(bool(c.get("hedged"))), "entities": json.dumps(c["entities"], ensure_ascii=False),
            "context": json.dumps(c.get("context") or {}, ensure_ascii=False), "text": c["text"],
            "record": json.dumps(c, ensure_ascii=False),
        } for i, c in enumerate(claims)])
    return baseline_id, True


def current_baseline(db: Database) -> str | None:
    "The id of the most recently loaded baseline, or None before any seed load."
    if not db["baselines"].exists():
        return None
    row = db.execute("select id from baselines order by loaded_at desc, rowid desc limit 1").fetchone()
    return row[0] if row else None


@dataclass
class Seed:
    "One seed claim prepared for scoring."

    seed_id: str
    category: str
    categories: set[str]
    subject: str
    object: str
    directions: set[str]
    entities: dict[str, str]  # normalised -> as written
    context: dict[str, set[str]] = field(default_factory=dict)
    weight: float = 0.0  # total weight of its entities, set by SeedIndex
    concept_words: tuple[str, ...] = ()  # word stems of its object's id ("metastasis" -> "metasta")
    # The subject and object ids of its relations, and those only ever acting or only acted on.
    subjects: frozenset[str] = frozenset()
    objects: frozenset[str] = frozenset()
    acting: frozenset[str] = frozenset()
    acted_on: frozenset[str] = frozenset()


@dataclass
class Facts:
    "What scoring needs of one claim, computed once per claim."

    category: str | None
    subject: str
    object: str
    weight: float  # total weight of the claim's (and its sentence's) entities
    context: dict[str, set[str]]


@dataclass
class Link:
    "The classification of one claim against one baseline."

    relation: str
    seed_id: str | None = None
    score: float = 0.0
    shared: list[str] = field(default_factory=list)


class SeedIndex:
    "A baseline's seed claims with entity weights and an entity -> seeds index."

    def __init__(self, rows: Iterable[dict], related: dict[str, Iterable[str]] | None = None,
                 context_categories: dict[str, str] | None = None,
                 entity_categories: dict[str, set[str]] | None = None):
        # Which categories bear on which, and which category's entities are a setting (the
        # therapies a claim names), is the seed's domain knowledge, so it comes with the seed.
        self.related = {category: set(others) for category, others in (related or {}).items()}
        self.context_categories = dict(context_categories or {})
        # The categories the plugins gave each entity id (normalised): which side of a seed's
        # relation an entity of the seed stands on.
        self.entity_categories = {norm(e): set(c) for e, c in (entity_categories or {}).items()}
        self.seeds: list[Seed] = []
        for row in rows:
            relations = json.loads(row["relations"] or "[]")
            context = json.loads(row["context"] or "{}")
            subjects = {norm(row["subject"]), *(norm(r.get("subject")) for r in relations)} - {""}
            objects = {norm(row["object"]), *(norm(r.get("object")) for r in relations)} - {""}
            self.seeds.append(Seed(
                seed_id=row["seed_id"], category=row["category"],
                categories=set(json.loads(row["categories"] or "[]")) | {row["category"]},
                subject=norm(row["subject"]), object=norm(row["object"]), concept_words=concept_words(row["object"]),
                directions={row["direction"], *(r.get("direction", "none") for r in relations)},
                entities={norm(e): e for e in json.loads(row["entities"])},
                context={k: {norm(v) for v in ([vs] if isinstance(vs, str) else vs)}
                         for k, vs in context.items() if isinstance(vs, (str, list))},
                subjects=frozenset(subjects), objects=frozenset(objects),
                acting=frozenset(subjects - objects), acted_on=frozenset(objects - subjects),
            ))
        df = Counter(e for s in self.seeds for e in s.entities)
        n = len(self.seeds)
        self.weights = {e: math.log((n + 1) / (d + 1)) + 1 for e, d in df.items()}
        self.unseen_weight = math.log(n + 1) + 1
        for s in self.seeds:
            s.weight = sum(self.weights[e] for e in s.entities)
        self.by_entity: dict[str, list[int]] = {}
        for i, s in enumerate(self.seeds):
            for e in s.entities:
                self.by_entity.setdefault(e, []).append(i)

    @classmethod
    def for_baseline(cls, db: Database, baseline_id: str) -> SeedIndex:
        row = db.execute("select record from baselines where id = ?", [baseline_id]).fetchone()
        record = json.loads(row[0] or "{}") if row else {}
        rows = list(db.query("select * from seed_claims where baseline_id = ? order by position", [baseline_id]))
        ids = sorted({e for r in rows for e in (*json.loads(r["entities"] or "[]"), r["subject"], r["object"]) if e})
        categories: dict[str, set[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for entity, category in db.execute(f"""select distinct entity, category from claim_entities
                                                   where entity in ({','.join('?' * len(chunk))})""", chunk):
                categories.setdefault(entity, set()).add(category)
        return cls(rows, record.get("related_categories"), record.get("context_categories"), categories)

    def weight(self, entity: str) -> float:
        return self.weights.get(entity, self.unseen_weight)

    def classify(self, claim: dict) -> Link:
        "Link one claim (a claims-table row) to its best seed claim; see the module docstring."
        own = {norm(e): e for e in _json_list(claim.get("entities"))}
        for key in ("subject", "object"):
            if claim.get(key) and norm(claim[key]) not in own:
                own[norm(claim[key])] = claim[key]
        own.pop("", None)
        # The sentence's other claims (other categories) name the other side of the relation.
        entities = {**{norm(e): e for e in claim.get("sentence_entities") or []}, **own}
        entities.pop("", None)
        candidates = sorted({i for e in own for i in self.by_entity.get(e, [])})
        best: tuple[float, int, list[str]] | None = None
        facts = Facts(claim.get("category"), norm(claim.get("subject")), norm(claim.get("object")),
                      sum(self.weight(e) for e in entities), claim_context(claim, self.context_categories))
        for i in candidates:
            score, shared = self.score(facts, entities, self.seeds[i])
            if len(shared) < MIN_SHARED and not self.names_both_ends(self.seeds[i], entities, claim.get("sentence") or ""):
                # One shared entity says the sentence is on the seed's topic, not about its claim:
                # "chemotherapy cycles predicted survival" is no evidence that IFN enhances chemotherapy.
                continue
            if best is None or score > best[0] + 1e-9:
                best = (score, i, shared)
        if best is None or best[0] < LINK_THRESHOLD:
            return Link("novel", None, round(best[0], 4) if best else 0.0, [])
        score, i, shared = best
        seed = self.seeds[i]
        same = comparable(seed, facts.subject, facts.object, claim.get("sentence") or "", self.entity_categories)
        relation = relate(claim, seed, same, facts.context)
        if relation == "novel":
            return Link("novel", None, round(score, 4), [])
        return Link(relation, seed.seed_id, round(score, 4), shared)

    @staticmethod
    def names_both_ends(seed: Seed, entities: dict[str, str], sentence: str) -> bool:
        "Does the sentence name the seed's subject, and in words the concept its object is (no plugin extracts it)?"
        # "Chromosome mis-segregation promotes metastasis through cGAS-STING signalling" shares one
        # entity with "cGAS-STING promotes metastasis", and states the other end in words.
        if seed.object in seed.entities or seed.subject not in entities or not seed.concept_words:
            return False
        words = _words(sentence)
        return all(any(w.startswith(stem) for w in words) for stem in seed.concept_words)

    def score(self, facts: Facts, entities: dict[str, str], seed: Seed) -> tuple[float, list[str]]:
        shared = [e for e in entities if e in seed.entities]
        if not shared:
            return 0.0, []
        w_shared = sum(self.weight(e) for e in shared)
        overlap = 0.7 * w_shared / facts.weight + 0.3 * w_shared / seed.weight
        category = facts.category
        cat = 1.0 if category == seed.category else 0.7 if category in seed.categories else \
            0.4 if seed.categories & self.related.get(category or "", set()) else 0.0
        subj, obj = facts.subject, facts.object
        so = 0.5 * (bool(subj) and subj == seed.subject) + 0.5 * (bool(obj) and obj == seed.object)
        if not so:
            so = 0.25 * (bool(subj) and subj == seed.object) + 0.25 * (bool(obj) and obj == seed.subject)
        # A seed relates its subject to its object: a sentence naming only one side is weaker
        # evidence, and so is one sharing only generic (frequent) entities.
        keys = {seed.subject, seed.object} & set(seed.entities)
        sides = (2 + len(keys & set(entities))) / (2 + len(keys))
        specificity = min(1.0, 0.5 + w_shared / (2 * SPECIFIC_WEIGHT))
        # The same setting (cancer type, study system) as a seed that names one is a closer match.
        context = facts.context
        both = [k for k in ("cancer_types", "study_systems") if context[k] and seed.context.get(k)]
        setting = sum(bool(context[k] & seed.context[k]) for k in both) / len(both) if both else 0.0
        score = (0.55 * overlap + 0.2 * cat + 0.15 * so + 0.1 * setting) * sides * specificity
        return score, sorted(entities[e] for e in shared)


def comparable(seed: Seed, subject: str, object_: str, sentence: str = "",
               categories: dict[str, set[str]] | None = None) -> bool:
    "Does the claim state the seed's relation: its subject on the seed's subject side, its object on the object side?"
    # Two shared entities alone are not enough: "DNMT inhibitors trigger an IFN response" shares a
    # therapy and type I IFN with "chronic IFN signalling promotes therapy resistance" but states
    # another relation. The claim's own ends must be the seed's, the same way round.
    if not subject or subject == object_ or subject in seed.acted_on or (object_ and object_ in seed.acting):
        return False
    categories = categories or {}
    if not _on_side(subject, seed.subjects, seed.objects, seed, categories):
        return False
    if object_:
        return _on_side(object_, seed.objects, seed.subjects, seed, categories)
    # No object entity: the seed's object must be a concept no plugin extracts ("metastasis",
    # "ovarian-cancer"), named in the sentence in words.
    words = _words(sentence)
    return seed.object not in categories and bool(seed.concept_words) and all(
        any(w.startswith(stem) for w in words) for stem in seed.concept_words)


def _on_side(end: str, ids: frozenset[str], other: frozenset[str], seed: Seed, categories: dict[str, set[str]]) -> bool:
    "Is end one of ids, or another of the seed's entities of the same category as one of them (aged host for ageing)?"
    if end in ids:
        return True
    if end not in seed.entities or end not in categories:
        return False
    # An entity of the seed stands on the side whose ids share its category, if only that side does:
    # where subject and object share one (two pathway genes), only the ids themselves tell.
    mine = set().union(*(categories.get(i, set()) for i in ids))
    theirs = set().union(*(categories.get(i, set()) for i in other))
    return bool(categories[end] & (mine - theirs))


def relate(claim: dict, seed: Seed, same_relation: bool = True, context: dict[str, set[str]] | None = None) -> str:
    "supports / contradicts / extends (or novel) for a claim already matched to seed."
    direction = claim.get("direction") or "none"
    against = claim.get("negated") or (direction in OPPOSITE and OPPOSITE[direction] in seed.directions
                                       and direction not in seed.directions)
    if against:
        # Polarity only compares when the sentence states the seed's relation, as the paper's own
        # finding: a speculation ("these findings suggest") or a restated background is no evidence.
        asserted = claim.get("role") != "background" and not claim.get("hedged")
        return "contradicts" if same_relation and asserted else "novel"
    # context: the claim's claim_context, when the caller has it already.
    for key, values in (context if context is not None else claim_context(claim)).items():
        if seed.context.get(key) and any(v not in seed.context[key] for v in values):
            return "extends"
    return "supports"


def claim_context(claim: dict, context_categories: dict[str, str] | None = None) -> dict[str, set[str]]:
    "A claim's setting, normalised: cancer type, study system, and the entities of context categories."
    extra = claim.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra or "{}")
    extra_context = extra.get("context") or {}
    entities = _json_list(claim.get("entities"))
    context = {key: {claim.get(attribute)} for key, attribute in CLAIM_ATTRIBUTES.items()}
    for key, category in (context_categories or {}).items():
        context[key] = set(entities) if claim.get("category") == category else set()
    for key, more in extra_context.items():
        if isinstance(more, (str, list)):
            context.setdefault(key, set()).update([more] if isinstance(more, str) else more)
    return {k: {norm(v) for v in values if v} for k, values in context.items()}


def _json_list(value: Any) -> list:
    if isinstance(value, str):
        return json.loads(value or "[]")
    return list(value or [])


def claims_to_link(db: Database, baseline_id: str, force: bool = False, run_id: int | None = None) -> list[str]:
    """Ids of current claims not linked to the baseline yet, or linked at another plugin version or by other rules.

    With run_id, also every current claim on a sentence where that run (or its fetches) added,
    superseded or restored a claim: a link reads the entities of the other claims on its
    sentence, so a new or upgraded plugin changes its neighbours' links too.
    """
    sql = """select c.id from claims c left join claim_links l on l.claim_id = c.id and l.baseline_id = ?
             where c.superseded_run is null"""
    if not force:
        sql += " and (l.claim_id is null or l.plugin_version is not c.plugin_version or l.rules is not ?)"
    ids = [r[0] for r in db.execute(sql, [baseline_id] if force else [baseline_id, LINK_RULES])]
    if run_id is None or force:
        return ids
    # From the touched sentences to their claims (cross join: that order, by the doc_id index).
    neighbours = db.execute("""
        with runs_of as (select id from runs where id = :run or parent_run = :run),
        touched as (
          select doc_id, field, start, "end" from claims
          where first_seen_run in (select id from runs_of) or superseded_run in (select id from runs_of)
          union
          select c.doc_id, c.field, c.start, c."end" from claim_gaps g join claims c on c.id = g.claim_id
          where g.restored_run in (select id from runs_of))
        select c.id from touched t cross join claims c
          on c.doc_id = t.doc_id and c.field = t.field and c.start = t.start and c."end" = t."end"
        where +c.superseded_run is null""", {"run": run_id})
    return sorted(set(ids).union(r[0] for r in neighbours))


def link_claims(db: Database, baseline_id: str | None = None, run_id: int | None = None,
                force: bool = False, ids: list[str] | None = None) -> Counter:
    "Link the claims claims_to_link names (or ids) to the baseline; run_id is the run doing it."
    baseline_id = baseline_id or current_baseline(db)
    counts: Counter = Counter()
    if baseline_id is None:
        return counts
    index = SeedIndex.for_baseline(db, baseline_id)
    if ids is None:
        ids = claims_to_link(db, baseline_id, force, run_id)
    now = _now()
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        rows = []
        marks = ",".join("?" * len(chunk))
        claims = list(db.query(f"select * from claims where id in ({marks})", chunk))
        old = {r["claim_id"]: r for r in db.query(
            f"select * from claim_links where baseline_id = ? and claim_id in ({marks})", [baseline_id, *chunk])}
        replaced = []
        for claim in with_sentence_entities(db, claims):
            link = index.classify(claim)
            counts[link.relation] += 1
            rows.append({"claim_id": claim["id"], "baseline_id": baseline_id, "seed_id": link.seed_id,
                         "relation": link.relation, "score": link.score,
                         "shared_entities": json.dumps(link.shared, ensure_ascii=False),
                         "plugin_version": claim["plugin_version"], "rules": LINK_RULES, "run_id": run_id,
                         "linked_at": now})
            before = old.get(claim["id"])
            if before and (before["relation"], before["seed_id"]) != (link.relation, link.seed_id):
                # Relinked to another seed claim or relation (new rules, a new plugin version): the
                # old link stays in history, so the seed status at a past run is what it was then.
                replaced.append({**before, "replaced_run": run_id})
        with db.atomic():
            if replaced:
                # The first replacement within a run holds the state before it; later ones add nothing.
                db.table("claim_link_history").insert_all(replaced, ignore=True)
            db.table("claim_links").insert_all(rows, replace=True)
    return counts


def with_sentence_entities(db: Database, claims: list[dict]) -> list[dict]:
    "Add to each claim the entities of every current claim on the same sentence."
    docs = sorted({c["doc_id"] for c in claims})
    found: dict[tuple, set[str]] = {}
    for start in range(0, len(docs), 500):
        chunk = docs[start:start + 500]
        for row in db.query(f"""select doc_id, field, start, "end", entities from claims
                                where +superseded_run is null and doc_id in ({','.join('?' * len(chunk))})""",
                                chunk):  # "+": look up by doc_id; the superseded_run index walks every claim
            key = (row["doc_id"], row["field"], row["start"], row["end"])
            found.setdefault(key, set()).update(_json_list(row["entities"]))
    for claim in claims:
        key = (claim["doc_id"], claim["field"], claim["start"], claim["end"])
        claim["sentence_entities"] = sorted(found.get(key, ()))
    return claims


def link_after_run(db: Database, run_id: int) -> bool:
    "Record the run's baseline and link its new claims; a failure is a run error (False), not a crash."
    try:
        baseline_id = current_baseline(db)
        if baseline_id is None:
            return True
        db.execute("update runs set baseline_id = ? where id = ? and baseline_id is null", [baseline_id, run_id])
        link_claims(db, baseline_id, run_id)
    except Exception as ex:  # linking must never lose the run's stored claims
        store.record_error(db, run_id, "link", f"{type(ex).__name__}: {ex}")
        return False
    return True


STATUS_COLUMNS = ("seed_id", "kind", "category", "direction", "supporting", "contradicting", "extending",
                  "documents", "pmids", "newest_evidence", "documents_after_review", "claims_after_review")


def seed_status(db: Database) -> list[dict]:
    "The seed_status view's rows: evidence per seed claim of the current baseline."
    return list(db.query("select * from seed_status order by position"))


db_option = click.option(
    "--db", "db_path", type=click.Path(dir_okay=False), default="evidex.db", envvar="EVIDEX_DB",
    show_default=True, help="SQLite database file (env EVIDEX_DB)",
)


@click.group()
def seed() -> None:
    "The seed review: load it as a baseline version, link claims to it, show its status."


@seed.command("load")
@click.argument("path", type=click.Path(file_okay=False), default=str(DEFAULT_SEED))
@db_option
@plugins_dir_option
def seed_load(path: str, db_path: str, plugins_dir: str | None) -> None:
    "Load PATH (review.json + claims.jsonl) as a baseline version and link current claims to it."
    if path == str(DEFAULT_SEED) and not Path(path).is_dir() and CHECKOUT_SEED.is_dir():
        path = str(CHECKOUT_SEED)  # run from outside a checkout of an editable install
    extractors = None
    if plugins_dir:
        from . import get_extractors

        # The seed's categories are checked against these too. A directory named that cannot be
        # loaded is refused before anything is stored, as extract refuses it.
        extractors = list(get_extractors(plugins_dir).values())
    hold_run_lock(db_path)
    db = store.open_db(db_path)
    options = {"path": str(path), **({"plugins_dir": os.path.abspath(plugins_dir)} if plugins_dir else {})}
    # One transaction: a seed that cannot be linked is not left behind as the current baseline.
    with db.atomic():
        baseline_id, created = load_baseline(db, path)
        counts = _link_in_a_run(db, "seed load", baseline_id, claims_to_link(db, baseline_id), options)
    n = db.execute("select claims_count from baselines where id = ?", [baseline_id]).fetchone()[0]
    # A summary, on stderr as run's and ingest's: the product is the database, so a closed stdout
    # (a cron job's `>&-`) is no failure of a load already committed.
    click.echo(f"baseline {baseline_id} ({'new' if created else 'already loaded'}, {n} seed claims) is current; "
               f"linked {sum(counts.values())} claims" + _summary(counts), err=True)
    warning = unextracted_categories(db, baseline_id, extractors)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    from .plugins import state

    # The categories were checked without a plugin that failed to import: named, and exit 1, as extract does.
    for name, error in state.failures:
        click.echo(f"plugin {name} failed to load: {error}", err=True)
    if state.failures:
        raise SystemExit(1)


def unextracted_categories(db: Database, baseline_id: str, extractors: list | None = None) -> str | None:
    """One line naming the baseline's seed claims of a category no extractor produces, or None.

    extractors: the ones a run extracts with (its --plugins-dir ones too); by default the installed ones.
    """
    from . import get_extractors
    from .errors import EvidexError

    try:
        if extractors is None:
            extractors = list(get_extractors().values())
        produced = {c for extractor in extractors for c in extractor.categories}
    except EvidexError as ex:  # a plugin clash: reported by the commands that extract
        return f"cannot check the seed's categories against the plugins: {ex}"
    missing: dict[str, list[str]] = {}
    for row in db.query("select seed_id, category, categories from seed_claims where baseline_id = ? order by position",
                        [baseline_id]):
        if not {row["category"], *json.loads(row["categories"] or "[]")} & produced:
            missing.setdefault(row["category"], []).append(row["seed_id"])
    if not missing:
        return None
    # Not refused: the plugin may be installed later. Until then no claim matches their category.
    n = sum(len(ids) for ids in missing.values())
    named = "; ".join(f"{category}: {', '.join(ids[:4])}" + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
                      for category, ids in sorted(missing.items()))
    return (f"no installed plugin extracts the category of {n} seed claim{'s' if n > 1 else ''} ({named}): no claim "
            f"will match their category, so few if any will link to them (extracted: {', '.join(sorted(produced)) or 'none'})")


@seed.command("link")
@db_option
@click.option("--all", "everything", is_flag=True, help="Recompute every current claim's link")
def seed_link(db_path: str, everything: bool) -> None:
    "Link current claims to the current baseline (those not linked yet, or all with --all)."
    db = store.open_db(db_path, create=False)
    baseline_id = current_baseline(db)
    if baseline_id is None:
        raise UsageError("no baseline loaded: run 'evidex seed load' first")
    hold_run_lock(db_path)
    # A run of its own: links it changes are dated, so diff shows the seed claims that moved.
    with db.atomic():
        counts = _link_in_a_run(db, "seed link", baseline_id, claims_to_link(db, baseline_id, everything),
                                {"all": everything})
    click.echo(f"baseline {baseline_id}: linked {sum(counts.values())} claims" + _summary(counts), err=True)


def _link_in_a_run(db: Database, command: str, baseline_id: str, ids: list[str], options: dict) -> Counter:
    "Link ids to the baseline under a run of their own (none when there is nothing to link)."
    # A run dates the links it changes, so diff and the history show the seed claims that moved.
    if not ids:
        return Counter()
    run_id = store.start_run(db, command, baseline_id=baseline_id, options=options)
    counts = link_claims(db, baseline_id, run_id, ids=ids)
    store.finish_run(db, run_id, "ok", f"linked {sum(counts.values())} claims" + _summary(counts))
    return counts


@seed.command("status")
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def seed_status_command(db_path: str, fmt: str) -> None:
    "Per seed claim: supporting, contradicting and extending claims, documents, newest evidence."
    db = store.open_db(db_path, create=False, read_only=True)
    if current_baseline(db) is None:
        raise UsageError("no baseline loaded: run 'evidex seed load' first")
    rows = seed_status(db)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    click.echo(table(rows, STATUS_COLUMNS))


def table(rows: list[dict], columns: Iterable[str]) -> str:
    "Rows as a plain aligned text table."
    columns = list(columns)
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _summary(counts: Counter) -> str:
    return (": " + ", ".join(f"{counts[r]} {r}" for r in RELATIONS if counts[r])) if counts else ""


def add_commands(cli: click.Group) -> None:
    "Register `evidex seed ...` and `evidex diff` on the main command group."
    from .diff import diff

    cli.add_command(seed)
    cli.add_command(diff)
