"""The evidex command line: ingest, extract, runs, plugins and the commands plugins add."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__, get_extractors
from .errors import EvidexError
from .files import read_file
from .models import Claim, Document, Mention
from .nlp import make_nlp
from .pipeline import ExtractionError, extract as run_extract
from .plugins import load_plugins, pm


class EvidexGroup(click.Group):
    "A click group that turns EvidexError into a one-line message and its exit code."

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EvidexError as ex:
            click.echo(f"Error: {ex}", err=True)
            ctx.exit(ex.exit_code)


@click.group(cls=EvidexGroup)
@click.version_option(__version__, prog_name="evidex")
def cli():
    """Keep a living evidence table of claims extracted from abstracts.

    Example: evidex ingest --db evidex.db records.xml
    """


plugins_dir_option = click.option(
    "--plugins-dir",
    type=click.Path(file_okay=False),
    envvar="EVIDEX_PLUGINS_DIR",
    help="Directory of one-off plugin .py files to load",
)


def _extractors(plugins_dir, only=()):
    extractors = get_extractors(plugins_dir)
    if only:
        unknown = sorted(set(only) - set(extractors))
        if unknown:
            raise click.BadParameter(
                f"unknown extractor {', '.join(unknown)}; known: {', '.join(extractors) or 'none'}",
                param_hint="--extractor",
            )
        extractors = {k: v for k, v in extractors.items() if k in only}
    return list(extractors.values())


@cli.command()
@click.option("--input", "input_path", type=click.Path(dir_okay=False), required=True,
              help="Documents to extract from (JSON Lines or PubMed XML)")
@click.option("--output", type=click.File("w", encoding="utf-8"), required=True,
              help="Where to write claims, one JSON object a line ('-' for stdout)")
@click.option("--extractor", "only", multiple=True, help="Run only this extractor (repeatable)")
@click.option("--mentions/--no-mentions", default=True, help="Also write entity mention lines")
@plugins_dir_option
def extract(input_path, output, only, mentions, plugins_dir):
    "Extract claims from documents in a file into JSON Lines, without a database."
    extractors = _extractors(plugins_dir, only)
    nlp = make_nlp(extractors)
    errors: list[ExtractionError] = []
    documents = (r for r in read_file(input_path) if isinstance(r, Document))
    n_docs = n_claims = 0
    for document, items in run_extract(nlp, documents, extractors, errors.append):
        n_docs += 1
        for item in items:
            if isinstance(item, Claim):
                n_claims += 1
                output.write(json.dumps(item.to_score_line(), ensure_ascii=False) + "\n")
            elif mentions and isinstance(item, Mention):
                line = {"type": "mention", "pmid": item.doc_id, "category": item.category,
                        "id": item.entity, "text": item.text, "field": item.field,
                        "start": item.start, "end": item.end, "plugin": item.plugin}
                output.write(json.dumps(line, ensure_ascii=False) + "\n")
    click.echo(f"{n_docs} documents, {n_claims} claims", err=True)
    if errors:
        for e in errors[:20]:
            click.echo(f"plugin {e.plugin} failed on {e.doc_id}: {e.error}", err=True)
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Output JSON")
@plugins_dir_option
def plugins(as_json, plugins_dir):
    "List loaded plugins, their hooks and versions."
    from .plugins import get_plugins, state

    load_plugins(plugins_dir)
    listing = get_plugins()
    extractors = get_extractors(plugins_dir)
    for entry in listing:
        entry["extractors"] = [
            {"name": e.name, "version": e.version, "categories": list(e.categories)}
            for e in extractors.values()
            if e.__class__.__module__.split(".")[-1] == entry["name"].split(".")[-1]
        ]
    if as_json:
        click.echo(json.dumps({"plugins": listing, "failures": [
            {"name": n, "error": e} for n, e in state.failures]}, indent=2))
    else:
        for entry in listing:
            exts = ", ".join(f"{e['name']} {e['version']}" for e in entry["extractors"])
            click.echo(f"{entry['name']} {entry['version']}  hooks: {', '.join(entry['hooks'])}"
                       + (f"  extractors: {exts}" if exts else ""))
        for name, error in state.failures:
            click.echo(f"FAILED {name}: {error}")
    if state.failures:
        sys.exit(1)


load_plugins()
pm.hook.register_commands(cli=cli)
