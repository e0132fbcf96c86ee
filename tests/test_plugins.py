"""The plugin system: hooks, discovery, duplicate names and isolation of failing plugins."""

from __future__ import annotations

import json
import re
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import rerun_args
from evidex import get_extractors, get_sources, hookspecs
from evidex.cli import cli
from evidex.db import open_db
from evidex.errors import PluginError




def write_plugin(directory, name, body):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def installed(tmp_path, monkeypatch, module: str, extractor: str, dist_name: str, version: str, entry: str) -> None:
    "A distribution with an `evidex` entry point on sys.path, found like an installed package."
    site = tmp_path / "site"
    write_plugin(site, module, EXTRACTOR_PLUGIN.format(name=extractor, word="cancer"))
    dist = site / f"{module}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[evidex]\n{entry} = {module}\n")
    monkeypatch.syspath_prepend(str(site))


EXTRACTOR_PLUGIN = """
    from evidex import Claim, Extractor, hookimpl

    class WordExtractor(Extractor):
        name = "{name}"
        version = "1.2"
        categories = ("demo",)

        def extract(self, document, field, doc):
            for sent in doc.sents:
                if "{word}" in sent.text.lower():
                    yield Claim(category="demo", sentence=sent.text, field=field,
                                start=sent.start_char, end=sent.end_char, entities=["{word}"])

    @hookimpl
    def register_extractors(register):
        register(WordExtractor())
"""

RAISING_PLUGIN = """
    from evidex import Extractor, hookimpl

    class Boom(Extractor):
        name = "boom"
        version = "0.0"

        def extract(self, document, field, doc):
            if "tumour" in doc.text or "tumor" in doc.text:
                raise RuntimeError("boom on " + document.id)
            return []

    @hookimpl
    def register_extractors(register):
        register(Boom())
"""


def test_every_hookspec_is_documented_with_a_test():
    names = {n for n in dir(hookspecs) if n.startswith("register_")}
    assert names >= {"register_sources", "register_extractors", "register_commands"}
    tested = {n[len("test_hook_"):] for n in globals() if n.startswith("test_hook_")}
    assert names <= tested, f"hooks without a test_hook_<name>: {sorted(names - tested)}"


def test_hook_register_extractors(fresh, tmp_path):
    write_plugin(tmp_path, "words", EXTRACTOR_PLUGIN.format(name="words", word="cancer"))
    extractors = get_extractors(str(tmp_path))
    assert extractors["words"].version == "1.2"


def test_builtin_plugins_load_through_entry_points(fresh):
    extractors = get_extractors()
    assert {"ifn", "pathway", "therapy", "age"} <= set(extractors)
    listing = {p["name"]: p for p in fresh.get_plugins()}
    for name in ("ifn", "pathway"):
        assert listing[name]["hooks"] == ["register_extractors"]
    for name in ("therapy", "age"):  # they also add their canned query to evidex serve
        assert listing[name]["hooks"] == ["register_extractors", "register_queries"]


def test_hook_register_sources(fresh):
    sources = get_sources()
    assert all(hasattr(s, "search") for s in sources.values())
    assert "evidex.sources" in [p["name"] for p in fresh.get_plugins()]


def test_hook_register_commands(fresh, tmp_path):
    write_plugin(tmp_path, "hello", """
        import click
        from evidex import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command(name="hello-test")
            def hello():
                "Say hello"
                click.echo("hello from a plugin")
    """)
    fresh.load_plugins(tmp_path)
    from evidex.plugins import pm

    group = __import__("click").Group()
    pm.hook.register_commands(cli=group)
    result = CliRunner().invoke(group, ["hello-test"])
    assert result.exit_code == 0 and result.output == "hello from a plugin\n"


def test_a_plugin_command_never_replaces_an_existing_one(fresh, tmp_path):
    "A plugin's 'extract' would shadow the built-in silently; it is refused and reported by name."
    write_plugin(tmp_path, "shadow", """
        import click
        from evidex import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command(name="extract")
            def extract():
                click.echo("not the real extract")

            @cli.command(name="shadow-count")
            def count():
                click.echo("counted")
    """)
    write_plugin(tmp_path, "raising", """
        from evidex import hookimpl

        @hookimpl
        def register_commands(cli):
            raise RuntimeError("no commands today")
    """)
    fresh.load_plugins(tmp_path)
    from evidex.cli import add_plugin_commands

    builtin = __import__("click").Command("extract", callback=lambda: print("built-in extract"))
    group = __import__("click").Group(commands=[builtin])
    add_plugin_commands(group)
    assert group.commands["extract"] is builtin
    assert CliRunner().invoke(group, ["shadow-count"]).output == "counted\n"
    failures = dict(fresh.state.failures)
    assert "would replace the command 'extract'" in failures["shadow"]
    assert "RuntimeError: no commands today" in failures["raising"]


