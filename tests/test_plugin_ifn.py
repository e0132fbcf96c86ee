"""The ifn plugin: type I IFN variants, traps, and claim attributes on short sentences."""

from __future__ import annotations

import pytest

from evidex import get_extractors
from evidex.nlp import make_nlp
from plugin_support import claims, ids, run


def test_registered_through_public_hook():
    extractors = get_extractors()
    assert {"ifn", "pathway", "therapy", "age"} <= set(extractors)
    ifn = extractors["ifn"]
    assert ifn.categories == ("ifn",)
    assert any(p.name == "ifn.jsonl" and p.exists() for p in ifn.data_files)
    assert len(ifn.data_hash()) == 16


def test_one_shared_matching_pipe():
    extractors = list(get_extractors().values())
    nlp = make_nlp(extractors)
    assert nlp.pipe_names.count("evidex_lexicon") == 1
    assert "evidex_sentences" in nlp.pipe_names


def test_sentence_splitting_keeps_scientific_abbreviations(nlp_and_extractors):
    nlp, _ = nlp_and_extractors
    text = ("IFN-β rose (Smith et al. 2001). Levels fell, e.g. in Fig. 2 vs. controls at approx. 1.5 Gy. "
            "p53 was induced. pDCs died. RESULTS: IFN-α increased.")
    assert [s.text for s in nlp(text).sents] == [
        "IFN-β rose (Smith et al. 2001).",
        "Levels fell, e.g. in Fig. 2 vs. controls at approx. 1.5 Gy.",
        "p53 was induced.", "pDCs died.", "RESULTS: IFN-α increased.",
    ]


def test_tokenisation_of_variants(nlp_and_extractors):
    nlp, _ = nlp_and_extractors
    assert [t.text for t in nlp.make_doc("IFN-α")] == ["IFN", "-", "α"]
    assert [t.text for t in nlp.make_doc("IFNα")] == ["IFNα"]
    assert [t.text for t in nlp.make_doc("Ifnar1-/-")] == ["Ifnar1-/-"]


@pytest.mark.parametrize("surface,expected", [
    ("IFN-α", "ifn-alpha"), ("IFNα", "ifn-alpha"), ("IFN-alpha", "ifn-alpha"), ("IFN alpha", "ifn-alpha"),
    ("interferon-α", "ifn-alpha"), ("IFN-β", "IFNB1"), ("IFN-ß", "IFNB1"), ("IFNβ", "IFNB1"),
    ("IFN-beta", "IFNB1"), ("type I interferon", "type-i-ifn"), ("type I IFNs", "type-i-ifn"),
    ("IFN-α/β", "type-i-ifn"), ("IFN-I", "type-i-ifn"), ("IFNAR1", "IFNAR1"), ("Ifnar1", "IFNAR1"),
    ("Ifnar1-/-", "IFNAR1"), ("IFN-ε", "IFNE"), ("interferon-stimulated genes", "isg"),
    ("IFN-α2b", "IFNA2"), ("IRDS", "irds"),
    # Greek letters lost in conversion, after a dash:
    ("IFN-a", "ifn-alpha"), ("IFN-b", "IFNB1"), ("interferon-b", "IFNB1"), ("IFN-a2b", "IFNA2"),
    ("pegylated interferon alpha-2b", "IFNA2"), ("pegylated interferon (IFN) alpha-2b", "IFNA2"),
])
def test_variants_map_to_canonical_ids(nlp_and_extractors, surface, expected):
    items = run(nlp_and_extractors, f"{surface} strongly induced tumour cell apoptosis in mice.")
    assert expected in ids(items, "ifn")


def test_dash_letter_variant_at_a_sentence_end(nlp_and_extractors):
    "'IFN-b.' is IFN-β then a full stop, not an abbreviation 'b.' that hides both the term and the sentence end."
    items = run(nlp_and_extractors, "Tumour cells treated with cGAMP strongly secreted IFN-b. Mice were then irradiated.")
    assert "IFNB1" in ids(items, "ifn")
    assert [c.sentence for c in claims(items, "ifn")] == ["Tumour cells treated with cGAMP strongly secreted IFN-b."]


