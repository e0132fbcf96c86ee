"""Every hook in evidex/hookspecs.py is documented in plugins/README.md with its exact signature."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOOKSPECS = ROOT / "evidex" / "hookspecs.py"
GUIDE = ROOT / "plugins" / "README.md"


def hookspecs() -> dict[str, ast.FunctionDef]:
    "Hook name -> its definition, read from the source so annotations stay as written."
    tree = ast.parse(HOOKSPECS.read_text(encoding="utf-8"))
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(isinstance(d, ast.Name) and d.id == "hookspec" for d in node.decorator_list)
    }


def signature(node: ast.FunctionDef) -> str:
    "`def name(args) -> ret:` exactly as hookspecs.py spells it."
    ret = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"def {node.name}({ast.unparse(node.args)}){ret}:"


def sections() -> dict[str, str]:
    "'## name(args)' heading -> the text of its section."
    text = GUIDE.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def test_there_are_hooks_to_document():
    assert {"register_extractors", "register_sources", "register_commands"} <= set(hookspecs())


@pytest.mark.parametrize("name", sorted(hookspecs()))
def test_hook_is_documented_with_its_exact_signature(name):
    node = hookspecs()[name]
    heading = f"{name}({', '.join(a.arg for a in node.args.args)})"
    found = sections()
    assert heading in found, f"plugins/README.md has no '## {heading}' section"
    assert signature(node) in found[heading], (
        f"the '## {heading}' section of plugins/README.md does not show `{signature(node)}`"
    )
    assert "@hookimpl" in found[heading], f"the '## {heading}' section has no example"


def test_guide_documents_no_hook_that_does_not_exist():
    documented = {h.split("(")[0] for h in sections() if re.match(r"^\w+\(.*\)$", h)}
    assert documented <= set(hookspecs()), f"documented but not a hook: {documented - set(hookspecs())}"


def test_guide_covers_loading_and_the_data_model():
    text = GUIDE.read_text(encoding="utf-8")
    for needle in ("EVIDEX_LOAD_PLUGINS", "--plugins-dir", "[project.entry-points.evidex]",
                   "Extractor", "Claim", "Mention", "evidex plugins new"):
        assert needle in text, needle


SCHEDULING = ROOT / "README.md"


def test_scheduling_recipes_name_their_environment_and_every_exit_code():
    from evidex.run import EXIT_ERRORS, EXIT_LOCKED, EXIT_NETWORK, EXIT_OK, EXIT_USAGE

    text = SCHEDULING.read_text(encoding="utf-8")
    text = text[text.index("## Scheduled runs"):]
    recipes = re.split(r"^##+ ", text, flags=re.M)
    for title in ("cron", "systemd timer", "Scheduled CI workflow"):
        [section] = [r for r in recipes if r.startswith(title)]
        for variable in ("EVIDEX_EMAIL", "NCBI_API_KEY", "EVIDEX_DB"):
            assert variable in section, f"the {title} recipe does not set {variable}"
        assert "evidex run" in section
    from evidex.cli import EXIT_CLOSED_PIPE

    for code in (EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_LOCKED, EXIT_NETWORK, EXIT_CLOSED_PIPE):
        assert re.search(rf"^\| {code} \|", text, flags=re.M), f"exit code {code} is not in the table"


def test_the_ci_workflow_resumes_from_the_last_run_failed_or_not():
    "A run that exits 1 or 4 uploads its database; the next run must download that one, not the last success's."
    text = SCHEDULING.read_text(encoding="utf-8")
    workflow = text[text.index("### Scheduled CI workflow"):]
    workflow = workflow[workflow.index("```yaml"):workflow.index("```\n", workflow.index("```yaml") + 7)]
    step = workflow[workflow.index("dawidd6/action-download-artifact"):workflow.index("- name: evidex run")]
    # The action's default conclusion is `success`: every failed run's database would be skipped.
    assert re.search(r"^\s+workflow_conclusion: completed\b", step, flags=re.M), step
    assert "if: always()" in workflow  # and the failed run did upload it
    # With its WAL: a killed run's commits (a first run's, all of them) are there until a checkpoint.
    assert re.search(r"^\s+path: data/evidex\.db\*", workflow[workflow.index("upload-artifact"):], flags=re.M)


def test_the_systemd_recipe_says_a_stop_marks_the_unit_failed():
    "systemd counts exit 130 (a stop mid-run) as a failure unless SuccessExitStatus lists it."
    text = SCHEDULING.read_text(encoding="utf-8")
    section = text[text.index("### systemd timer"):text.index("### Scheduled CI workflow")]
    assert "SuccessExitStatus=3 130" in section


def test_the_readme_states_how_long_a_retry_after_may_hold_a_run():
    "An operator sizing a timeout needs the cap: Retry-After waits are not bounded by EVIDEX_BACKOFF_MAX."
    from evidex.http import MAX_RETRY_AFTER

    text = SCHEDULING.read_text(encoding="utf-8")
    live = text[text.index("## Live sources"):text.index("## Extraction plugins")]
    assert re.search(rf"Retry-After is honoured up to {MAX_RETRY_AFTER:g} s", " ".join(live.split())), live
    assert "token bucket" not in live  # the limiter spaces requests strictly: no burst to save up


def test_the_readme_lists_every_migration():
    "A reader checking a database with `sqlite-utils migrate --list` finds each name in the README."
    tree = ast.parse((ROOT / "evidex" / "migrations.py").read_text(encoding="utf-8"))
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and re.match(r"m\d{3}_", n.name)]
    readme = SCHEDULING.read_text(encoding="utf-8")
    assert len(names) >= 9 and all(f"`{name}`" in readme for name in names), names


def test_without_the_shared_data_tests_skip_with_the_reason(tmp_path):
    "The README: tests fail when ../shared is missing in CI and skip with the reason elsewhere."
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["EVIDEX_SHARED"] = str(tmp_path / "no-shared")
    # test_fetch.py asks for the data at its top level, before any test runs.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
               str(ROOT / "tests" / "test_fetch.py")]
    skipped = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    # 5: pytest's "no tests ran", as the whole module is skipped; a collection error is 2.
    assert skipped.returncode in (0, 5) and "1 skipped" in skipped.stdout, skipped.stdout[-2000:]
    assert "is missing: these tests read the real recorded data" in skipped.stdout
    failed = subprocess.run(command, capture_output=True, text=True, env={**env, "CI": "true"}, cwd=ROOT, timeout=120)
    assert failed.returncode != 0 and "is missing" in failed.stdout