def test_unknown_hook_fails_loudly(fresh, tmp_path):
    write_plugin(tmp_path, "typo", """
        from evidex import hookimpl

        @hookimpl
        def register_extractorz(register):
            pass
    """)
    with pytest.raises(PluginError) as raised:
        fresh.load_plugins(tmp_path)
    # The plugin by name and file, not pluggy's <module 'evidex_local_plugins.typo' from ...> repr; and what to call it.
    assert str(raised.value) == (
        f"plugin 'typo' (file {tmp_path / 'typo.py'}) declares an unknown hook 'register_extractorz'; evidex's "
        "hooks are register_commands(cli), register_extractors(register), register_queries(register), "
        "register_sources(register)")


def test_a_hook_with_an_argument_evidex_does_not_pass_is_one_line_and_exit_2(fresh, tmp_path):
    "pluggy refuses it while the command line is built: that was a traceback, even for --help."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "argtypo", """
        from evidex import hookimpl

        @hookimpl
        def register_extractors(registrar):
            pass
    """)
    said = (f"plugin 'argtypo' (file {plugins / 'argtypo.py'}) has a hook evidex cannot call: hookimpl definition: "
            "register_extractors(registrar); Argument(s) {'registrar'} are declared in the hookimpl but can not be "
            "found in the hookspec; the hook is register_extractors(register)")
    with pytest.raises(PluginError, match=re.escape(said)):
        fresh.load_plugins(plugins)
    with pytest.raises(PluginError, match=re.escape(said)):
        fresh.load_plugins(plugins)  # every load, as for two plugins under one name
    fresh.reset()
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "abstract": "Cancer cells grew."}) + "\n")
    result = subprocess.run([sys.executable, "-m", "evidex", "ingest", "--db", str(tmp_path / "e.db"), str(docs)],
                            capture_output=True, text=True, env={**os.environ, "EVIDEX_PLUGINS_DIR": str(plugins),
                                                                 "EVIDEX_LOAD_PLUGINS": ""})
    assert (result.returncode, result.stderr) == (2, f"Error: {said}\n")
    assert not (tmp_path / "e.db").exists()


def test_duplicate_extractor_names_name_both_plugins(fresh, tmp_path):
    write_plugin(tmp_path, "first", EXTRACTOR_PLUGIN.format(name="same", word="a"))
    write_plugin(tmp_path, "second", EXTRACTOR_PLUGIN.format(name="same", word="b"))
    with pytest.raises(PluginError) as info:
        get_extractors(str(tmp_path))
    assert "'same'" in str(info.value) and "'first'" in str(info.value) and "'second'" in str(info.value)


def test_two_plugins_under_one_name_are_an_error_naming_both(fresh, tmp_path, monkeypatch):
    "An installed plugin named like a built-in one must not silently replace it (or be replaced)."
    installed(tmp_path, monkeypatch, "evidex_other_ifn", "other-ifn", "evidex-other-ifn", "0.1", "ifn")
    for _ in range(2):  # every later load says it again: a command must not run on half the plugins
        with pytest.raises(PluginError) as info:
            get_extractors()
        message = str(info.value)
        assert "two plugins are named 'ifn'" in message
        assert "evidex_plugins.ifn" in message and "evidex_other_ifn" in message and "evidex-other-ifn 0.1" in message
    sys.modules.pop("evidex_other_ifn", None)


def test_a_plugins_dir_file_named_like_an_installed_plugin_is_an_error(fresh, tmp_path):
    path = write_plugin(tmp_path, "therapy", EXTRACTOR_PLUGIN.format(name="my-therapy", word="cancer"))
    with pytest.raises(PluginError) as info:
        get_extractors(str(tmp_path))
    assert "two plugins are named 'therapy'" in str(info.value) and str(path) in str(info.value)


def test_missing_plugins_dir_is_an_error(fresh, tmp_path):
    with pytest.raises(PluginError, match="does not exist"):
        fresh.load_plugins(tmp_path / "nope")


def test_plugin_that_fails_to_import_is_reported_by_name(fresh, tmp_path):
    write_plugin(tmp_path, "broken", "import not_a_module_anywhere\n")
    write_plugin(tmp_path, "words", EXTRACTOR_PLUGIN.format(name="words", word="cancer"))
    extractors = get_extractors(str(tmp_path))
    assert "words" in extractors
    failures = dict(fresh.state.failures)
    assert "not_a_module_anywhere" in failures["broken"]


@pytest.mark.parametrize("wanted,loads", [("demo_ep", True), ("evidex-demo-ep", True), ("Evidex_Demo.EP", True),
                                            ("", False)])
def test_evidex_load_plugins_names_a_distribution_as_pip_does(fresh, tmp_path, monkeypatch, wanted, loads):
    installed(tmp_path, monkeypatch, "evidex_demo_ep", "demo-ep", "evidex-demo-ep", "0.3", "demo_ep")
    monkeypatch.setenv("EVIDEX_LOAD_PLUGINS", wanted)
    assert ("demo-ep" in get_extractors()) is loads
    sys.modules.pop("evidex_demo_ep", None)


