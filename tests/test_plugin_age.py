"""The age plugin: ageing terms, aged hosts and older patients, and the cohort-age traps."""

from __future__ import annotations

import pytest

from evidex import get_extractors
from plugin_support import claims, ids, run


def test_registered_through_public_hook():
    ext = get_extractors()["age"]
    assert ext.categories == ("age",)
    assert any(p.name == "age.jsonl" for p in ext.data_files)


@pytest.mark.parametrize("text,expected", [
    ("Aged mice showed impaired IFN-α production.", "aged-host"),
    ("Ageing increased tumour incidence.", "ageing"),
    ("Aging disrupts the type I IFN pathway in pDCs.", "ageing"),
    ("Elderly patients had poorer responses to chemotherapy.", "older-patients"),
    ("Immunosenescence limits vaccine responses.", "immunosenescence"),
    ("Inflammaging promotes tumour growth.", "inflammaging"),
    ("Inflamm-aging promotes tumour growth.", "inflammaging"),
    ("Older age predicted poor survival.", "age-factor"),
    ("In 20-month-old mice, tumour growth increased.", "aged-host"),
    # An age threshold of 60 or more names older patients; a cohort's range does not (see the traps).
    ("Patients aged over 65 years responded better to anti-PD-1.", "older-patients"),
    ("Toxicity increased in patients > or =60 years old.", "older-patients"),
    ("Patients 70 years and older had more toxicity.", "older-patients"),
    ("Women over 60 years of age were more often affected than women under 60.", "older-patients"),
    # Old cells and tissues of an aged host.
    ("In old microglia, cytosolic DNA activated cGAS.", "aged-host"),
    ("Aged haematopoietic stem cells produced fewer lymphocytes.", "aged-host"),
])
def test_age_terms(nlp_and_extractors, text, expected):
    items = run(nlp_and_extractors, text)
    assert claims(items, "age"), text
    assert expected in ids(items, "age")


@pytest.mark.parametrize("text", [
    "Patients aged 45–70 years received cisplatin, which improved survival.",
    "The median age was 61 years and survival improved with chemotherapy.",
    "Results were adjusted for age and sex, and treatment increased survival.",
    "Aged[mh] tumours increased.",
    "Six-week-old mice were treated and tumour growth decreased.",
    "Therapy-induced senescence of tumour cells increased SASP factors.",
    "Aged garlic extract reduced tumour growth.",
    "AGEs increased RAGE signalling and tumour growth.",  # advanced glycation end products
    "An 18-month-old boy developed leukaemia that increased after treatment.",
    "ChIP assays showed that STAT1 increased binding at the promoter.",
    "A CHIP chip increased the yield.",
    "Controls were matched on age and sex, and treatment increased survival.",
    "Responses in 65 patients (age: 29.9 +/- 8.1 years) increased after verapamil.",
    "An elderly woman developed delirium that increased after desipramine.",  # one case, not an age effect
    "Cases and age- and sex-matched controls were compared, and risk increased with smoking.",
    "Mutant mice developed lymphomas and died before 4 months of age.",
    "Patients younger than 65 years were treated and survival increased.",
    "Patients aged over 18 years were treated and survival increased.",
    # A covariate in a list, an era, every age at once, a norm: none is age as a factor.
    "After adjusting for the confounding variables gender, age and BMI, the allele increased risk.",
    "Deletion frequencies in Bronze Age populations increased over time.",
    "The syndrome affects all age groups and increased after the drug.",
    "The testes showed a normal morphology for age, and volume increased with treatment.",
    "Ergot has caused epidemics of gangrene through the ages, and its use increased.",
    # The life span of cells in culture is cellular senescence, not organismal ageing.
    "Overexpression of TERT increased the replicative lifespan of fibroblasts.",
])
def test_traps_are_not_age_claims(nlp_and_extractors, text):
    assert not claims(run(nlp_and_extractors, text), "age"), text


def test_attributes(nlp_and_extractors):
    c = claims(run(nlp_and_extractors, "Ageing did not alter IFN-β production."), "age")[0]
    assert c.negated
    c = claims(run(nlp_and_extractors, "Age-related changes may explain the poor vaccine responses."), "age")[0]
    assert c.hedged
    c = claims(run(nlp_and_extractors, "Older age was associated with poor survival."), "age")[0]
    assert c.direction == "assoc" and c.entities == ["age-factor"]


def test_chip_counts_where_clonal_haematopoiesis_is_spelled_out(nlp_and_extractors):
    text = "CHIP increased the risk of therapy-related myeloid neoplasms."
    assert "ageing" not in ids(run(nlp_and_extractors, text), "age")
    title = "Clonal haematopoiesis of indeterminate potential in patients with solid tumours"
    assert "ageing" in ids(run(nlp_and_extractors, text, title=title), "age")


@pytest.mark.parametrize("text", [
    "Six-week-old mice were treated and tumour growth decreased.",
    "Six-week-old microglia cultures were stimulated and IL-6 increased.",
    "MDD suppressed tumour formation when started at five weeks of age.",
])
def test_an_age_in_words_names_no_aged_host(nlp_and_extractors, text):
    items = run(nlp_and_extractors, text)
    assert not ids(items, "age") and not claims(items, "age"), text


def test_a_subject_after_but_not_shares_the_sentences_verb(nlp_and_extractors):
    "'in fetal, but not adult, animals': the subject after 'but not' opens no clause of its own."
    text = "Oestrogen induced contraction in fetal, but not adult, animals and reduced serotonin-induced contraction at both ages."
    assert [(c.subject, c.predicate) for c in claims(run(nlp_and_extractors, text), "age")] == [("age-factor", "induced")]
