"""Shared fixtures: the ../shared data folder, a fresh plugin manager, databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evidex import plugins as plugins_mod

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EVIDEX_SHARED", ROOT.parent / "shared"))


def require_shared(*parts: str) -> Path:
    "Path under ../shared; fail loudly in CI if it is missing, skip (with the reason) elsewhere."
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is missing: these tests read the real recorded data in ../shared"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)  # also from a module's top level (test_fetch.py)
    return path


def rerun_args(rerun: list[str]) -> list[str]:
    "A receipt's rerun as arguments for the CLI: what follows `evidex`, its `env NAME=VALUE` settings left out."
    return rerun[rerun.index("evidex") + 1:]


@pytest.fixture
def shared() -> Path:
    return require_shared()


@pytest.fixture
def eval_docs() -> Path:
    return require_shared("eval", "docs.jsonl")


@pytest.fixture
def pubmed_dir() -> Path:
    return require_shared("corpora-raw", "api-responses", "pubmed-eutils")


@pytest.fixture
def fresh():
    "A plugin manager with nothing loaded; restored to the default state afterwards."
    plugins_mod.reset()
    yield plugins_mod
    plugins_mod.reset()
    plugins_mod.load_plugins()


@pytest.fixture(scope="module")
def nlp_and_extractors():
    "The installed extractors with their one shared pipeline, built once per module."
    from evidex import get_extractors
    from evidex.nlp import make_nlp

    extractors = list(get_extractors().values())
    return make_nlp(extractors), extractors