@pytest.mark.parametrize("wanted", ["evidex-demo", "demo_ep,ifnn", " ifnn , "])
def test_a_name_in_evidex_load_plugins_that_no_plugin_has_is_an_error(fresh, tmp_path, monkeypatch, wanted):
    "A misspelt name would run without that plugin (or with none) and report success."
    installed(tmp_path, monkeypatch, "evidex_demo_ep", "demo-ep", "evidex-demo-ep", "0.3", "demo_ep")
    monkeypatch.setenv("EVIDEX_LOAD_PLUGINS", wanted)
    bad = [n.strip() for n in wanted.split(",") if n.strip() and n.strip() != "demo_ep"]
    with pytest.raises(PluginError, match=f"EVIDEX_LOAD_PLUGINS names '{bad[0]}', which no installed plugin is "
                                          r"called; installed: .*demo_ep"):
        get_extractors()
    sys.modules.pop("evidex_demo_ep", None)


def test_entry_point_plugin_loads(fresh, tmp_path, monkeypatch):
    "A distribution with an `evidex` entry point, found on sys.path like an installed package."
    installed(tmp_path, monkeypatch, "evidex_demo_ep", "demo-ep", "evidex-demo-ep", "0.3", "demo_ep")
    extractors = get_extractors()
    assert extractors["demo-ep"].version == "1.2"
    listing = {p["name"]: p for p in fresh.get_plugins()}
    assert listing["demo_ep"]["version"] == "0.3"
    assert listing["demo_ep"]["hooks"] == ["register_extractors"]
    sys.modules.pop("evidex_demo_ep", None)


def test_evidex_load_plugins_limits_installed_plugins(fresh, monkeypatch):
    monkeypatch.setenv("EVIDEX_LOAD_PLUGINS", "")
    fresh.load_plugins()
    names = [p["name"] for p in fresh.get_plugins()]
    assert names == ["evidex.sources"]


def extract_offline(tmp_path, abstract: str, broken: bool = False):
    "evidex extract --input/--output over one document, with the words plugin (and a broken one)."
    plugins = tmp_path / "plugins"
    if broken:
        write_plugin(plugins, "broken", "import not_a_module_anywhere\n")
    write_plugin(plugins, "words", EXTRACTOR_PLUGIN.format(name="words", word="cancer"))
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "", "abstract": abstract}) + "\n")
    out = tmp_path / "claims.jsonl"
    result = CliRunner().invoke(cli, ["extract", "--input", str(docs), "--output", str(out),
                                      "--plugins-dir", str(plugins)], env={"EVIDEX_LOAD_PLUGINS": ""})
    return result, out


def test_offline_extract_with_a_plugin_that_failed_to_load_exits_1(fresh, tmp_path):
    "The other plugins' claims are written, and the broken plugin is named: never a quiet success."
    result, out = extract_offline(tmp_path, "Cancer cells grew.", broken=True)
    assert result.exit_code == 1
    assert "plugin broken failed to load: ModuleNotFoundError" in result.output
    assert [json.loads(line)["category"] for line in out.read_text().splitlines()] == ["demo"]


def test_offline_extract_counts_plugin_failures_and_says_when_it_shows_only_some(fresh, tmp_path):
    "With no run_errors table to look in, the summary's count and a '... and N more' line are all there is."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "words", EXTRACTOR_PLUGIN.format(name="words", word="cancer"))
    write_plugin(plugins, "returner", RETURNING_PLUGIN.format(returned="None"))
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"pmid": str(n), "abstract": "Cancer cells grew."}) + "\n" for n in range(25)))
    out = tmp_path / "claims.jsonl"
    result = CliRunner().invoke(cli, ["extract", "--input", str(docs), "--output", str(out),
                                      "--plugins-dir", str(plugins)], env={"EVIDEX_LOAD_PLUGINS": ""})
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == "25 documents, 25 claims; 25 plugin failures"
    assert len([line for line in lines if line.startswith("plugin returner failed on ")]) == 20
    assert lines[-1] == "... and 5 more plugin failures"
    assert len(out.read_text().splitlines()) == 25  # the working plugin's claims are written


def test_offline_extract_that_finds_nothing_still_writes_its_file(fresh, tmp_path):
    result, out = extract_offline(tmp_path, "Nothing to see.")
    assert result.exit_code == 0, result.output
    assert out.exists() and out.read_text() == ""
    assert "1 documents, 0 claims" in result.output


def test_plugins_command_lists_json(fresh, tmp_path):
    write_plugin(tmp_path, "words", EXTRACTOR_PLUGIN.format(name="words", word="cancer"))
    result = CliRunner().invoke(cli, ["plugins", "--json", "--plugins-dir", str(tmp_path)])
    data = json.loads(result.output)
    words = next(p for p in data["plugins"] if p["name"] == "words")
    assert words["hooks"] == ["register_extractors"]
    assert words["extractors"] == [{"name": "words", "version": "1.2", "categories": ["demo"]}]


