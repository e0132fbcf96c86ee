"""The `evidex run` config file: strict TOML, every key checked, secrets kept out."""

from __future__ import annotations

import datetime
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_CONFIG = "corpora/evidex.toml"

# The whole config schema: section -> key -> type. Anything else is an error naming the key.
RUN_KEYS: dict[str, type] = {
    "db": str, "plugins_dir": str, "extract": bool, "link_seed": bool, "seed": str, "since": str,
    "workers": int,
}
SOURCE_KEYS: dict[str, type] = {
    "enabled": bool, "email_env": str, "api_key_env": str, "base_url": str, "batch_size": int,
}
QUERY_KEYS: dict[str, type] = {"id": str, "title": str, "enabled": bool}  # plus one string per source
TOP_KEYS: dict[str, type] = {"run": dict, "sources": dict, "blocks": dict, "queries": list}
KNOWN_SOURCES = ("pubmed", "europepmc")
# Keys people reach for when they try to put a secret or contact detail in the file.
SECRET_KEYS = {"api_key", "apikey", "key", "email", "token", "password", "ncbi_api_key"}
TYPE_NAMES = {str: "a string", bool: "true or false", dict: "a table", list: "an array of tables", int: "an integer"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


@dataclass
class SourceConfig:
    "One [sources.NAME] table."

    name: str
    enabled: bool = True
    email_env: str = "EVIDEX_EMAIL"
    api_key_env: str | None = None
    base_url: str | None = None
    batch_size: int = 200

    @property
    def email(self) -> str | None:
        return os.environ.get(self.email_env) or None

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None if self.api_key_env else None


@dataclass
class QueryConfig:
    "One [[queries]] entry, with its blocks already expanded, per source."

    id: str
    title: str
    texts: dict[str, str]  # source name -> query text
    enabled: bool = True


@dataclass
class Config:
    "A validated run configuration."

    path: Path
    db: Path | None = None
    plugins_dir: Path | None = None
    extract: bool = True
    workers: int = 1
    link_seed: bool = True
    seed: Path | None = None
    since: str | None = None
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    queries: list[QueryConfig] = field(default_factory=list)


def _type_name(value: Any) -> str:
    return {bool: "true/false", str: "a string", int: "an integer", float: "a number",
            dict: "a table", list: "an array"}.get(type(value), type(value).__name__)


def _check_table(where: str, table: Any, schema: dict[str, type], path: Path, extra: tuple[str, ...] = ()) -> None:
    "Refuse unknown keys and wrong types, naming the key."
    if not isinstance(table, dict):
        raise ConfigError(f"config {path}: '{where}' must be a table, not {_type_name(table)}")
    for key, value in table.items():
        name = f"{where}.{key}" if where else key
        if key.lower() in SECRET_KEYS:
            raise ConfigError(
                f"config {path}: key '{name}' is not allowed: secrets and emails come from the "
                "environment (EVIDEX_EMAIL, NCBI_API_KEY), never from the config file"
            )
        if key in extra:
            expected: type = str
        elif key in schema:
            expected = schema[key]
        else:
            known = ", ".join([*schema, *extra])
            raise ConfigError(f"config {path}: unknown key '{name}' (known keys: {known})")
        # bool is an int subclass and TOML has no null, so an exact type check is right here.
        if type(value) is not expected:
            raise ConfigError(
                f"config {path}: '{name}' must be {TYPE_NAMES[expected]}, not {_type_name(value)}"
            )


def read_toml(path: Path) -> dict[str, Any]:
    "Parse a TOML file; every failure is a one-line ConfigError."
    if not path.exists():
        raise ConfigError(f"config file {path} not found (use --config FILE or EVIDEX_CONFIG)")
    if path.is_dir():
        raise ConfigError(f"config {path} is a directory, not a file")
    try:
        data = path.read_bytes()
    except OSError as ex:
        raise ConfigError(f"config {path}: cannot read: {ex.strerror or ex}") from None
    if not data.strip():
        raise ConfigError(f"config {path} is empty: it needs at least one [[queries]] entry")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as ex:
        raise ConfigError(f"config {path} is not UTF-8 text ({ex.reason} at byte {ex.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as ex:
        raise ConfigError(f"config {path} is not valid TOML: {ex}") from None


def expand(text: str, blocks: dict[str, str], where: str, path: Path, depth: int = 0) -> str:
    "Replace {NAME} with its block, recursively; an unknown name is an error."
    if depth > 10:
        raise ConfigError(f"config {path}: '{where}': blocks refer to each other in a loop")

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in blocks:
            raise ConfigError(f"config {path}: '{where}' uses unknown block {{{name}}} (define it under [blocks])")
        return expand(blocks[name], blocks, f"blocks.{name}", path, depth + 1)

    return _PLACEHOLDER.sub(sub, text)


def check_query(text: str) -> str | None:
    "What is wrong with a search expression (quotes, brackets, operators), or None."
    if not text.strip():
        return "it is empty"
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        return "it contains a control character"
    if text.count('"') % 2:
        return "it has an unclosed double quote"
    stack: list[str] = []
    outside = []  # the text outside quoted phrases, for the operator checks
    quoted = False
    pairs = {")": "(", "]": "["}
    for ch in text:
        if ch == '"':
            quoted = not quoted
            continue
        if quoted:
            continue
        outside.append(ch)
        if ch in "([":
            stack.append(ch)
        elif ch in ")]":
            if not stack or stack.pop() != pairs[ch]:
                return f"it has an unmatched '{ch}'"
    if stack:
        return f"it has an unclosed '{stack[-1]}'"
    bare = "".join(outside)
    if re.search(r"\(\s*\)", bare):
        return "it has empty parentheses"
    if re.match(r"\s*(AND|OR)\b", bare) or re.search(r"\b(AND|OR|NOT)\s*$", bare):
        return "it starts or ends with a boolean operator"
    if re.search(r"\b(AND|OR|NOT)\s+(AND|OR)\b", bare) or re.search(r"\(\s*(AND|OR)\b|\b(AND|OR|NOT)\s*\)", bare):
        return "it has a boolean operator with nothing on one side"
    return None


def _relative(base: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base / p


def load_config(path: str | os.PathLike) -> Config:
    "Read and strictly validate a run config; every problem is a one-line ConfigError."
    path = Path(path)
    data = read_toml(path)
    _check_table("", data, TOP_KEYS, path)
    base = path.parent
    cfg = Config(path=path)

    run = data.get("run", {})
    if isinstance(run, dict) and type(run.get("since")) is datetime.date:
        run["since"] = run["since"].isoformat()  # TOML's own date (since = 2026-01-31), as the quoted form
    _check_table("run", run, RUN_KEYS, path)
    if "db" in run:
        cfg.db = _relative(base, run["db"])
    if "plugins_dir" in run:
        cfg.plugins_dir = _relative(base, run["plugins_dir"])
        if not cfg.plugins_dir.is_dir():
            raise ConfigError(f"config {path}: 'run.plugins_dir': directory {cfg.plugins_dir} does not exist")
    if "seed" in run:
        cfg.seed = _relative(base, run["seed"])
        if not cfg.seed.is_dir():
            raise ConfigError(f"config {path}: 'run.seed': directory {cfg.seed} does not exist")
    cfg.extract = run.get("extract", True)
    cfg.workers = run.get("workers", 1)
    if cfg.workers < 1:
        raise ConfigError(f"config {path}: 'run.workers' must be at least 1, not {cfg.workers}")
    cfg.link_seed = run.get("link_seed", True)
    if "since" in run:
        try:
            cfg.since = datetime.date.fromisoformat(run["since"]).isoformat()
        except ValueError:
            raise ConfigError(f"config {path}: 'run.since' must be a date like 2026-01-31, not {run['since']!r}") from None
        from .fetch import latest_today

        if cfg.since > latest_today().isoformat():  # every first fetch would be refused as an empty window
            raise ConfigError(f"config {path}: 'run.since' {cfg.since} is in the future")

    sources = data.get("sources", {})
    _check_table("sources", sources, {name: dict for name in sources}, path)
    for name, table in sources.items():
        if name not in KNOWN_SOURCES:
            raise ConfigError(f"config {path}: unknown source 'sources.{name}' (known: {', '.join(KNOWN_SOURCES)})")
        _check_table(f"sources.{name}", table, SOURCE_KEYS, path)
        if not 1 <= table.get("batch_size", 200) <= 1000:
            raise ConfigError(f"config {path}: 'sources.{name}.batch_size' must be between 1 and 1000")
        cfg.sources[name] = SourceConfig(name=name, **table)
    if not any(s.enabled for s in cfg.sources.values()):
        if cfg.sources:
            # A source with no table is not on, either: say which exist, so a lone disabled one reads right.
            tables = ", ".join(f"[sources.{name}]" for name in cfg.sources)
            absent = [f"[sources.{name}]" for name in KNOWN_SOURCES if name not in cfg.sources]
            raise ConfigError(f"config {path}: every source configured ({tables}) has 'enabled = false' and "
                              "there is no other: enable one" + (f" or add {' or '.join(absent)}" if absent else ""))
        raise ConfigError(f"config {path}: no enabled source: add [sources.pubmed] or [sources.europepmc]")

    blocks = data.get("blocks", {})
    _check_table("blocks", blocks, {name: str for name in blocks}, path)

    queries = data.get("queries")
    if not queries:
        raise ConfigError(f"config {path}: no [[queries]] entries: nothing to run")
    seen: set[str] = set()
    for n, entry in enumerate(queries):
        where = f"queries[{n}]"
        unset = [k for k in KNOWN_SOURCES if isinstance(entry, dict) and k in entry and k not in cfg.sources]
        if unset:
            # Not an unknown key: the source exists, the config just never set it up.
            raise ConfigError(f"config {path}: '{where}.{unset[0]}' is a query for a source the config has no "
                              f"[sources.{unset[0]}] table for: add the table (enabled = false leaves the "
                              "source out) or remove the key")
        _check_table(where, entry, QUERY_KEYS, path, extra=tuple(cfg.sources))
        qid = entry.get("id")
        if qid is None:
            raise ConfigError(f"config {path}: '{where}' has no 'id'")
        if not _ID.match(qid):
            raise ConfigError(f"config {path}: '{where}.id' {qid!r} may use only letters, digits, '.', '_' and '-'")
        if qid in seen:
            raise ConfigError(f"config {path}: query id {qid!r} is used twice")
        seen.add(qid)
        texts = {}
        for source in cfg.sources:
            if source not in entry:
                continue
            text = expand(entry[source], blocks, f"{where}.{source}", path)
            problem = check_query(text)
            if problem:
                raise ConfigError(f"config {path}: query {qid} for {source} is invalid: {problem}")
            texts[source] = text
        if not texts:
            raise ConfigError(f"config {path}: query {qid} has no query text for any configured source")
        cfg.queries.append(QueryConfig(id=qid, title=entry.get("title", qid), texts=texts,
                                       enabled=entry.get("enabled", True)))
    return cfg
