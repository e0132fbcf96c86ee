"""`evidex plugins new` scaffolds a package that installs, registers and passes its own test."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner

from evidex.cli import cli
from evidex.scaffold import scaffold

ROOT = Path(__file__).resolve().parent.parent
BUILT_INS = {"ifn", "pathway", "therapy", "age"}
COPY_IGNORE = shutil.ignore_patterns(".venv", ".git", "*.db", "*.db-*", "__pycache__", "build", "dist",
                                     "*.egg-info", ".pytest_cache", "artifacts", ".evidex-cache", "*.lock")


def test_new_writes_the_package(tmp_path):
    result = CliRunner().invoke(cli, ["plugins", "new", "demo", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "evidex-demo"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md", "evidex_demo/__init__.py", "evidex_demo/demo.jsonl", "pyproject.toml",
        "tests/test_demo.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points.evidex]\ndemo = "evidex_demo"' in pyproject
    assert "from evidex import Claim, Extractor, Mention, hookimpl" in (root / "evidex_demo/__init__.py").read_text()
    # A generated file must not send its reader to a placeholder address.
    assert not [p for p in root.rglob("*") if p.is_file() and "example.org" in p.read_text()]


def test_plugins_listing_still_works_as_a_group(tmp_path):
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code in (0, 1), result.output
    assert "plugins" in json.loads(result.output)
    assert "new" in CliRunner().invoke(cli, ["plugins", "--help"]).output


@pytest.mark.parametrize("name", ["Bad", "1abc", "has-dash", "a" * 41, "x/y"])
def test_bad_names_are_refused(tmp_path, name):
    result = CliRunner().invoke(cli, ["plugins", "new", name, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not valid" in result.output
    assert list(tmp_path.iterdir()) == []


def test_never_overwrites(tmp_path):
    scaffold("demo", tmp_path)
    result = CliRunner().invoke(cli, ["plugins", "new", "demo", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "already exists" in result.output


@pytest.mark.parametrize("name", ["ifn", "therapy"])
def test_the_name_of_an_installed_plugin_is_refused(tmp_path, name):
    "Installed beside the built-in, a second 'ifn' would make every command stop on the clash."
    result = CliRunner().invoke(cli, ["plugins", "new", name, "--dir", str(tmp_path)], env={"EVIDEX_LOAD_PLUGINS": None})
    assert result.exit_code == 2 and f"a plugin or extractor named {name!r} is already installed" in result.output
    assert list(tmp_path.iterdir()) == []


def test_missing_dir_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["plugins", "new", "demo", "--dir", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.parametrize("line, problem", [
    ('{"id": "X", "label": "DEMO", "terms": ["x"]', "demo.jsonl line 3: not JSON (Expecting ',' delimiter at column 44)"),
    ('{"id": "X", "terms": ["x"]}', "demo.jsonl line 3: an object with id, label and terms (a list of texts) is needed"),
])
def test_a_broken_line_of_the_scaffolds_terms_is_named_by_file_and_line(tmp_path, monkeypatch, line, problem):
    "The one line a failed setup gives points the plugin's author at the line to fix."
    from evidex.errors import PluginError
    from evidex.nlp import make_nlp

    root = scaffold("demo", tmp_path)
    terms = root / "evidex_demo" / "demo.jsonl"
    terms.write_text(terms.read_text() + line + "\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "evidex_demo", raising=False)
    from evidex_demo import DemoExtractor

    with pytest.raises(PluginError) as failed:
        make_nlp([DemoExtractor()])
    assert str(failed.value) == f"extractor 'demo' failed to set up: ValueError: {problem}"


def run(args, cwd, env=None, timeout=300):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_installed_wheel_and_scaffolded_plugin_work_in_a_fresh_venv(tmp_path):
    """`pip install .` (non-editable) gives a working evidex; a scaffolded plugin installs beside it.

    The fresh venv gets evidex and the plugin with --no-deps; a .pth file lends it the main
    environment's dependencies (spaCy and friends), so the only downloads are the build backend
    (setuptools) that pip's isolated builds fetch, from pip's cache or index after the first time.
    """
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    py = venv / "bin" / "python"
    site = Path(run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp_path).stdout.strip())
    (site / "_evidex_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(py), "--disable-pip-version-check"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDEX_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"

    # A copy, so the build never writes into the checkout other people are working in.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=COPY_IGNORE)
    run([*pip, "install", "--no-deps", "."], src, env)
    where = run([str(py), "-c", "import evidex, evidex_plugins; print(evidex.__file__); "
                 "print(evidex_plugins.__file__)"], tmp_path, env).stdout.split()
    assert all(w.startswith(str(site)) for w in where), where  # the wheel, not the checkout

    listing = json.loads(run([str(venv / "bin" / "evidex"), "plugins", "--json"], tmp_path, env).stdout)
    names = {p["name"] for p in listing["plugins"]}
    assert BUILT_INS <= names, names
    assert listing["failures"] == []

    # Scaffold and install it the way its README says (a regular, isolated build).
    result = CliRunner().invoke(cli, ["plugins", "new", "demo", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    plugin = tmp_path / "evidex-demo"
    run([*pip, "install", "--no-deps", str(plugin)], tmp_path, env)

    listing = json.loads(run([str(venv / "bin" / "evidex"), "plugins", "--json"], tmp_path, env).stdout)
    demo = [p for p in listing["plugins"] if p["name"] == "demo"]
    assert demo and demo[0]["version"] == "0.1.0" and demo[0]["hooks"] == ["register_extractors"]
    assert BUILT_INS <= {p["name"] for p in listing["plugins"]}

    # Its own test passes once installed (run from the plugin folder, against the installed copy).
    run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], plugin, env)

    # An extraction with it stores its claims under its name and version.
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"pmid": "101", "title": "An example term in a title.",
                                "abstract": "First sentence. Another example here."}) + "\n")
    db_path = tmp_path / "e.db"
    env_demo = {**env, "EVIDEX_LOAD_PLUGINS": "demo"}
    run([str(venv / "bin" / "evidex"), "ingest", "--db", str(db_path), str(docs)], tmp_path, env_demo)
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("select plugin, plugin_version, field, sentence from claims order by field").fetchall()
    assert rows == [
        ("demo", "0.1.0", "abstract", "Another example here."),
        ("demo", "0.1.0", "title", "An example term in a title."),
    ]