def test_plugin_whose_registration_raises_is_reported(fresh, tmp_path):
    write_plugin(tmp_path, "badreg", """
        from evidex import hookimpl

        @hookimpl
        def register_extractors(register):
            raise ValueError("lexicon file missing")
    """)
    write_plugin(tmp_path, "words", EXTRACTOR_PLUGIN.format(name="words", word="cancer"))
    extractors = get_extractors(str(tmp_path))
    assert "words" in extractors
    assert dict(fresh.state.failures)["badreg"] == "register_extractors raised ValueError: lexicon file missing"


def test_hook_register_queries(fresh, tmp_path):
    plugin_dir = tmp_path / "plugins"
    write_plugin(plugin_dir, "q", """
        from evidex import hookimpl

        @hookimpl
        def register_queries(register):
            register("my_query", sql="select 1 as one")
            register(table="claims", facets=["role"])
    """)
    from evidex.db import open_db
    from evidex.serve import build_metadata

    fresh.load_plugins(plugin_dir)
    open_db(tmp_path / "e.db").conn.close()
    meta = build_metadata(tmp_path / "e.db")["databases"]["e"]
    assert meta["queries"]["my_query"] == {"sql": "select 1 as one"}
    assert "role" in meta["tables"]["claims"]["facets"]


def test_cli_start_loads_the_builtin_plugins_without_spacy():
    # The CLI loads every plugin at start (they may add commands): the built-ins must stay light,
    # so `evidex --help` or `evidex status` never pays for importing spaCy and compiling the rules.
    code = ("import sys\nfrom click.testing import CliRunner\nfrom evidex.cli import cli\n"
            "from evidex import get_extractors\n"
            "assert CliRunner().invoke(cli, ['--help']).exit_code == 0\n"
            "names = sorted(get_extractors())\n"
            "print(names, 'spacy' in sys.modules, 'evidex_plugins.common' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "EVIDEX_LOAD_PLUGINS": "ifn,pathway,therapy,age"})
    assert out.stdout.split() == ["['age',", "'ifn',", "'pathway',", "'therapy']", "False", "False"]


LEXICON_PLUGIN = """
    from pathlib import Path
    from evidex import hookimpl
    from evidex_plugins.base import LexiconExtractor

    class Custom(LexiconExtractor):
        name = "custom"
        categories = ("therapy",)
        lexicon = Path(__file__).with_name("custom.jsonl")

    @hookimpl
    def register_extractors(register):
        register(Custom())
"""


@pytest.mark.parametrize("line,problem", [
    ('{"id": "foo", "terms": ["foodrug"], "anchor_lst": true}', "custom.jsonl line 2: unknown key anchor_lst"),
    ('{"id": "foo", "terms": ["foodrug"],', "custom.jsonl line 2: not a JSON object"),
])
def test_an_extractor_that_fails_to_set_up_is_one_line_and_exit_2(fresh, tmp_path, line, problem):
    "A bad lexicon line (a misspelt key would otherwise be ignored) names the file and line; nothing is stored."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "custom", LEXICON_PLUGIN)
    (plugins / "custom.jsonl").write_text('{"id": "bar", "label": "DRUG", "terms": ["bardrug"]}\n' + line + "\n")
    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "", "abstract": "Foodrug reduced tumour growth."}) + "\n")
    db = tmp_path / "e.db"
    result = CliRunner().invoke(cli, ["ingest", "--db", str(db), "--plugins-dir", str(plugins), str(docs)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: extractor 'custom' failed to set up: ValueError: {problem}")
    if db.exists():  # the database may have been created, but holds nothing
        assert sqlite3.connect(db).execute("select count(*) from documents").fetchone()[0] == 0


FORGING_PLUGIN = """
    from evidex import Claim, Extractor, Mention, hookimpl

    class Forger(Extractor):
        name = "forger"
        categories = ("demo",)

        def extract(self, document, field, doc):
            n = len(doc.text)
            bad = {{
                "category": Claim(category="ifn", sentence=doc.text, field=field, start=0, end=n),
                "direction": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n, direction="sideways"),
                "confidence": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n, confidence=7.5),
                "offsets": Claim(category="demo", sentence=doc.text, field=field, start=-5, end=10**6),
                "field": Mention(category="demo", entity="x", field="body", start=0, end=1, text="x"),
                "type": "a string",
                "entities": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n, entities="STING1"),
                "subject": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n, subject=5),
                "negated": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n, negated="no"),
                "cues": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n, hedge_cues=[None]),
                "float offset": Claim(category="demo", sentence=doc.text, field=field, start=0.5, end=n),
                "text confidence": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n,
                                         confidence="0.9"),
                "sentence": Claim(category="demo", sentence="IFN cured every cancer.", field=field, start=0, end=n),
                "mention text": Mention(category="demo", entity="x", field=field, start=0, end=6, text="STING1"),
                "mention entity": Mention(category="demo", entity=None, field=field, start=0, end=6, text=doc.text[:6]),
                "extra object": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n,
                                      extra={{"match": object()}}),
                "extra nan": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n,
                                   extra={{"score": float("nan")}}),
                "extra nested inf": Claim(category="demo", sentence=doc.text, field=field, start=0, end=n,
                                          extra={{"scores": [1.0, float("inf")]}}),
            }}["{problem}"]
            yield Claim(category="demo", sentence=doc.text, field=field, start=0, end=n)
            yield bad

    @hookimpl
    def register_extractors(register):
        register(Forger())
"""


EXITING_PLUGIN = """
    import sys

    from evidex import Extractor, hookimpl

    {at_import}

    class Exiter(Extractor):
        name = "exiter"
        version = "0.1"

        def setup(self, nlp):
            {in_setup}

        def extract(self, document, field, doc):
            sys.exit(0)  # a library's argparse or a leftover exit() does this

    @hookimpl
    def register_extractors(register):
        register(Exiter())
"""


def ingest_beside_a_working_plugin(plugins: Path, tmp_path: Path):
    "Ingest one paper with the plugins dir plus a plugin 'words' that works: (the database, the result)."
    write_plugin(plugins, "words", EXTRACTOR_PLUGIN.format(name="words", word="cancer"))
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "", "abstract": "Cancer cells grew."}) + "\n")
    db_path = tmp_path / "e.db"
    return db_path, CliRunner().invoke(cli, ["ingest", "--db", str(db_path), "--plugins-dir", str(plugins),
                                             str(docs)], env={"EVIDEX_LOAD_PLUGINS": ""})


