"""The core sentence splitter: where it marks starts, the same through nlp.pipe as one doc at a time."""

from __future__ import annotations

import pytest

from evidex.nlp import make_nlp, split_sentences

LETTER_STOPS = "IFN-g. T cells rose in Fig. 2b. Urine protein fell to 2.8 g. Within days. J. Smith agreed."
CAPITAL_STOPS = "It activated NF-kB. Cells expressed E1A. Mice carried KRAS G12C. See Fig. 2B. The U.S. data agreed."
LONE_CAPITALS = "Treated for hepatitis C. Then cyclin E. Smith, J. Then A. J. Smith spoke. E. coli grew. Done."
TEXTS = [
    "",
    ".",
    "Done. ",
    "IFN-β rose. It fell! Did it? yes. p53 was lost. e.g. this. Smith et al. Found it. Fig. 2 shows.",
    "A single sentence without an end",
    ". Leading stop. (Brackets) open. “Quotes” too. 3 mice. α-cells. c-Myc rose.",
    "Ends with a stop.",
    "Two  spaces.  Then\nnew line. Done.",
    LETTER_STOPS,
    CAPITAL_STOPS,
    LONE_CAPITALS,
]


@pytest.fixture(scope="module")
def nlp():
    return make_nlp()


def _starts(doc) -> list[bool | None]:
    return [t.is_sent_start for t in doc]


def test_pipe_batches_mark_the_same_starts_as_single_docs(nlp):
    "Every token's is_sent_start (True, False, None) agrees, across batch and doc edges."
    texts = TEXTS * 20  # more than one batch, empty docs among them
    piped = [_starts(doc) for doc in nlp.pipe(texts, batch_size=7)]
    single = [_starts(split_sentences(nlp.make_doc(text))) for text in texts]
    assert piped == single


def test_starts_after_end_marks_only(nlp):
    "A start needs . ! or ? then white space, a word that can open a sentence, and no abbreviation."
    doc = split_sentences(nlp.make_doc(TEXTS[3]))
    assert [s.text for s in doc.sents] == [
        "IFN-β rose.", "It fell!", "Did it? yes.", "p53 was lost. e.g. this.", "Smith et al. Found it.",
        "Fig. 2 shows."]
    assert all(t.is_sent_start is False for t in doc[1:] if t.i not in {s.start for s in doc.sents})


@pytest.mark.parametrize("text,sentences", [
    # spaCy's English exceptions keep "g." whole; in abstracts the letter is a unit, a panel or a variant.
    (LETTER_STOPS, ["IFN-g.", "T cells rose in Fig. 2b.", "Urine protein fell to 2.8 g.", "Within days.",
                    "J. Smith agreed."]),
    # spaCy splits a stop after two capitals only: after "kB", "E1A" or "G12C" the name and the end were lost.
    (CAPITAL_STOPS, ["It activated NF-kB.", "Cells expressed E1A.", "Mice carried KRAS G12C.", "See Fig. 2B.",
                     "The U.S. data agreed."]),
    # "hepatitis C." and "cyclin E." end sentences; "Smith, J.", "A. J. Smith" and "E. coli" do not.
    (LONE_CAPITALS, ["Treated for hepatitis C.", "Then cyclin E.", "Smith, J. Then A. J. Smith spoke.", "E. coli grew.",
                     "Done."]),
])
def test_a_letter_before_a_stop_ends_the_sentence_unless_it_is_an_initial(nlp, text, sentences):
    assert [s.text for s in split_sentences(nlp.make_doc(text)).sents] == sentences


@pytest.mark.parametrize("text,tokens", [
    ("IFN-g.", ["IFN", "-", "g", "."]),
    ("e.g. i.e.", ["e.g.", "i.e."]),
    ("NF-kB.", ["NF", "-", "kB", "."]),
    ("U.S. Ph.D.", ["U.S.", "Ph.D."]),
    ("The U.S. agency", ["The", "U.S.", "agency"]),
    ("Mx1-Cre;Kras mice", ["Mx1", "-", "Cre", ";", "Kras", "mice"]),  # genotype alleles joined by a semicolon
])
def test_tokens_around_stops_and_joins(nlp, text, tokens):
    assert [t.text for t in nlp.make_doc(text)] == tokens


def test_a_claim_without_a_section_gets_the_label_in_force_in_lower_case(nlp):
    "A PubMed category (RESULTS) and a Europe PMC heading (Results) give one section value."
    from evidex.models import Claim, Document, Extractor
    from evidex.pipeline import extract

    class Whole(Extractor):
        name, version = "whole", "0"

        def extract(self, document, field, doc):
            return [Claim(category="x", sentence=s.text, field=field, start=s.start_char, end=s.end_char)
                    for s in doc.sents]

    abstract = "Background: IFN rises. Results: Tumours shrank."
    pubmed = Document(id="1", abstract=abstract, sections=[
        {"label": "Background", "category": "BACKGROUND", "start": 0, "end": 22},
        {"label": "Results", "category": "RESULTS", "start": 23, "end": len(abstract)}])
    europepmc = Document(id="2", abstract=abstract, sections=[
        {"label": "Background", "category": None, "start": 0, "end": 22},
        {"label": "Results", "category": None, "start": 23, "end": len(abstract)}])
    sections = [[c.section for c in found] for _, found in extract(nlp, [pubmed, europepmc], [Whole()], print)]
    assert sections == [["background", "results"]] * 2
