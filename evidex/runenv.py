"""The environment variables that change what a run does: recorded with the run, set by its rerun."""

from __future__ import annotations

import os
import re

from .logs import REDACTED, redact

PLUGINS = "EVIDEX_LOAD_PLUGINS"  # which installed plugins load: extractors and sources
MODEL = "EVIDEX_SPACY_MODEL"  # the spaCy model that parses for extraction
# How a fetch splits its query into windows: the requests, so what a cache replays, depend on it.
WINDOWS = "EVIDEX_PUBMED_WINDOW_MAX"
# A source's base URL (EVIDEX_PUBMED_URL, EVIDEX_EUROPEPMC_URL, a plugin source's own).
URL = re.compile(r"EVIDEX_[A-Z0-9_]+_URL")


def changes(name: str, fetches: bool = True, extracts: bool = True) -> bool:
    "Does the variable change a run that fetches and/or extracts?"
    if name == PLUGINS:
        return fetches or extracts
    if name == MODEL:
        return extracts
    return fetches and (name == WINDOWS or URL.fullmatch(name) is not None)


def recorded() -> dict[str, str]:
    "The run-changing variables set now (an empty one too: it differs from unset), as a record may keep them."
    from .http import public_url

    # A URL's password masked (a malformed URL's too), and every secret value and api_key=... redacted.
    return {n: redact(public_url(v) if URL.fullmatch(n) else v) for n, v in sorted(os.environ.items())
            if changes(n)}


def env_prefix(env: dict[str, str]) -> list[str]:
    "`env NAME=VALUE ...` setting env for the command that follows (nothing for an empty env)."
    return ["env", *(f"{n}={v}" for n, v in sorted(env.items()))] if env else []


def masked(argv: list[str] | None) -> dict[str, str]:
    "What a rerun's env settings hold masked, each with what to do about it."
    if not argv or argv[0] != "env":
        return {}
    pairs = [a.split("=", 1) for a in argv[1:argv.index("evidex")]]
    return {n: f"a password or key in it is masked ({REDACTED}): put the real value in the rerun command"
            for n, v in pairs if REDACTED in v}
