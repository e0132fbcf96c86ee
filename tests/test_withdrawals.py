"""Withdrawals (PubMed DeleteCitation, JSON Lines "deleted": true): counted, kept, and of one version."""

from __future__ import annotations

import json
import re

from evidex.db import open_db
from evidex.files import read_file
from evidex.models import Deletion
from test_ingest import plugin_dir, run, versioned_files  # noqa: F401  (plugin_dir is a fixture)


def update_file(tmp_path, name, *pmids):
    "A PubMed update file holding only a DeleteCitation of (PMID, Version attribute or None) pairs."
    inner = "".join(f'<PMID Version="{v}">{p}</PMID>' if v is not None else f"<PMID>{p}</PMID>" for p, v in pmids)
    path = tmp_path / name
    path.write_text(f'<?xml version="1.0"?>\n<PubmedArticleSet><DeleteCitation>{inner}</DeleteCitation>'
                    "</PubmedArticleSet>\n")
    return path


def jsonl(tmp_path, name, *records):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def documents(db_path):
    return [tuple(r) for r in open_db(db_path).execute(
        "select id, title, abstract, deleted, deleted_run from documents order by id")]


# ---- extract --input ------------------------------------------------------------------------


def test_extract_input_counts_the_withdrawals_it_skips(fresh, tmp_path, plugin_dir):
    "A withdrawn record is not extracted offline, and the summary says how many were skipped."
    (plugin_dir / "boom.py").unlink()
    docs = jsonl(tmp_path, "docs.jsonl",
                 {"pmid": "1", "abstract": "Cancer cells grew in study 1."},
                 {"pmid": "2", "abstract": "Cancer cells grew in study 2.", "deleted": True},
                 {"pmid": "3", "deleted": True})
    out = tmp_path / "claims.jsonl"
    result = run("extract", "--input", docs, "--output", out, "--no-mentions", "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    assert "1 documents, 1 claims, 2 withdrawn records skipped" in result.stderr
    assert [json.loads(line)["pmid"] for line in out.read_text().splitlines()] == ["1"]
    update = update_file(tmp_path, "update.xml", ("7", "1"), ("8", None))
    result = run("extract", "--input", update, "--output", out, "--plugins-dir", plugin_dir)
    assert result.exit_code == 0, result.output
    assert "0 documents, 0 claims, 2 withdrawn records skipped" in result.stderr
