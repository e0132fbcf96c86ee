"""Built-in sources (PubMed E-utilities, Europe PMC), registered as a default plugin."""

from .hookspecs import hookimpl


@hookimpl
def register_sources(register):
    pass
