"""Shared fixtures: the ../shared data folder, a fresh plugin manager, databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EVIDEX_SHARED", ROOT.parent / "shared"))


def require_shared(*parts: str) -> Path:
    "Path under ../shared; fail loudly in CI if it is missing, skip (with the reason) elsewhere."
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is missing: these tests read the real recorded data in ../shared"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def shared() -> Path:
    return require_shared()


@pytest.fixture
def eval_docs() -> Path:
    return require_shared("eval", "docs.jsonl")


@pytest.fixture
def pubmed_dir() -> Path:
    return require_shared("corpora-raw", "api-responses", "pubmed-eutils")