@pytest.mark.parametrize("where, code, said", [
    ("extract", 1, "plugin exiter failed on 1: SystemExit: 0"),
    ("setup", 2, "Error: extractor 'exiter' failed to set up: SystemExit: 3"),
    ("import", 1, "plugin exiter failed to load: SystemExit: 3"),
])
def test_a_plugin_that_calls_sys_exit_is_a_failing_plugin_not_the_end_of_the_command(fresh, tmp_path, where, code, said):
    "Exit 0 with nothing stored (or a run left 'running') would pass for success: it is the plugin's error."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "exiter", EXITING_PLUGIN.format(
        at_import="sys.exit(3)" if where == "import" else "", in_setup="sys.exit(3)" if where == "setup" else "pass"))
    db_path, result = ingest_beside_a_working_plugin(plugins, tmp_path)
    assert result.exit_code == code, result.output
    assert said in result.output.splitlines()
    if where == "setup":
        assert not db_path.exists()
    else:
        db = open_db(db_path)
        assert [r[0] for r in db.execute("select plugin from claims")] == ["words"]
        assert [r[0] for r in db.execute("select status from runs")] == ["errors"]


@pytest.mark.parametrize("problem,message", [
    ("category", "category 'ifn', not one of its categories (demo)"),
    ("direction", "direction 'sideways'"),
    ("confidence", "confidence 7.5"),
    ("offsets", "outside the abstract it was given"),
    ("field", "body[0:1], outside the abstract"),
    ("type", "neither a Claim nor a Mention"),
    ("entities", "whose entities is 'STING1', not a list of texts"),
    ("subject", "whose subject is 5, not text or None"),
    ("negated", "whose negated is 'no', not True or False"),
    ("cues", "whose hedge_cues is [None], not a list of texts"),
    ("float offset", "whose start is 0.5, not a whole number"),
    ("text confidence", "whose confidence is '0.9', not a number"),
    ("sentence", "whose sentence 'IFN cured every cancer.' is not the text at abstract[0:18]"),
    ("mention text", "whose text 'STING1' is not the text at abstract[0:6]"),
    ("mention entity", "whose entity is None, not non-empty text"),
    # Stored, an object's address or a NaN would give the claim another id in every run.
    ("extra object", "whose extra cannot be stored as JSON: object value '<object object at 0x"),
    ("extra nan", "whose extra cannot be stored as JSON: Out of range float values are not JSON compliant"),
    ("extra nested inf", "whose extra cannot be stored as JSON: Out of range float values are not JSON compliant"),
])
def test_what_a_plugin_yields_is_checked_before_it_is_stored(fresh, tmp_path, problem, message):
    "A claim under another plugin's category, off the text or with an unknown direction is an error, not evidence."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "forger", FORGING_PLUGIN.format(problem=problem))
    db_path, result = ingest_beside_a_working_plugin(plugins, tmp_path)
    assert result.exit_code == 1, result.output
    db = open_db(db_path)
    assert [r[0] for r in db.execute("select plugin from claims")] == ["words"]  # nothing of the forger's
    errors = [tuple(r) for r in db.execute("select plugin, error from run_errors")]
    assert len(errors) == 1 and errors[0][0] == "forger" and "PluginOutputError" in errors[0][1]
    assert message in errors[0][1], errors[0][1]


STEADY_EXTRA_PLUGIN = """
    import datetime
    import pathlib

    from evidex import Claim, Extractor, hookimpl

    class Steady(Extractor):
        name = "steady"
        categories = ("demo",)

        def extract(self, document, field, doc):
            yield Claim(category="demo", sentence=doc.text, field=field, start=0, end=len(doc.text), extra={{
                "score": 0.5, "hits": ["a", "b"], "tags": {{"y", "x"}}, "when": datetime.date(2026, 1, 2),
                "lexicon": pathlib.Path("terms.txt"), "nested": {{"n": [1, 2.5, None]}}}})

    @hookimpl
    def register_extractors(register):
        register(Steady())
"""