@pytest.mark.parametrize("text", [
    "IFN-γ induced PD-L1 expression on tumour cells.",
    "IFN-gamma secretion by T cells increased after vaccination.",
    "IFN-g secretion by T cells in patients with hepatitis C increased after vaccination.",
    "IFN-l levels in patients with hepatitis B increased after treatment.",
    "Activated T cells in hepatitis C increased their secretion of IFN-g. Viral load fell.",
    "IFN-γ- and TNF-induced PD-L1 expression increased in tumour cells.",
    "IFN-λ1 suppressed viral replication in hepatocytes.",
    "Type I collagen deposition increased in fibrotic tumours.",
    "Type I diabetes was associated with higher cancer risk.",
    "Mx1-Cre mice developed leukaemia after poly(I:C) injection.",
    "Serum interferon gamma-induced protein 10 levels increased in patients.",
    "Gankyrin upregulates VEGF in Mx1-Cre;gankyrin(f/f) mice with liver tumours.",
    "Tamoxifen prolonged DFS and OAS in c-erbB2-negative breast cancer.",  # OAS: overall survival
    "The compound reduced growth of MX-1 tumors in nude mice.",  # MX-1: a breast cancer line
    "TIR-domain-containing adapter-inducing interferon-β (TRIF) increased NF-κB activity.",
])
def test_traps_are_not_type_i_ifn(nlp_and_extractors, text):
    items = run(nlp_and_extractors, text)
    assert not claims(items, "ifn"), text
    assert not ids(items, "ifn") - {"CXCL10"}


def test_isg_abbreviation_needs_interferon_context(nlp_and_extractors):
    text = "Immune serum globulin (ISG) reduced hepatitis in ISG recipients."
    assert "isg" not in ids(run(nlp_and_extractors, text), "ifn")
    items = run(nlp_and_extractors, "ISGs were induced after radiotherapy.", title="Type I IFN and radiation")
    assert "isg" in ids(items, "ifn")


def test_bare_ifn_needs_type_i_context(nlp_and_extractors):
    assert not claims(run(nlp_and_extractors, "IFN production by NK cells increased."), "ifn")
    items = run(nlp_and_extractors, "IFN production increased in patients.", title="IFN-α therapy in melanoma")
    assert claims(items, "ifn")


def test_direction_negation_hedging(nlp_and_extractors):
    up = claims(run(nlp_and_extractors, "Radiation induced IFN-β secretion by tumour cells."), "ifn")[0]
    assert up.direction == "up" and not up.negated and not up.hedged
    down = claims(run(nlp_and_extractors, "TREX1 suppressed type I IFN production."), "ifn")[0]
    assert down.direction == "down"
    neg = claims(run(nlp_and_extractors, "IFN-α did not improve survival in these patients."), "ifn")[0]
    assert neg.negated and "did not" in neg.negation_cues
    hedged = claims(run(nlp_and_extractors, "Type I IFN may promote resistance to chemotherapy."), "ifn")[0]
    assert hedged.hedged and "may" in hedged.hedge_cues
    assoc = claims(run(nlp_and_extractors, "High ISG expression was associated with poor survival.",
                       title="Type I interferon signalling in breast cancer"), "ifn")[0]
    assert assoc.direction == "assoc"


