"""evidex: a living, queryable evidence table built from abstracts, extended by plugins."""

from __future__ import annotations

from .errors import EvidexError, PluginError
from .hookspecs import hookimpl
from .models import Claim, Deletion, Document, Extractor, Mention, Run, Source

__version__ = "0.1.0"

__all__ = [
    "Claim", "Deletion", "Document", "EvidexError", "Extractor", "Mention", "PluginError",
    "Run", "Source", "get_extractors", "get_sources", "hookimpl", "__version__",
]


def _extractor_problem(extractor: Extractor) -> str | None:
    "What is wrong with an extractor's name, version or categories (stored with every claim), or None."
    for key in ("name", "version"):
        value = getattr(extractor, key, None)
        if not isinstance(value, str) or not value.strip():
            return f"{key} is {value!r}, not a non-empty string"
    categories = getattr(extractor, "categories", ())
    # A string would pass the category check by substring: "if" in "ifn".
    if not isinstance(categories, (tuple, list)) or not all(isinstance(c, str) and c for c in categories):
        return f"categories is {categories!r}, not a tuple of category names"
    return None


def get_extractors(plugins_dir: str | None = None) -> dict:
    "Every registered extractor by name; two with one name is an error naming both."
    from .plugins import load_plugins, pm, state

    load_plugins(plugins_dir)
    found: dict = {}
    owners = state.owners
    owners.clear()

    for impl in pm.hook.register_extractors.get_hookimpls():
        owner = impl.plugin_name

        def register(extractor, owner=owner):
            if not isinstance(extractor, Extractor):
                raise PluginError(f"plugin {owner!r} registered {extractor!r}, which is not an Extractor")
            problem = _extractor_problem(extractor)
            if problem:
                raise PluginError(f"plugin {owner!r} registered an extractor whose {problem}")
            if extractor.name in found:
                raise PluginError(
                    f"two extractors are named {extractor.name!r}: one from plugin "
                    f"{owners[extractor.name]!r}, one from plugin {owner!r}"
                )
            found[extractor.name] = extractor
            owners[extractor.name] = owner

        try:
            impl.function(register=register)
        except PluginError:
            raise
        except (Exception, SystemExit) as ex:  # a broken plugin is reported; the others still run
            failure = (owner, f"register_extractors raised {type(ex).__name__}: {ex}")
            if failure not in state.failures:
                state.failures.append(failure)
    return dict(sorted(found.items()))


def get_sources(plugins_dir: str | None = None) -> dict:
    "Every registered source by name."
    from .plugins import load_plugins, pm

    load_plugins(plugins_dir)
    found: dict = {}

    def register(source):
        if source.name in found:
            raise PluginError(f"two sources are named {source.name!r}")
        found[source.name] = source

    pm.hook.register_sources(register=register)
    return found