def test_an_extra_with_stable_text_is_stored_and_keeps_its_claim_id_across_runs(fresh, tmp_path):
    "Dates, paths, sets and nested numbers pass the extra check, and extracting again finds the same claim."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "steady", STEADY_EXTRA_PLUGIN.format())
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "", "abstract": "Cancer cells grew."}) + "\n")
    db_path = tmp_path / "e.db"
    env = {"EVIDEX_LOAD_PLUGINS": ""}
    first = CliRunner().invoke(cli, ["ingest", "--db", str(db_path), "--plugins-dir", str(plugins), str(docs)], env=env)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, ["extract", "--all", "--db", str(db_path), "--plugins-dir", str(plugins)], env=env)
    assert again.exit_code == 0, again.output
    db = open_db(db_path)
    rows = [(r[0], json.loads(r[1]), r[2]) for r in db.execute("select id, extra, superseded_run from claims")]
    assert len(rows) == 1 and rows[0][2] is None  # the same id: not superseded by a copy of itself
    assert rows[0][1] == {"score": 0.5, "hits": ["a", "b"], "tags": ["x", "y"], "when": "2026-01-02",
                          "lexicon": "terms.txt", "nested": {"n": [1, 2.5, None]}}
    assert not list(db.execute("select * from run_errors"))


RETURNING_PLUGIN = """
    from evidex import Claim, Extractor, hookimpl

    class Returner(Extractor):
        name = "returner"

        def extract(self, document, field, doc):
            return {returned}

    @hookimpl
    def register_extractors(register):
        register(Returner())
"""


@pytest.mark.parametrize("returned,what", [
    ("None", "None"),  # the `return` of a function that was meant to yield, or found nothing
    ("'a claim'", "a str"),
    ("{'category': 'demo'}", "a dict"),
    ("Claim(category='demo', sentence=doc.text, field=field, start=0, end=len(doc.text))", "a Claim"),
    ("len(doc.text)", "an int"),
])
def test_an_extract_that_returns_no_items_says_what_it_returned(fresh, tmp_path, returned, what):
    "Not Python's \"'NoneType' object is not iterable\", nor one character of a string called an item."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "returner", RETURNING_PLUGIN.format(returned=returned))
    db_path, result = ingest_beside_a_working_plugin(plugins, tmp_path)
    assert result.exit_code == 1, result.output
    said = (f"plugin returner failed on 1: PluginOutputError: extract() returned {what}, not Claims and Mentions "
            "to iterate over: yield each one, or return a list ([] for none)")
    assert said in result.output.splitlines(), result.output
    db = open_db(db_path)
    assert [r[0] for r in db.execute("select plugin from claims")] == ["words"]
    assert [r[0] for r in db.execute("select plugin from run_errors")] == ["returner"]


def guide_example(heading: str) -> str:
    "The python example of one hook's section of plugins/README.md, as a reader would copy it."
    from test_docs import sections

    section = sections()[heading]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return next(b for b in blocks if "@hookimpl" in b)


def ingest_from(tmp_path, source_body: str, *args: str):
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "folder_source", source_body)
    db_path = tmp_path / "e.db"
    result = CliRunner().invoke(cli, ["ingest", "--db", str(db_path), "--plugins-dir", str(plugins), *args],
                                env={"EVIDEX_LOAD_PLUGINS": ""})
    return result, db_path


def test_the_guides_source_example_ingests_with_source(fresh, tmp_path):
    "A plugin Source with only search() works with `ingest --source`, as plugins/README.md shows it."
    data = tmp_path / "records"
    data.mkdir()
    for name, title in (("a", "IFN-beta restrains tumours"), ("b", "Cisplatin in mice")):
        (data / f"{name}.json").write_text(json.dumps({"title": title, "abstract": "Cancer cells grew."}))
    result, db_path = ingest_from(tmp_path, guide_example("register_sources(register)"),
                                  "--source", "folder", "--query", str(data), "--no-extract")
    assert result.exit_code == 0, result.output
    db = open_db(db_path)
    assert [tuple(r) for r in db.execute("select id, source from documents order by id")] == [
        ("folder:a", "folder"), ("folder:b", "folder")]
    assert [tuple(r) for r in db.execute("select source, query, status from runs")] == [("folder", str(data), "ok")]
    result, _ = ingest_from(tmp_path, guide_example("register_sources(register)"),
                            "--source", "folder", "--query", str(data), "--all")
    assert result.exit_code == 2 and "takes --query, --since and --limit only" in result.output