def test_knockout_inverts_direction(nlp_and_extractors):
    c = claims(run(nlp_and_extractors, "Ifnar1-/- mice showed reduced tumour control after radiotherapy."), "ifn")[0]
    assert c.direction == "up" and c.extra["inverted"]
    c = claims(run(nlp_and_extractors, "Loss of IFNAR1 reduced CD8+ T cell priming."), "ifn")[0]
    assert c.direction == "up"
    # Only in its own clause: after "whereas" the verb has another subject.
    text = "Ifne-/- mice developed more metastasis, whereas IFN-β treatment reduced metastatic spread."
    c = claims(run(nlp_and_extractors, text), "ifn")[0]
    assert c.direction == "down" and not c.extra["inverted"]
    text = "Ifnar1-/- mice had normal weight, but showed reduced tumour control after radiotherapy."
    assert claims(run(nlp_and_extractors, text), "ifn")[0].direction == "up"
    # "but" with or without a comma may go on with the same subject: the knockout still inverts its verb.
    text = "Ifnar1-/- mice had normal weight but showed reduced tumour control after radiotherapy."
    assert claims(run(nlp_and_extractors, text), "ifn")[0].direction == "up"


def test_aims_and_methods_are_not_claims(nlp_and_extractors):
    assert not claims(run(nlp_and_extractors, "We asked whether type I IFN shapes the response to radiotherapy."), "ifn")
    assert not claims(run(nlp_and_extractors, "IFN-β levels were measured by ELISA using serum samples."), "ifn")
    # An adverb between subject and verb leaves the question a question.
    for text in ("We therefore asked whether type I IFN shapes the response to radiotherapy.",
                 "We next tested whether IFN-β enhances the response to radiotherapy."):
        assert not claims(run(nlp_and_extractors, text), "ifn"), text


@pytest.mark.parametrize("text, claim", [
    ("The present study tested the hypothesis that IFN-β promotes tumour regression.", False),
    ("To test the hypothesis that IFN-β promotes tumour regression, we used Ifnar1-/- mice.", False),
    ("The present study investigated the potential mechanisms associated with IFN-β signalling in tumours.", False),
    ("Whether IFN-β promotes tumour regression is yet to be determined.", False),
    # A finding about a hypothesis, or the study's own finding, is asserted.
    ("These results support the hypothesis that IFN-β promotes tumour regression.", True),
    ("This study demonstrated that IFN-β promotes tumour regression.", True),
])
def test_a_hypothesis_tested_or_an_open_question_is_no_claim(nlp_and_extractors, text, claim):
    assert bool(claims(run(nlp_and_extractors, text), "ifn")) is claim, text


def test_claim_fields(nlp_and_extractors):
    text = "Background sentence here. Here we show that IFN-β induced apoptosis in murine melanoma cells."
    c = claims(run(nlp_and_extractors, text), "ifn")[0]
    assert text[c.start:c.end] == c.sentence and c.field == "abstract"
    assert c.role == "result" and c.cancer_type == "melanoma" and c.study_system == "mouse"
    assert c.subject == "IFNB1" and c.predicate == "induced" and 0 < c.confidence <= 1
    assert c.entities == ["IFNB1"]


def test_isg_score_genes_and_negative_regulators(nlp_and_extractors):
    "The lexicon's ISG-score genes are ISGs; SOCS1 and PTPN2 count only in a paper on type I IFN."
    items = run(nlp_and_extractors, "IFN-β strongly induced HERC5, TRIM22 and LY6E in tumour cells.")
    assert {"HERC5", "TRIM22", "LY6E", "IFNB1"} <= ids(items, "ifn")
    items = run(nlp_and_extractors, "Loss of PTPN2 increased IFN-α signalling in melanoma cells.")
    assert "PTPN2" in ids(items, "ifn")
    items = run(nlp_and_extractors, "SOCS1 transcripts increased with IFN-γ levels in ovarian tumours.")
    assert "SOCS1" not in ids(items, "ifn")


def test_suspended_hyphen_after_a_greek_letter(nlp_and_extractors):
    items = run(nlp_and_extractors, "IFN-α- and IFN-β-treated tumour cells strongly upregulated ISG15.")
    assert {"ifn-alpha", "IFNB1", "ISG15"} <= ids(items, "ifn")


