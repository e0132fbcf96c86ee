"""Click parameter types and options shared by several commands (kept light: every command imports them)."""

from __future__ import annotations

import click


class WorkerCount(click.IntRange):
    "A process count of 1 or more; a bad value from the environment names EVIDEX_WORKERS."

    def fail(self, message, param=None, ctx=None):
        if ctx is not None and param is not None and \
                ctx.get_parameter_source(param.name) is click.core.ParameterSource.ENVIRONMENT:
            message = f"(from EVIDEX_WORKERS) {message}"
        super().fail(message, param, ctx)


plugins_dir_option = click.option(
    "--plugins-dir",
    type=click.Path(file_okay=False),
    envvar="EVIDEX_PLUGINS_DIR",
    help="Directory of one-off plugin .py files to load",
)


def hold_run_lock(db_path) -> None:
    "Hold the database's run lock until the command ends, as every writing command does (exit 3 if taken)."
    from . import db as store

    ctx = click.get_current_context()
    ctx.meta["evidex.db"] = db_path  # what a disk-full message names (meta is shared with the group)
    ctx.with_resource(store.run_lock(db_path))
