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