def test_downstream_genes_alone_need_the_topic_and_no_lookalike(nlp_and_extractors):
    "STAT1 or an ISG alone is type I evidence only in a paper naming interferon, and not beside IFN-γ only."
    # In a sentence on type II signalling, STAT1 and IRF-1 are IFN-γ's.
    items = run(nlp_and_extractors, "IFN-γ strongly induced STAT1 phosphorylation and ISG15 in tumour cells.",
                title="Interferon signalling in melanoma")
    assert not claims(items, "ifn")
    assert {"STAT1", "ISG15"} <= ids(items, "ifn")  # still named: the entities are kept
    # Beside a type I ligand they are type I evidence again.
    items = run(nlp_and_extractors, "IFN-γ and IFN-β strongly induced STAT1 phosphorylation in tumour cells.")
    assert claims(items, "ifn")
    # CXCL10 in a paper that never names interferon is a chemokine; with the topic named, an ISG.
    text = "Hepatic CXCL10 expression was strongly reduced in the treated group."
    assert not claims(run(nlp_and_extractors, text, title="Liver injury after ischaemia"), "ifn")
    assert claims(run(nlp_and_extractors, text, title="Type I interferon in liver injury"), "ifn")


def test_type_i_named_in_a_coordination_with_another_type(nlp_and_extractors):
    "'type I and type III IFNs' names type I: the look-alike beside it does not cancel the claim."
    items = run(nlp_and_extractors, "Tumour cells strongly expressed type I and type III IFNs in mice.")
    c = claims(items, "ifn")
    assert c and "type-i-ifn" in c[0].entities
    items = run(nlp_and_extractors, "STING activation increased both type I and II interferons in tumours.")
    assert claims(items, "ifn")


def test_a_delayed_response_is_late_not_less(nlp_and_extractors):
    "'a delayed type I IFN response' says when; 'knockout delayed the rise' says less."
    text = "Fractionated irradiation can provoke a delayed type I interferon response in tumour cells."
    assert claims(run(nlp_and_extractors, text), "ifn")[0].direction == "up"
    text = "Ifnar1 blockade delayed the rise in type I interferon signalling in tumour cells."
    assert claims(run(nlp_and_extractors, text), "ifn")[0].predicate == "delayed"


@pytest.mark.parametrize("text", [
    "PPARa activation repressed interferon g-induced genes (IFIT1, IFIT2, IFIT3) in tumour cells.",
    "IFN g induced IFIT1 and ISG15 expression in tumour cells.",
])
def test_interferon_g_with_a_space_is_ifn_gamma(nlp_and_extractors, text):
    # "IFN-g" (the Greek letter lost) was already IFN-γ; the same with a space is too.
    assert not claims(run(nlp_and_extractors, text), "ifn")


@pytest.mark.parametrize("text,direction", [
    # The loss named after the verb ("in X-deficient mice", "in Ifnar1-/- mice") inverts as it does before it.
    ("The occurrence of virus-induced diabetes was diminished in IFNAR1-deficient animals.", "up"),
    ("Metastasis was diminished in Ifnar1-/- mice.", "up"),
    ("Metastasis was accelerated in Ifnar1-/- mice.", "down"),
    ("Loss of IFNAR1 diminished metastasis.", "up"),
])
def test_a_loss_named_after_the_verb_inverts_it(nlp_and_extractors, text, direction):
    out = claims(run(nlp_and_extractors, text), "ifn")
    assert [c.direction for c in out] == [direction]


def test_a_knockout_host_after_an_active_verb_is_only_the_setting(nlp_and_extractors):
    # IFN-β is the agent; the STAT1-deficient cells are where it acted.
    out = claims(run(nlp_and_extractors, "IFN-beta induced apoptosis in IFNAR1-deficient cells."), "ifn")
    assert [c.direction for c in out] == ["up"]
