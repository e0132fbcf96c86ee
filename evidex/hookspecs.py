"""Hook specifications: the whole plugin surface of evidex."""

from collections.abc import Callable

import click
from pluggy import HookimplMarker, HookspecMarker

from .models import Extractor, Source

hookspec = HookspecMarker("evidex")
hookimpl = HookimplMarker("evidex")


@hookspec
def register_sources(register: Callable[[Source], None]) -> None:
    """Register Source instances that fetch documents, e.g. PubMed"""


@hookspec
def register_extractors(register: Callable[[Extractor], None]) -> None:
    """Register Extractor instances that turn a parsed document into claims"""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Register additional CLI commands, e.g. 'evidex mycommand ...'"""


@hookspec
def register_queries(register: Callable[..., None]) -> None:
    """Register Datasette canned queries (register(name, sql=...)) or facets (register(table=..., facets=[...]))"""