def test_a_search_sources_limit_holds_and_its_receipt_reruns_it(fresh, tmp_path):
    "The guide's source ignores --limit: evidex stops at it anyway; the rerun finds the source again."
    data = tmp_path / "records"
    data.mkdir()
    for name in "abc":
        (data / f"{name}.json").write_text(json.dumps({"title": f"Paper {name}", "abstract": "Cancer cells grew."}))
    result, db_path = ingest_from(tmp_path, guide_example("register_sources(register)"), "--source", "folder",
                                  "--query", str(data), "--since", "2020-01-01", "--limit", "2", "--no-extract")
    assert result.exit_code == 0, result.output
    assert [r[0] for r in open_db(db_path).execute("select id from documents order by id")] == ["folder:a", "folder:b"]
    receipt = json.loads(CliRunner().invoke(cli, ["runs", "--receipt", "1", "--db", str(db_path)]).output)
    # Set but empty, EVIDEX_LOAD_PLUGINS loaded no installed plugin: no source of theirs could answer instead.
    assert receipt["rerun"] == ["env", "EVIDEX_LOAD_PLUGINS=", "evidex", "ingest", "--no-extract", "--plugins-dir",
                                str(tmp_path / "plugins"), "--source", "folder", "--query", str(data), "--since",
                                "2020-01-01", "--limit", "2"]
    again = CliRunner().invoke(cli, [*rerun_args(receipt["rerun"]), "--db", str(tmp_path / "again.db")],
                               env={"EVIDEX_LOAD_PLUGINS": ""})
    assert again.exit_code == 0, again.output
    assert open_db(tmp_path / "again.db")["documents"].count == 2


def test_a_source_that_fails_part_way_is_one_line_and_changes_nothing(fresh, tmp_path):
    body = """
        from evidex import Document, Source, hookimpl

        class Flaky(Source):
            name = "folder"

            def search(self, query, **options):
                yield Document(id="flaky:1", title="One", abstract="Cancer cells grew.")
                raise ConnectionError("the archive went away")

        @hookimpl
        def register_sources(register):
            register(Flaky())
    """
    result, db_path = ingest_from(tmp_path, body, "--source", "folder", "--query", "x")
    assert result.exit_code == 4, result.output
    assert result.output.strip().splitlines()[-1] == \
        "Error: source 'folder' failed: ConnectionError: the archive went away"
    db = open_db(db_path)
    assert db.execute("select count(*) from documents").fetchone()[0] == 0
    assert db.execute("select count(*) from runs").fetchone()[0] == 0


def test_a_broken_shared_cue_file_names_itself_and_its_line(tmp_path):
    "cues.json is read by all four built-ins: a syntax error there names the file, not only one extractor."
    broken = tmp_path / "cues.json"
    broken.write_text('{\n  "neg": ["not", "no"],\n  "hedge": ["may"\n}\n')
    code = ("import evidex_plugins.base as b, pathlib, sys; b.CUES_PATH = pathlib.Path(sys.argv[1])\n"
            "try:\n    import evidex_plugins.common\nexcept ValueError as ex:\n    print(ex)\n")
    result = subprocess.run([sys.executable, "-c", code, str(broken)], capture_output=True, text=True)
    assert result.stdout.strip() == f"{broken} line 4: not valid JSON (Expecting ',' delimiter)", result.stderr


CHECKED_PLUGIN = """
    from evidex import Extractor, hookimpl

    class Checked(Extractor):
        name = "checked"

        def setup(self, nlp):
            {setup}

        def extract(self, document, field, doc):
            {extract}
            return []

    @hookimpl
    def register_extractors(register):
        register(Checked())
"""


@pytest.mark.parametrize("setup,extract,code,message", [
    ("pass", "pass", 0, None),
    ("raise RuntimeError('no lexicon here')", "pass", 2,
     "Error: extractor 'checked' failed to set up: RuntimeError: no lexicon here"),
    ("pass", "raise ValueError('boom')", 1, "FAILED checked: extract raised ValueError: boom"),
])
def test_plugins_check_sets_up_and_runs_every_extractor(fresh, tmp_path, setup, extract, code, message):
    "Without --check a setup failure shows only at the first extraction; with it, at once."
    write_plugin(tmp_path, "checked", CHECKED_PLUGIN.format(setup=setup, extract=extract))
    env = {"EVIDEX_LOAD_PLUGINS": ""}
    assert CliRunner().invoke(cli, ["plugins", "--plugins-dir", str(tmp_path)], env=env).exit_code == 0
    result = CliRunner().invoke(cli, ["plugins", "--check", "--plugins-dir", str(tmp_path)], env=env)
    assert result.exit_code == code, result.output
    assert "checked 1 extractors" in result.output or code == 2
    if message:
        assert message in result.output


