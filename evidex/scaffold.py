"""`evidex plugins new NAME`: write an installable plugin package that passes its own test."""

from __future__ import annotations

import re
from pathlib import Path

import click

from .errors import UsageError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

PYPROJECT = '''\
[project]
name = "evidex-{name}"
version = "0.1.0"
description = "evidex plugin: {name} claims"
requires-python = ">=3.11"
dependencies = ["evidex"]

[project.optional-dependencies]
test = ["pytest"]

# This line is what makes evidex find the plugin once the package is installed.
[project.entry-points.evidex]
{name} = "{module}"

[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[tool.setuptools]
packages = ["{module}"]

[tool.setuptools.package-data]
{module} = ["*.jsonl"]
'''

MODULE = '''\
"""evidex plugin {name}: one claim per sentence that names a term listed in {name}.jsonl."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

from evidex import Claim, Extractor, Mention, hookimpl

TERMS = Path(__file__).parent / "{name}.jsonl"

try:
    __version__ = importlib.metadata.version("evidex-{name}")
except importlib.metadata.PackageNotFoundError:  # running from a source checkout
    __version__ = "0.1.0"


class {cls}(Extractor):
    "Sentences that name a {name} term; the term ids become the claim's entities."

    name = "{name}"
    version = __version__
    categories = ("{name}",)
    data_files = (TERMS,)  # hashed into every run record, so editing the terms is visible

    def setup(self, nlp):
        # Each extractor adds its own uniquely named pipe to the one shared pipeline.
        ruler = nlp.add_pipe(
            "span_ruler", name="{name}_ruler",
            config={{"spans_key": "{name}", "phrase_matcher_attr": "LOWER"}},
        )
        patterns = []
        with TERMS.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                # The file and line in the error: evidex shows it as the one line a failed setup gives.
                try:
                    entry = json.loads(line.rstrip("\\r\\n"))  # the column counts within this line
                    patterns += [{{"label": entry["label"], "pattern": term, "id": entry["id"]}}
                                 for term in entry["terms"]]
                except json.JSONDecodeError as ex:
                    raise ValueError(f"{{TERMS.name}} line {{number}}: not JSON ({{ex.msg}} at column {{ex.colno}})") from None
                except (KeyError, TypeError):
                    raise ValueError(f"{{TERMS.name}} line {{number}}: an object with id, label and terms "
                                     "(a list of texts) is needed") from None
        ruler.add_patterns(patterns)

    def extract(self, document, field, doc):
        by_sentence = {{}}
        for span in doc.spans["{name}"]:
            yield Mention(category="{name}", entity=span.id_, field=field, start=span.start_char,
                          end=span.end_char, text=span.text)
            by_sentence.setdefault(span.sent, []).append(span)
        for sent, spans in by_sentence.items():
            entities = sorted({{s.id_ for s in spans}})
            yield Claim(
                category="{name}", sentence=sent.text, field=field, start=sent.start_char,
                end=sent.end_char, subject=entities[0], predicate="mentions", entities=entities,
            )


@hookimpl
def register_extractors(register):
    register({cls}())
'''

TERMS = '''\
{{"id": "EXAMPLE1", "label": "{label}", "terms": ["example term", "sample term"]}}
{{"id": "EXAMPLE2", "label": "{label}", "terms": ["another example"]}}
'''

TEST = '''\
"""Tests for the {name} plugin; the entry-point test passes once the package is installed."""

import importlib.metadata

from evidex import Document
from evidex.nlp import make_nlp
from evidex.pipeline import extract

from {module} import {cls}, __version__


def test_extracts_a_claim_per_sentence_with_a_term():
    extractor = {cls}()
    nlp = make_nlp([extractor])
    document = Document(id="1", title="An example term.", abstract="Nothing here. Another example and a sample term.")
    errors = []
    [(_, items)] = list(extract(nlp, [document], [extractor], errors.append))
    claims = sorted((c.field, c.sentence, c.entities) for c in items if c.__class__.__name__ == "Claim")
    assert errors == []
    assert claims == [
        ("abstract", "Another example and a sample term.", ["EXAMPLE1", "EXAMPLE2"]),
        ("title", "An example term.", ["EXAMPLE1"]),
    ]
    assert all(c.plugin == "{name}" and c.plugin_version == __version__ for c in items)


def test_is_registered_through_the_evidex_entry_point():
    found = {{ep.name: ep.value for ep in importlib.metadata.entry_points(group="evidex")}}
    assert found.get("{name}") == "{module}"
'''

README = '''\
# evidex-{name}

An evidex extraction plugin (evidex itself is not on PyPI: `pip install -e` its checkout first).

    pip install -e .          # evidex finds it through the `evidex` entry point
    evidex plugins            # lists {name}
    pytest                    # passes once installed

Edit `{module}/{name}.jsonl` (one entity per line: id, label, terms) and
`{module}/__init__.py` (the extractor). See evidex's `plugins/README.md` for the hooks.
'''


def scaffold(name: str, directory: str | Path = ".") -> Path:
    "Write the package evidex-NAME under directory and return its path."
    if not NAME_RE.match(name):
        raise UsageError(
            f"plugin name {name!r} is not valid: use lower-case letters, digits and _ "
            "(starting with a letter, at most 40 characters)"
        )
    parent = Path(directory)
    if not parent.is_dir():
        raise UsageError(f"directory {parent} does not exist")
    root = parent / f"evidex-{name}"
    if root.exists():
        raise UsageError(f"{root} already exists; not overwriting it")
    module = f"evidex_{name}"
    values = {"name": name, "module": module, "label": name.upper(),
              "cls": "".join(p.capitalize() for p in name.split("_")) + "Extractor"}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{module}/__init__.py": MODULE,
        f"{module}/{name}.jsonl": TERMS,
        f"tests/test_{name}.py": TEST,
    }
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root


@click.command("new")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True,
              type=click.Path(file_okay=False), help="Where to create the evidex-NAME folder")
def new(name: str, directory: str) -> None:
    "Scaffold an installable plugin package evidex-NAME with one extractor and its test."
    if name in installed_names():
        # Installed beside it, the new plugin would clash with this one: every command would stop.
        raise UsageError(f"a plugin or extractor named {name!r} is already installed; choose another name")
    root = scaffold(name, directory)
    click.echo(f"created {root}")
    click.echo(f"next: pip install -e {root} && pytest {root}")


def installed_names() -> set[str]:
    "Names of the loaded plugins and their extractors (empty if plugins cannot load)."
    from . import get_extractors
    from .errors import EvidexError
    from .plugins import pm

    try:
        extractors = get_extractors()
    except EvidexError:
        return set()
    return {pm.get_name(p) or "" for p in pm.get_plugins()} | set(extractors)


def attach_to(cli: click.Group) -> None:
    """Make `evidex plugins` a group with `new`, keeping `evidex plugins [--json]` as it was.

    Done here rather than in cli.py so the listing command keeps one definition.
    """
    listing = cli.commands["plugins"]
    if isinstance(listing, click.Group):
        listing.add_command(new)
        return

    def callback(**kwargs):
        if click.get_current_context().invoked_subcommand is None:
            return listing.callback(**kwargs)

    group = click.Group(
        name="plugins", params=listing.params, callback=callback, help=listing.help,
        short_help=listing.short_help, invoke_without_command=True,
    )
    group.add_command(new)
    cli.add_command(group)
