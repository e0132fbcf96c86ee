"""The base class of the four built-in plugins: light to import, spaCy loaded only when extracting."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from evidex import Claim, Document, Extractor, Mention

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

HERE = Path(__file__).resolve().parent
CUES_PATH = HERE / "cues.json"

_common: ModuleType | None = None


def _shared() -> ModuleType:
    "The shared matching and sentence rules (plugins.common), imported on first use."
    # Every CLI start loads the plugins (they may add commands); importing spaCy and compiling
    # the rules there would slow `evidex --help` or `evidex status` by most of a second.
    global _common
    if _common is None:
        from . import common

        _common = common
    return _common


class LexiconExtractor(Extractor):
    "Base of the four built-in plugins: one category, one lexicon file, the shared rules."

    name = ""
    version = "0.17"
    categories: tuple[str, ...] = ()
    lexicon: Path = HERE
    require_trigger = False

    @property
    def data_files(self) -> tuple[Path, ...]:  # type: ignore[override]
        return (self.lexicon, CUES_PATH)

    def setup(self, nlp: Language) -> None:
        _shared().install(nlp, self.categories[0], self.lexicon)

    def extract(self, document: Document, field: str, doc: Doc) -> Iterable[Claim | Mention]:
        return _shared().build_claims(self, document, field, doc, self.categories[0], self.require_trigger)