def test_a_claim_whose_extra_holds_a_date_is_stored_as_text(fresh, tmp_path):
    "extra is the plugin's own: a date in it is stored as its text, and the claim keeps its id on re-extraction."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "dated", """
        import datetime
        from evidex import Claim, Extractor, hookimpl

        class Dated(Extractor):
            name = "dated"
            version = "1"

            def extract(self, document, field, doc):
                return [Claim(category="x", sentence=doc.text, field=field, start=0, end=len(doc.text),
                              extra={"seen": datetime.date(2026, 1, 2), "tags": {"beta", "alpha", "gamma"}})]

        @hookimpl
        def register_extractors(register):
            register(Dated())
    """)
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"pmid": "1", "title": "A title."}\n')
    db_path = tmp_path / "e.db"
    # Separate processes, so a set's text order (hash seeds differ) would change the claim id.
    for args in (["ingest", str(docs)], ["extract", "--all"], ["extract", "--all"]):
        result = subprocess.run([sys.executable, "-m", "evidex", *args, "--db", str(db_path), "--plugins-dir",
                                 str(plugins)], env={**os.environ, "EVIDEX_LOAD_PLUGINS": ""},
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    rows = open_db(db_path).execute("select extra, superseded_run from claims").fetchall()
    assert rows == [('{"seen": "2026-01-02", "tags": ["alpha", "beta", "gamma"]}', None)]


def test_a_plugins_dir_module_named_in_evidex_load_plugins_is_no_error(fresh, tmp_path, monkeypatch):
    write_plugin(tmp_path, "words", EXTRACTOR_PLUGIN.format(name="words", word="cancer"))
    monkeypatch.setenv("EVIDEX_LOAD_PLUGINS", "ifn,words")
    assert {"ifn", "words"} <= set(get_extractors(str(tmp_path)))


@pytest.mark.parametrize("attributes, problem", [
    ("name = None", "name is None, not a non-empty string"),
    ("name = ''", "name is '', not a non-empty string"),
    ("name = 'odd'\n    version = 1.5", "version is 1.5, not a non-empty string"),
    ("name = 'odd'\n    categories = 'ifn'", "categories is 'ifn', not a tuple of category names"),
])
def test_an_extractor_with_a_bad_name_version_or_categories_is_one_line(fresh, tmp_path, attributes, problem):
    "name=None was a TypeError traceback from sorting the extractors; categories='ifn' let 'if' pass as a category."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "odd", f"""
        from evidex import Extractor, hookimpl

        class Odd(Extractor):
            {attributes.replace(chr(10) + '    ', chr(10) + '            ')}

            def extract(self, document, field, doc):
                return []

        @hookimpl
        def register_extractors(register):
            register(Odd())
    """)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "", "abstract": "Cancer cells grew."}) + "\n")
    db_path = tmp_path / "e.db"
    result = CliRunner().invoke(cli, ["ingest", "--db", str(db_path), "--plugins-dir", str(plugins), str(docs)],
                                env={"EVIDEX_LOAD_PLUGINS": ""})
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert line == f"Error: plugin 'odd' registered an extractor whose {problem}"


def test_an_extractor_whose_data_file_is_missing_is_one_line(fresh, tmp_path):
    "A data file left out of a package was a FileNotFoundError traceback (exit 1) when the run hashed it."
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "lexical", f"""
        from pathlib import Path

        from evidex import Extractor, hookimpl

        class Lexical(Extractor):
            name = "lexical"
            data_files = (Path({str(tmp_path / "missing.jsonl")!r}),)

            def extract(self, document, field, doc):
                return []

        @hookimpl
        def register_extractors(register):
            register(Lexical())
    """)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "", "abstract": "Cancer cells grew."}) + "\n")
    for args in (["ingest", "--db", str(tmp_path / "e.db"), str(docs)],
                 ["extract", "--input", str(docs), "--output", str(tmp_path / "claims.jsonl")]):
        result = CliRunner().invoke(cli, [*args, "--plugins-dir", str(plugins)], env={"EVIDEX_LOAD_PLUGINS": ""})
        assert result.exit_code == 2, result.output
        [line] = result.output.strip().splitlines()
        assert line == f"Error: extractor 'lexical' cannot read its data file {tmp_path / 'missing.jsonl'}: No such file or directory"
    assert not (tmp_path / "claims.jsonl").exists()


@pytest.mark.parametrize("content", ["nothing", "package folder", "private file"])
def test_a_plugins_dir_that_holds_no_plugin_is_warned_of(fresh, tmp_path, content):
    "A wrong folder (the package's own, its project's) would run without the plugin meant and say nothing."
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    if content == "package folder":
        (plugins / "evidex_words").mkdir()
        (plugins / "evidex_words" / "__init__.py").write_text("")
    elif content == "private file":
        (plugins / "_helpers.py").write_text("")
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "1", "title": "", "abstract": "Cancer cells grew."}) + "\n")
    result = CliRunner().invoke(cli, ["ingest", "--db", str(tmp_path / "e.db"), "--plugins-dir", str(plugins),
                                      str(docs)], env={"EVIDEX_LOAD_PLUGINS": ""})
    assert result.exit_code == 0, result.output  # a configured folder may be empty on purpose
    assert (f"warning: plugins directory {plugins} holds no plugin (no .py file whose name does not start with _); "
            "an installed package is loaded by its entry point, not from its folder") in result.output.splitlines()


def test_a_plugins_dir_with_a_plugin_gives_no_warning(fresh, tmp_path):
    plugins = tmp_path / "plugins"
    db_path, result = ingest_beside_a_working_plugin(plugins, tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
