"""The therapy plugin: drug INNs, classes and abbreviations, with outcome and mechanism attributes."""

from __future__ import annotations

import pytest

from evidex import get_extractors
from evidex.models import Mention
from plugin_support import claims, ids, run


def test_registered_through_public_hook():
    ext = get_extractors()["therapy"]
    assert ext.categories == ("therapy",)
    assert any(p.name == "therapy.jsonl" for p in ext.data_files)


@pytest.mark.parametrize("surface,expected", [
    ("pembrolizumab", "pembrolizumab"), ("Keytruda", "pembrolizumab"), ("anti-PD-1", "immune-checkpoint-blockade"),
    ("immune checkpoint inhibitors", "immune-checkpoint-blockade"), ("cisplatin", "cisplatin"),
    ("Adriamycin", "doxorubicin"), ("5-aza-2'-deoxycytidine", "decitabine"), ("radiotherapy", "radiotherapy"),
    ("chemotherapy", "chemotherapy"), ("STING agonists", "sting-agonist"), ("ADU-S100", "sting-agonist"),
    ("T-VEC", "oncolytic-virus"), ("CAR-T cells", "cell-therapy"), ("interferon alfa-2b", "interferon alfa-2b"),
    ("IFN-α2b", "interferon alfa-2b"), ("peginterferon alfa-2b", "peginterferon alfa-2b"),
    ("pegylated interferon alpha-2b", "peginterferon alfa-2b"), ("PEG-IFN-α2a", "peginterferon alfa-2a"),
    ("pegylated interferon", "ifn-therapy"), ("PEG-IFN", "ifn-therapy"),
    ("nivolumab", "nivolumab"), ("olaparib", "olaparib"),
    ("Libtayo", "cemiplimab"), ("anti-PD-1 clone RMP1-14", "immune-checkpoint-blockade"), ("chidamide", "tucidinostat"),
    ("AZD6738", "ceralasertib"), ("Carvykti", "cell-therapy"), ("Betaferon", "interferon beta-1b"),
    # A space before a Greek letter or its name is a join like a dash.
    ("interferon-alpha-2b", "interferon alfa-2b"), ("interferon-α-2b", "interferon alfa-2b"),
    ("interferon-alpha 2a", "interferon alfa-2a"), ("IFNα-2a", "interferon alfa-2a"),
    ("interferon-beta-1a", "interferon beta-1a"), ("actinomycin D", "dactinomycin"),
    # Development codes, old abbreviations and US names map to the INN.
    ("RAD001", "everolimus"), ("MK-1775", "adavosertib"), ("BCNU", "carmustine"), ("leuprolide", "leuprorelin"),
    ("UFT", "tegafur-uracil"), ("CPDD", "cisplatin"), ("IFN-α(2b)", "interferon alfa-2b"),
])
def test_variants_map_to_canonical_ids(nlp_and_extractors, surface, expected):
    items = run(nlp_and_extractors, f"{surface} improved tumour control in patients with melanoma.")
    assert expected in ids(items, "therapy")


def test_unlisted_drug_found_by_inn_stem(nlp_and_extractors):
    items = run(nlp_and_extractors, "Zanubrutinib and foxotinib reduced tumour growth in xenografts.")
    assert "foxotinib" in ids(items, "therapy")


@pytest.mark.parametrize("word,drug", [
    ("vindesine", True), ("Vinflunine", True), ("carmustine", True), ("intestine", False), ("pristine", False),
    ("vinculin", False), ("somatostatins", False), ("somatostatin", False), ("endostatin", False),
    ("atorvastatin", True),
    # Drugs of other fields by their INN stems; the look-alike amino acid, nucleoside and sterol are not.
    ("propranolol", True), ("captopril", True), ("losartan", True), ("enoxaparin", True), ("prednisolone", True),
    ("sildenafil", True), ("April", False), ("histidine", False), ("cytidine", False), ("cholesterol", False),
    ("formin", False), ("Formins", False),
])
def test_inn_stem_words(word, drug):
    "Stems are suffixes (or the vinca prefix): an ordinary word ending alike is no drug."
    from evidex_plugins.common import is_drug_word

    assert is_drug_word(word) is drug


def test_body_part_is_no_drug(nlp_and_extractors):
    items = run(nlp_and_extractors, "Cisplatin damaged the small intestine and reduced tumour growth in mice.")
    assert ids(items, "therapy") >= {"cisplatin"} and "intestine" not in ids(items, "therapy")


@pytest.mark.parametrize("text,absent", [
    ("Samples were incubated for 1 h at RT before RT-PCR showed increased expression.", "radiotherapy"),
    ("IR was associated with obesity and increased insulin levels.", "radiotherapy"),
    ("AZA was associated with fewer graft rejections after kidney transplant.", "azacitidine"),
    ("OV cohorts showed increased survival in TCGA.", "oncolytic-virus"),
])
def test_abbreviations_need_context(nlp_and_extractors, text, absent):
    assert absent not in ids(run(nlp_and_extractors, text), "therapy")


def test_abbreviations_with_context(nlp_and_extractors):
    items = run(nlp_and_extractors, "RT at 8 Gy induced IFN-β; radiotherapy was given in three fractions.")
    assert "radiotherapy" in ids(items, "therapy")
    items = run(nlp_and_extractors, "AZA reduced DNMT1 levels.", title="Azacitidine in myelodysplastic syndromes")
    assert "azacitidine" in ids(items, "therapy")


def test_outcomes(nlp_and_extractors):
    c = claims(run(nlp_and_extractors, "Cisplatin reduced tumour growth in mice."), "therapy")[0]
    assert c.direction == "down" and c.subject == "cisplatin" and c.study_system == "mouse"
    c = claims(run(nlp_and_extractors, "Pembrolizumab was well tolerated in patients."), "therapy")[0]
    assert c.direction == "none"
    c = claims(run(nlp_and_extractors, "Adding lamivudine did not improve response rates."), "therapy")[0]
    assert c.negated
    c = claims(run(nlp_and_extractors, "Decitabine could sensitize tumours to checkpoint blockade."), "therapy")[0]
    assert c.hedged and c.direction == "up"


def test_object_on_shared_words_is_the_claims_own_category(nlp_and_extractors):
    "PEG-IFNα is a therapy and an IFN: each category's claim names its own id as the object."
    items = run(nlp_and_extractors, "Adefovir was not superior to PEG-IFNα monotherapy in patients.")
    assert {c.category: c.object for c in items if hasattr(c, "object")}["therapy"] == "ifn-therapy"
    items = run(nlp_and_extractors, "IFNAR1 loss reduced the response to PEG-IFNα monotherapy in mice.")
    assert {c.category: c.object for c in items if hasattr(c, "object")}["ifn"] == "ifn-alpha"
    # Nor is a second mention of the subject an object, whichever category names it there.
    items = run(nlp_and_extractors, "PEG-IFNα plus adefovir was not superior to PEG-IFNα monotherapy in patients.")
    assert {(c.category, c.subject, c.object) for c in items if hasattr(c, "object")} == {
        ("therapy", "ifn-therapy", None), ("ifn", "ifn-alpha", None)}


@pytest.mark.parametrize("text", [
    "IFN-β treatment reduced tumour growth in mice.",
    "Ribavirin with interferon-α monotherapy was compared in patients.",
    "Interferon and ribavirin combination therapy produced haemolytic anaemia.",
    "Ribavirin plus IFN-α improved responses in patients.",
    "Pegylated interferon improved responses in patients.",
    "Treatment with IFN-β reduced tumour growth in mice.",
    "Administration of recombinant IFN-α reduced tumour growth in mice.",
    "Patients given interferon after surgery relapsed later.",
    "Cells were treated in vitro with IFN-α2 for 24 h and stopped growing.",
])
def test_type_i_ifn_given_as_a_therapy(nlp_and_extractors, text):
    "A type I IFN with no INN, named as a treatment or given with a drug, is the class ifn-therapy."
    # A bare "interferon" counts only in a paper that is about type I IFN: the title says so.
    items = run(nlp_and_extractors, text, title="Interferon-alpha in chronic hepatitis C")
    assert "ifn-therapy" in ids(items, "therapy"), text


@pytest.mark.parametrize("text", [
    "Tumour cells produced IFN-β after treatment with cisplatin.",
    "High doses of IFN-β were found in the supernatant of tumour cells.",
    "IFN-β and IL-6 were secreted by tumour cells.",
    "IFN-γ treatment induced PD-L1 on tumour cells.",
    "Cisplatin induced IFN-β in tumour cells.",
])
def test_type_i_ifn_as_a_signal_is_no_therapy(nlp_and_extractors, text):
    assert "ifn-therapy" not in ids(run(nlp_and_extractors, text), "therapy"), text


def test_methods_and_aims_are_not_claims(nlp_and_extractors):
    assert not claims(run(nlp_and_extractors, "Patients were randomized to receive cisplatin or placebo."), "therapy")
    assert not claims(run(nlp_and_extractors, "The aim of this study was to evaluate the efficacy of nivolumab."), "therapy")
    text = "Analysis of 61 women receiving cyclophosphamide was performed to assess association between age and heart failure."
    assert not claims(run(nlp_and_extractors, text), "therapy")


@pytest.mark.parametrize("text, claim", [
    # What a methods verb measured is named with a compound: no finding.
    ("We measured diazepam-induced sedation and picrotoxin-induced seizures after i.p. injections.", False),
    ("The effect of amiloride on lithium-induced polyuria was investigated in rats.", False),
    ("We compared the effects of atenolol and propranolol on isoproterenol-induced tachycardia.", False),
    # So do outcome nouns after a study verb.
    ("The effects of metformin on apoptosis and proliferation were examined in four cell lines.", False),
    ("We investigated the efficacy and toxicity of a 3-hour paclitaxel infusion in a phase II trial.", False),
    # "received" or "were treated" opens a clause of a finding: it stands.
    ("Women who had received tamoxifen were more likely to have endometrial cancer (relative risk = 4.9).", True),
    ("When cells were treated with cisplatin, apoptosis increased to an overwhelming extent.", True),
    # "using" names a finding's instrument: the finding stands.
    ("Inhibition of ERK1/2 using trametinib abolished EGF-induced cell migration in a dose-dependent manner.", True),
    ("Cisplatin-induced nephrotoxicity was prevented using intravenous hydration.", True),
])
def test_a_compound_relation_word_is_no_finding_in_a_methods_sentence(nlp_and_extractors, text, claim):
    assert bool(claims(run(nlp_and_extractors, text), "therapy")) is claim, text


def test_a_joint_section_label_judges_the_sentence_not_the_label(nlp_and_extractors):
    "Under 'BACKGROUND AND AIM' a statement is a claim and an aim is not; 'OBJECTIVE' alone is an aim."
    stated = "BACKGROUND AND AIM: Cisplatin therapy for bladder cancer produces renal toxicity."
    assert claims(run(nlp_and_extractors, stated), "therapy")
    aim = "BACKGROUND AND AIM: We aimed to evaluate whether cisplatin reduces tumour growth."
    assert not claims(run(nlp_and_extractors, aim), "therapy")
    assert not claims(run(nlp_and_extractors, "OBJECTIVE: Cisplatin therapy for bladder cancer produces renal toxicity."),
                      "therapy")
    assert claims(run(nlp_and_extractors, "METHODS AND RESULTS: Cisplatin increased apoptosis in tumour cells."), "therapy")
    # Labels joined by a hyphen are one label: the sentence is not left under the label before.
    c = claims(run(nlp_and_extractors, "CONTEXT: Cisplatin resistance is common. METHODS-RESULTS: Cisplatin "
                                       "increased apoptosis in tumour cells."), "therapy")
    assert [(x.section, x.role) for x in c] == [("context", "background"), ("methods-results", "result")]


def test_a_section_label_holds_until_the_next_label(nlp_and_extractors):
    "A structured abstract's label names every sentence under it: its role, its section, whether it is a method."
    abstract = ("BACKGROUND: Cisplatin is widely used in bladder cancer. Older trials suggest cisplatin reduced "
                "tumour growth in mice. METHODS: Rats were given cisplatin for two weeks. Cisplatin increased "
                "creatinine in all treated rats. RESULTS: Cisplatin reduced tumour growth in rats. Combined with "
                "radiotherapy, cisplatin reduced tumour volume further.")
    found = {c.sentence.split()[0]: c for c in claims(run(nlp_and_extractors, abstract), "therapy")}
    older, results, volume = found["Older"], found["RESULTS:"], found["Combined"]
    assert (older.section, older.role) == ("background", "background")
    assert (results.section, results.role) == ("results", "result")
    assert (volume.section, volume.role) == ("results", "result")
    # Under METHODS, a sentence with no finding, negation or hedge is a method even without the label.
    assert not [s for s in found if s in ("Rats", "Cisplatin")]


def test_recalled_findings_are_background_and_compared_ones_results(nlp_and_extractors):
    recalled = claims(run(nlp_and_extractors, "Previously, we showed that cisplatin reduced tumour growth in mice."), "therapy")
    assert [c.role for c in recalled] == ["background"]
    compared = claims(run(nlp_and_extractors, "As previously observed in mice, cisplatin reduced tumour growth in patients."),
                      "therapy")
    assert [c.role for c in compared] == ["result"]


def test_a_knowledge_gap_is_no_claim_unless_a_relation_is_stated_beside_it(nlp_and_extractors):
    for text in ("However, the mechanism by which cisplatin elicits its effects on bladder cancer cells is not well documented.",
                 "How cisplatin reduces tumour growth in mice has never been demonstrated."):
        assert not claims(run(nlp_and_extractors, text), "therapy"), text
    c = claims(run(nlp_and_extractors, "Tumour regression was driven by cisplatin, a poorly understood drug."), "therapy")
    assert c and c[0].role == "background"
    text = "Cisplatin reduced tumour growth in mice, but how it acts has not been explored."
    assert claims(run(nlp_and_extractors, text), "therapy")
    # A first clause stating something stands beside the gap; a noun among the words ("its
    # targets") states nothing.
    text = "Cisplatin toxicity is a common feature of therapy, but the pathways involved remain unclear."
    assert claims(run(nlp_and_extractors, text), "therapy")
    text = "Cisplatin is an old drug whose activity, molecular targets and functions have been unclear."
    assert not claims(run(nlp_and_extractors, text), "therapy")


def test_a_negated_second_verb_phrase_denies_only_the_claims_it_names(nlp_and_extractors):
    text = ("A single high dose prevented IFN-β release and did not produce regression when combined "
            "with checkpoint inhibitors.")
    items = run(nlp_and_extractors, text)
    assert [c.negated for c in claims(items, "ifn")] == [False]  # IFN-β's relation is stated before the "and"
    assert [c.negated for c in claims(items, "therapy")] == [True]  # the checkpoint inhibitors' is denied
    text = "Cisplatin reduced tumour growth and did not require dose changes."
    assert [c.negated for c in claims(run(nlp_and_extractors, text), "therapy")] == [False]


def test_a_negated_clause_after_a_break_denies_the_claims_whose_subject_it_names(nlp_and_extractors):
    text = "Male sex and nodal involvement were significant adverse factors for survival, whereas age was not."
    items = run(nlp_and_extractors, text)
    assert [(c.negated, c.direction) for c in claims(items, "age")] == [(True, "assoc")]
    text = "Cisplatin reduced tumour growth in mice, whereas the control mice did not respond."
    assert [c.negated for c in claims(run(nlp_and_extractors, text), "therapy")] == [False]


def test_a_bound_on_a_quantity_is_no_comparison(nlp_and_extractors):
    text = "Grade 3 or higher toxicity of cisplatin was seen in 12 patients given 50 mg or more."
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert found and all(c.predicate not in ("higher", "more") for c in found)
    found = claims(run(nlp_and_extractors, "Cisplatin gave higher response rates than carboplatin."), "therapy")
    assert [c.predicate for c in found] == ["higher"]
    text = "Only cisplatin at a concentration of not more than 1 mg/ml should be used for intrathecal treatment."
    assert all(c.predicate != "more" for c in claims(run(nlp_and_extractors, text), "therapy"))
    text = "Cisplatin was not more effective than carboplatin."
    assert [c.predicate for c in claims(run(nlp_and_extractors, text), "therapy")] == ["more"]


def signs(nlp_and_extractors, text: str) -> list[tuple[str | None, str]]:
    "(predicate, direction) of each therapy claim in text."
    return [(c.predicate, c.direction) for c in claims(run(nlp_and_extractors, text), "therapy")]


@pytest.mark.parametrize("text,predicate,direction", [
    ("Cisplatin-treated rats showed anxious behaviour compared with controls.", None, "none"),
    ("Tumour volume fell in cisplatin-treated mice, and control mice showed no change in tumour volume.", "fell", "down"),
    ("Control rats had a lower uptake than rats given cisplatin.", "lower", "down"),
    ("Healthy controls and patients given cisplatin were compared.", None, None),
    # The verb stays a relation.
    ("Cisplatin controls tumour growth in mice.", "controls", "up"),
    ("Cisplatin may control cell growth in mice.", "control", "up"),
])
def test_the_control_group_is_no_relation(nlp_and_extractors, text, predicate, direction):
    found = claims(run(nlp_and_extractors, text), "therapy")
    if direction is None:
        assert all(c.predicate not in ("control", "controls") for c in found)
    else:
        assert [(c.predicate, c.direction) for c in found] == [(predicate, direction)]


def test_an_organ_failing_is_an_adverse_event_not_a_decrease(nlp_and_extractors):
    text = "Acute renal failure after high-dose methotrexate therapy in a patient with ileostomy."
    assert signs(nlp_and_extractors, text) == [("failure", "up")]
    assert signs(nlp_and_extractors, "Treatment failure with cisplatin was common.") == [("failure", "down")]


@pytest.mark.parametrize("text,hedged", [
    ("Cisplatin caused loss of mitochondrial membrane potential in neurons.", False),
    ("Cisplatin reduced the metastatic potential of melanoma cells.", False),
    ("The neurotoxic potential of cisplatin increased with dose.", False),
    ("Cisplatin is a potential treatment for melanoma.", True),
])
def test_a_measured_potential_is_no_hedge(nlp_and_extractors, text, hedged):
    assert [c.hedged for c in claims(run(nlp_and_extractors, text), "therapy")] == [hedged]


@pytest.mark.parametrize("text,predicate,direction", [
    ("Cisplatin reverses the anaemia induced by zidovudine.", "reverses", "down"),
    ("Cisplatin alleviated the symptoms in most patients.", "alleviated", "down"),
    ("Cisplatin was capable of preventing relapse in mice.", "preventing", "down"),
    ("Cisplatin is a potent adjuvant capable of augmenting the activity of tamoxifen.", "augmenting", "up"),
    # A gerund opening the sentence names the intervention; the main verb is the relation.
    ("Increasing doses of cisplatin reduced tumour growth.", "reduced", "down"),
])
def test_every_inflection_of_a_relation_verb_is_a_trigger(nlp_and_extractors, text, predicate, direction):
    assert signs(nlp_and_extractors, text) == [(predicate, direction)]


@pytest.mark.parametrize("text,predicate,direction", [
    ("Complete atrioventricular block secondary to cisplatin therapy.", "block", "up"),
    ("The block was successful and surgery with cisplatin was conducted as scheduled.", "successful", "up"),
    ("Cisplatin blocks tumour growth in mice.", "blocks", "down"),
])
def test_a_heart_or_nerve_block_is_no_verb(nlp_and_extractors, text, predicate, direction):
    assert [sign for sign in signs(nlp_and_extractors, text) if sign[0]] == [(predicate, direction)]


@pytest.mark.parametrize("text,predicate,direction", [
    # An inverter verb after the subject is the subject's own action.
    ("Cisplatin blocked tumour growth in mice.", "blocked", "down"),
    ("Cisplatin acts by inhibiting viral replication.", "inhibiting", "down"),
    # A cause brings about what is named after it.
    ("Cisplatin caused inhibition of tumour growth in mice.", "inhibition of", "down"),
    ("Cisplatin led to a marked reduction in tumour growth.", "reduction", "down"),
    # A statistical word between the cause and its effect only grades the effect.
    ("Cisplatin caused a significant reduction in tumour volume.", "reduction", "down"),
    ("Gefitinib led to significant inhibition of tumour growth.", "inhibition of", "down"),
    ("Cisplatin induced a significant increase in apoptosis.", "induced", "up"),
    ("Cisplatin resulted in depletion of regulatory T cells.", "depletion of", "down"),
    ("In these cells, migration was blocked by cisplatin.", "blocked", "down"),
    ("Cisplatin arrested the cell cycle in G1 phase.", "arrested", "down"),
    ("Cisplatin induced apoptosis in melanoma cells.", "induced", "up"),
    # An inverter that names a kind of agent is no verb.
    ("Cisplatin plus PD-1 blocking antibodies improved survival.", "improved", "up"),
])
def test_what_a_therapy_blocks_or_causes_sets_the_sign(nlp_and_extractors, text, predicate, direction):
    assert signs(nlp_and_extractors, text) == [(predicate, direction)]


def test_a_subject_in_a_later_clause_takes_its_clauses_verb(nlp_and_extractors):
    text = "Oestrogen pretreatment induced stem-cell traits, whereas cotreatment with tamoxifen prevented them."
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert [(c.predicate, c.direction) for c in found] == [("prevented", "down")]
    # A later clause without a verb of its own shares the sentence's.
    text = "Sex and nodal involvement were significant factors for survival, whereas treatment with cisplatin was not."
    assert [c.direction for c in claims(run(nlp_and_extractors, text), "therapy")] == ["assoc"]


@pytest.mark.parametrize("text", [
    # "but" and a bare "while" open a clause of its own too: its subject takes its verb, not the first clause's.
    "Oestrogen increased tumour growth but tamoxifen reduced it.",
    "Oestrogen increased tumour growth while tamoxifen reduced it.",
])
def test_a_subject_after_but_or_while_takes_its_clauses_verb(nlp_and_extractors, text):
    assert signs(nlp_and_extractors, text) == [("reduced", "down")]


def test_a_claim_with_no_subject_is_denied_in_its_relations_clause(nlp_and_extractors):
    "A denial scoped to the clause after a break reaches a claim with no subject when its relation stands there."
    text = "The drug is well tolerated at high doses, but it does not cause the hormonal side effects seen with other agents."
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert [(c.subject, c.predicate, c.negated) for c in found] == [(None, "cause", True)]


def test_a_question_is_no_claim(nlp_and_extractors):
    assert not claims(run(nlp_and_extractors, "Does aspirin increase gastrointestinal bleeding in older patients?"),
                      "therapy")
    assert claims(run(nlp_and_extractors, "Aspirin increased gastrointestinal bleeding in older patients."), "therapy")


def test_mtor_spelled_out_names_no_rapamycin(nlp_and_extractors):
    "'mammalian target of rapamycin' is mTOR, not the drug; sirolimus beside it is."
    items = run(nlp_and_extractors, "Sirolimus, a mammalian target of rapamycin inhibitor, reduced tumour growth.")
    assert [m.text for m in items if isinstance(m, Mention) and m.category == "therapy"] == ["Sirolimus"]
    assert ids(run(nlp_and_extractors, "Rapamycin reduced tumour growth."), "therapy") == {"sirolimus"}  # the INN
    items = run(nlp_and_extractors, "Signalling through the mammalian target of rapamycin promoted tumour growth.")
    assert "mtor" in ids(items, "pathway") and not ids(items, "therapy")


def test_generic_treatment_sentence_in_a_treatment_paper(nlp_and_extractors):
    title = "Cisplatin and amifostine in advanced melanoma: a phase II trial"
    items = run(nlp_and_extractors, "Six partial responses were observed. The regimen was well tolerated.", title=title)
    assert len(claims(items, "therapy")) == 2
    # ... but not in a paper about something else.
    assert not claims(run(nlp_and_extractors, "The regimen was well tolerated.", title="Mapping of genomes"), "therapy")


def test_drug_flag_marks_exactly_the_stem_words(nlp_and_extractors):
    "The lexeme flag agrees with the word test, for words seen before and after it was added."
    import spacy

    from evidex_plugins.common import drug_flag, is_drug_word

    text = "Imatinib, nivolumab and cisplatin beat Mab, statins, mabs, vaccine and 5-fluorouracil-rubicin; Trastuzumab."
    nlp, _ = nlp_and_extractors
    blank = spacy.blank("en")
    before = blank.make_doc(text)  # its words enter the vocabulary before the flag exists
    for vocab_nlp, doc in ((nlp, nlp.make_doc(text)), (blank, before)):
        flag = drug_flag(vocab_nlp.vocab)
        assert drug_flag(vocab_nlp.vocab) == flag  # registered once per vocabulary
        expected = [t.text for t in doc if is_drug_word(t.text)]
        assert [t.text for t in doc if t.check_flag(flag)] == expected
        assert "nivolumab" in expected and "Mab" not in expected


def test_chemoresistance_names_chemotherapy(nlp_and_extractors):
    items = run(nlp_and_extractors, "Ovarian tumours often become chemoresistant after relapse in patients.")
    assert "chemotherapy" in ids(items, "therapy")


def test_suspended_hyphen_therapies(nlp_and_extractors):
    "'radio- and polychemotherapy' names radiotherapy too; 'radio-labelled' names none."
    items = run(nlp_and_extractors, "Despite resection, radio- and polychemotherapy, glioblastoma patients fared poorly.")
    assert {"radiotherapy", "chemotherapy"} <= ids(items, "therapy")
    # The "and" anchors the hanging hyphen but is no part of the name.
    assert [m.text for m in items if isinstance(m, Mention) and m.entity == "radiotherapy"] == ["radio-"]
    assert "radiotherapy" not in ids(run(nlp_and_extractors, "Radio-labelled antibodies bound tumours in mice."), "therapy")


def test_dox_is_doxorubicin_only_without_a_tet_system(nlp_and_extractors):
    title = "Doxorubicin resistance in breast cancer"
    items = run(nlp_and_extractors, "DOX reduced tumour growth in mice.", title=title)
    assert [m.entity for m in items if isinstance(m, Mention) and m.text == "DOX"] == ["doxorubicin"]
    items = run(nlp_and_extractors, "Dox induction of the Tet-on transgene reduced tumour growth in mice.", title=title)
    assert not [m for m in items if isinstance(m, Mention) and m.text == "Dox"]
    assert "tranylcypromine" in ids(run(nlp_and_extractors, "Tranylcypromine reduced tumour growth in mice."), "therapy")


def test_lab_reagents_are_no_therapy(nlp_and_extractors):
    items = run(nlp_and_extractors, "Tunicamycin and oligomycin increased apoptosis of tumour cells.")
    assert not ids(items, "therapy")


@pytest.mark.parametrize("text", [
    "Chronic exposure to UVB radiation induced squamous carcinomas in hairless mice.",
    "Solar radiation increases the risk of basal cell carcinoma in fair-skinned adults.",
    "UVA irradiation reduced the viability of cultured keratinocytes.",
])
def test_sunlight_and_its_bands_are_no_radiotherapy(nlp_and_extractors, text):
    "Like 'UV radiation' (the lexicon's trap): UVA, UVB and solar radiation are exposures, not a therapy."
    assert "radiotherapy" not in ids(run(nlp_and_extractors, text), "therapy")
    assert "radiotherapy" in ids(run(nlp_and_extractors, "Radiation reduced tumour growth in these mice."), "therapy")


def test_a_negation_inside_a_relative_clause_does_not_deny_the_claim(nlp_and_extractors):
    text = "Cisplatin improves survival in patients in whom there is no evidence of distant metastasis."
    c = claims(run(nlp_and_extractors, text), "therapy")[0]
    assert not c.negated and c.direction == "up"
    c = claims(run(nlp_and_extractors, "Cisplatin did not improve survival in these patients."), "therapy")[0]
    assert c.negated
    # "cells which do not rely on it": a relative clause describes a noun ...
    text = "Cisplatin reduced the growth of tumour cells without damaging normal cells which do not divide."
    assert not claims(run(nlp_and_extractors, text), "therapy")[0].negated
    # ... unless it names what the claim is about: then it is the relation that is denied.
    text = "Radiotherapy induced a delayed gene response that does not require cisplatin or STING."
    assert claims(run(nlp_and_extractors, text), "therapy")[0].negated


def test_a_target_class_needs_a_target_name(nlp_and_extractors):
    "'WEE1 inhibitors' or 'MEK inhibitor' supports a therapy claim; 'the blockade of', 'an inhibitor of' do not."
    c = claims(run(nlp_and_extractors, "WEE1 inhibitors reduced tumour growth in mice."), "therapy")
    assert c and c[0].subject == "WEE1 inhibitors"
    for text in ("The blockade of the perforin pathway impaired the control of tumour growth.",
                 "SPARC, an inhibitor of growth factor binding, antagonizes cell proliferation.",
                 "A potent inhibitor of angiogenesis reduced tumour growth.",
                 "Plasminogen activator inhibitor-1 levels increased in tumours."):  # PAI-1, a protein
        assert not claims(run(nlp_and_extractors, text), "therapy"), text
    # The target may follow: "an inhibitor of FGF".
    c = claims(run(nlp_and_extractors, "An inhibitor of FGF reduced tumour growth in mice."), "therapy")
    assert c and c[0].subject == "inhibitor of FGF"


def test_a_disease_named_like_a_therapy_is_none(nlp_and_extractors):
    items = run(nlp_and_extractors, "Malignant hyperthermia occurred after anaesthesia with halothane.")
    assert "hyperthermia" not in ids(items, "therapy")
    assert "hyperthermia" in ids(run(nlp_and_extractors, "Hyperthermia improved the response to radiotherapy."), "therapy")


def test_no_clinically_significant_difference_is_a_denial(nlp_and_extractors):
    c = claims(run(nlp_and_extractors, "Cisplatin produced no clinically significant differences in survival."), "therapy")
    assert c and c[0].negated and c[0].negation_cues == ["no clinically significant"]


def test_no_change_as_a_counted_response_category_denies_nothing(nlp_and_extractors):
    tally = ("Of 32 evaluable patients given cisplatin, complete remission 9.1% (n = 3), partial remission 45.5% "
             "(n = 15), no change 27.3% (n = 9).")
    c = claims(run(nlp_and_extractors, tally), "therapy")
    assert c and not c[0].negated
    c = claims(run(nlp_and_extractors, "Cisplatin produced no change in tumour size."), "therapy")
    assert c and c[0].negation_cues == ["no change"]


@pytest.mark.parametrize("title,claimed", [
    ("Effect of intravenous nimodipine on blood pressure after acute stroke.", False),
    ("Management strategies for ribavirin-induced hemolytic anemia in hepatitis C.", False),
    ("Tolerance and antiviral effect of ribavirin in patients with hemorrhagic fever.", False),
    ("Role of xanthine oxidase in dexamethasone-induced hypertension in rats.", False),
    ("The effect of high dose penicillamine treatment on aortic permeability to albumin.", False),
    ("Long-term effects of vincristine on the peripheral nervous system.", False),
    ("Rates of renal toxicity in cancer patients receiving cisplatin with and without mannitol.", False),
    # An evaluative word states what was found.
    ("Protective effect of edaravone against streptomycin-induced vestibulotoxicity in the guinea pig.", True),
    # A title with a verb of its own asserts its finding.
    ("Nimodipine lowers blood pressure after acute stroke.", True),
    ("Effect of cisplatin on renal function depends on hydration.", True),
])
def test_a_title_naming_its_topic_is_no_claim(nlp_and_extractors, title, claimed):
    items = run(nlp_and_extractors, "The study enrolled 40 patients.", title=title)
    assert bool([c for c in claims(items, "therapy") if c.field == "title"]) is claimed, title


def test_a_call_for_further_work_is_no_claim_but_a_finding_before_it_stands(nlp_and_extractors):
    for text in ("Further work is warranted on the effect of cisplatin on hearing.",
                 "The optimal dosing regimens of cisplatin are not yet determined."):
        assert not claims(run(nlp_and_extractors, text), "therapy"), text
    text = "Paclitaxel is an effective regimen for head and neck cancer and continued study is warranted."
    assert [c.role for c in claims(run(nlp_and_extractors, text), "therapy")] == ["result"]  # a conclusion
    assert claims(run(nlp_and_extractors, "Further studies showed that cisplatin reduced tumour growth."), "therapy")


def test_a_verbless_induced_compound_states_what_the_subject_causes(nlp_and_extractors):
    c = claims(run(nlp_and_extractors, "", title="Cisplatin-induced nephrotoxicity in children."), "therapy")
    assert [(x.direction, x.predicate) for x in c] == [("up", "induced")]
    # With a verb of its own the sentence's relation wins: "prevented tamoxifen-induced reductions".
    c = claims(run(nlp_and_extractors, "Lactoferrin prevented tamoxifen-induced reductions in IL-18."), "therapy")
    assert [x.predicate for x in c] == ["prevented"]


@pytest.mark.parametrize("text, direction", [
    # The claim is the therapy's benefit; the verb after "effective in" is its means.
    ("Lamivudine is effective in suppressing hepatitis B virus DNA in carriers.", "up"),
    ("Cisplatin was highly effective at reducing tumour burden in mice.", "up"),
    # A noun such as "strategy" or "agent" may stand between, and "for" instead of "in".
    ("Gefitinib is an effective strategy for reducing tumour growth in mice.", "up"),
    ("Celecoxib may be an effective agent for prevention of colon cancer metastasis.", "up"),
    ("Cisplatin reduced tumour burden in mice.", "down"),
])
def test_effective_in_reducing_states_a_benefit(nlp_and_extractors, text, direction):
    c = claims(run(nlp_and_extractors, text), "therapy")
    assert c and c[0].direction == direction, text


@pytest.mark.parametrize("text, direction", [
    # A tally of events states how often they happened, not which way anything moved.
    ("Grade 3 neutropenia and other toxicities were reported in 18% of patients receiving docetaxel.", "none"),
    ("Among 40 patients given gemcitabine, partial responses were observed in 12 (30%).", "none"),
    ("Serious adverse events after sorafenib were noted in 7 patients.", "none"),
    # A comparison, or a verb making the events the therapy's effect, keeps its direction.
    ("Toxicity was higher with docetaxel than with paclitaxel (40% vs 22%).", "up"),
    ("Gemcitabine resulted in partial responses in 30% of patients.", "up"),
])
def test_a_tally_of_responses_or_toxicities_has_no_direction(nlp_and_extractors, text, direction):
    c = claims(run(nlp_and_extractors, text), "therapy")
    assert c and c[0].direction == direction, (text, [(x.direction, x.predicate) for x in c])


@pytest.mark.parametrize("text, direction", [
    ("A significant rise in troponin was found after cumulative doxorubicin doses.", "up"),
    ("Serum PSA levels fell in most men treated with bicalutamide.", "down"),
    ("Tumour volume dropped sharply after cisplatin.", "down"),
])
def test_rises_falls_and_drops_have_their_direction(nlp_and_extractors, text, direction):
    c = claims(run(nlp_and_extractors, text), "therapy")
    assert [x.direction for x in c] == [direction], text


@pytest.mark.parametrize("text,predicate,direction", [
    # A participle describing the subject's noun gives way to the verb after it.
    ("Cisplatin at increasing concentrations reduced tumour growth.", "reduced", "down"),
    ("In activated macrophages, response to cisplatin correlated with survival.", "correlated with", "assoc"),
    ("Increased EGFR expression was associated with gefitinib response.", "associated with", "assoc"),
    ("With increasing doses of cisplatin, the expression of EGFR decreased.", "decreased", "down"),
    ("Elevated IGF1 and reduced IGFBP3 in patients given cisplatin led to a reduction in apoptosis.", "reduction", "down"),
    # With no verb after it, the participle is still the relation.
    ("Cisplatin-treated mice showed reduced tumour growth.", "reduced", "down"),
    # After a verb it names the outcome; "by increasing" is a verb of its own; a risk is the finding.
    ("Treatment with cisplatin resulted in impaired tumour growth that correlated with survival.", "impaired", "down"),
    ("Cisplatin acts by increasing ROS production, which correlates with apoptosis.", "increasing", "up"),
    ("Patients given cisplatin have an increased risk of nephropathy associated with dehydration.", "increased", "up"),
])
def test_a_participle_describing_a_noun_is_no_relation(nlp_and_extractors, text, predicate, direction):
    assert signs(nlp_and_extractors, text) == [(predicate, direction)]


@pytest.mark.parametrize("text,direction", [
    # The inverter acts on the entity right after it, not on a therapy named further on.
    ("Blocking STING with cisplatin reduced tumour growth.", "down"),
    ("The anti-breast cancer drug tamoxifen has been shown to cause an increase in calcium.", "up"),
    # With nothing named between, the inverter still acts on the therapy.
    ("Blocking cisplatin uptake reduced tumour growth.", "up"),
])
def test_an_inverter_acts_on_the_entity_after_it(nlp_and_extractors, text, direction):
    assert [d for _, d in signs(nlp_and_extractors, text)] == [direction]


@pytest.mark.parametrize("text,direction", [
    # The inverter's own object (survivin, named in no lexicon) ends at a preposition: the therapy after
    # it, or one that only describes the cells, is not lost.
    ("Loss of survivin after gefitinib increased apoptosis.", "up"),
    ("Down-regulation of survivin in gefitinib-treated cells increased apoptosis.", "up"),
])
def test_an_inverter_with_its_own_object_does_not_invert_the_therapy_after_it(nlp_and_extractors, text, direction):
    assert [d for _, d in signs(nlp_and_extractors, text)] == [direction]


@pytest.mark.parametrize("text", [
    "Anti-PD-L1 treatment reduced tumour growth in mice bearing melanoma.",
    "PD-L1 blockade reduced tumour growth in mice bearing melanoma.",
    "A PD-L1 inhibitor reduced tumour growth in mice bearing melanoma.",
    "PD-L1 inhibitors reduced tumour growth in mice bearing melanoma.",
])
def test_another_lexicons_exclusion_keeps_the_therapy_of_the_same_words(nlp_and_extractors, text):
    # pathway.jsonl excludes these words for pathway; the therapy lexicon names them itself.
    out = claims(run(nlp_and_extractors, text), "therapy")
    assert [(c.entities, c.direction) for c in out] == [(["immune-checkpoint-blockade"], "down")]


@pytest.mark.parametrize("text", [
    "Anti-PD-L1 and radiotherapy reduced tumour growth in mice bearing melanoma.",
    "Radiotherapy + anti-PD-L1 reduced tumour growth in mice bearing melanoma.",
])
def test_the_anti_of_a_drug_name_inverts_no_other_therapy(nlp_and_extractors, text):
    out = claims(run(nlp_and_extractors, text), "therapy")
    assert len(out) == 1 and out[0].direction == "down" and not out[0].extra["inverted"]
    assert set(out[0].entities) == {"immune-checkpoint-blockade", "radiotherapy"}


def test_an_exclusion_still_removes_a_word_inside_it_of_any_category(nlp_and_extractors):
    # "IFN" of "IFN-γ" is neither a type I IFN nor, given, an IFN therapy.
    items = run(nlp_and_extractors, "Treatment with IFN-γ reduced tumour growth in melanoma patients.")
    assert "ifn-therapy" not in ids(items, "therapy") and not claims(items, "ifn")


@pytest.mark.parametrize("text", [
    "Treatment with interferon alfa-2b reduced tumour growth in melanoma patients.",
    "Interferon alfa-2b therapy reduced tumour growth in melanoma patients.",
    "IFN-α2b therapy reduced tumour growth in melanoma patients.",
])
def test_an_ifn_given_by_its_inn_is_that_drug_not_the_class(nlp_and_extractors, text):
    # GUIDELINES: the INN for a named drug; the class ifn-therapy only when no INN is named.
    out = claims(run(nlp_and_extractors, text), "therapy")
    assert [c.entities for c in out] == [["interferon alfa-2b"]]


@pytest.mark.parametrize("text", [
    "The cells developed co-operative p21-p16 down-regulation and acquired transformed characteristics.",
    "CART analysis identified tumour size as the main predictor of relapse.",
])
def test_co_operative_and_cart_analysis_are_no_therapy(nlp_and_extractors, text):
    items = run(nlp_and_extractors, text)
    assert not {"surgery", "cell-therapy"} & ids(items, "therapy")


def test_operative_and_car_t_still_name_their_therapy(nlp_and_extractors):
    assert "surgery" in ids(run(nlp_and_extractors, "Operative treatment reduced mortality in colon cancer."), "therapy")
    assert "cell-therapy" in ids(run(nlp_and_extractors, "CAR-T cells eradicated leukaemia in patients."), "therapy")


@pytest.mark.parametrize("text,predicate,direction", [
    # The therapy after "by" is the agent of the inhibition, not what was lost.
    ("Inhibition of WEE1 by MK-1775 inhibited the phosphorylation of CDC2 in glioma cells.", "inhibited", "down"),
    # A cause with one or two words before its decrease noun still brings about the decrease.
    ("Interferon alfa-2b alone led to a growth reduction of bladder cancer cells.", "reduction", "down"),
    ("Losartan probably induced a critical fall in glomerular filtration pressure.", "fall in", "down"),
    ("Cisplatin induced apoptosis and reduction of tumour volume.", "induced", "up"),
])
def test_the_agent_of_an_inhibition_and_a_named_decrease_set_the_sign(nlp_and_extractors, text, predicate, direction):
    assert signs(nlp_and_extractors, text) == [(predicate, direction)]


@pytest.mark.parametrize("text", [
    "The anti-apoptotic protein BAX inhibitor-1 increased tumour cell invasion.",
    "Loss of PTEN raised the CDK inhibitors p21 and p27 in tumour cells.",
    "Granulocyte colony-stimulating factor increased neutrophil counts in healthy donors.",
])
def test_a_protein_named_inhibitor_or_stimulating_factor_is_no_therapy(nlp_and_extractors, text):
    assert not any(c.predicate in ("stimulating", "inhibitor", "inhibitors") for c in claims(run(nlp_and_extractors, text), "therapy"))
    assert not any("inhibitor" in (c.subject or "") for c in claims(run(nlp_and_extractors, text), "therapy"))


def test_a_drug_class_named_by_its_target_is_still_a_therapy(nlp_and_extractors):
    out = claims(run(nlp_and_extractors, "A CDK4/6 inhibitor reduced tumour growth in mice."), "therapy")
    assert len(out) == 1 and out[0].direction == "down"


@pytest.mark.parametrize("text,predicate,direction", [
    # With no verb, an outcome noun (death, killing, cytotoxicity) is what the therapy brings about: up.
    ("Gemcitabine and oxaliplatin had additive cytotoxicity in pancreatic cancer cells.", "cytotoxicity", "up"),
    ("Tumour cell killing by photodynamic therapy differed between the two cell lines.", "killing", "up"),
    ("Docetaxel was cytotoxic only in the resistant clones.", "cytotoxic", "up"),
    # A comparative after it still carries the sign.
    ("Cell death was less frequent after cisplatin than after carboplatin.", "death", "down"),
])
def test_an_outcome_noun_alone_reads_as_what_the_therapy_brings_about(nlp_and_extractors, text, predicate, direction):
    assert signs(nlp_and_extractors, text) == [(predicate, direction)]


def test_a_regression_analysis_is_no_regression(nlp_and_extractors):
    out = claims(run(nlp_and_extractors, "Logistic regression analysis related the cisplatin dose to nephrotoxicity in patients."), "therapy")
    assert all(c.predicate != "regression" for c in out)


@pytest.mark.parametrize("text,predicate,direction", [
    # Stopping a treatment is its management: with a reason given, no relation of the therapy is stated.
    ("Capecitabine was discontinued in 12 patients because of hand-foot syndrome.", None, "none"),
    ("Two patients stopped treatment due to fatigue after gefitinib.", None, "none"),
    # Without a reason, the relation named elsewhere in the sentence sets the sign.
    ("He developed interstitial pneumonitis on erlotinib, which resolved after the drug was stopped.", "developed", "up"),
])
def test_a_stopped_treatment_is_no_decrease(nlp_and_extractors, text, predicate, direction):
    assert signs(nlp_and_extractors, text) == [(predicate, direction)]


@pytest.mark.parametrize("text,predicate,direction", [
    # "mediated" with the therapy as its subject is a cause: the decrease after it carries the sign.
    ("Gefitinib mediated a marked reduction in tumour growth.", "reduction", "down"),
    ("Cisplatin mediates inhibition of tumour cell migration.", "inhibition of", "down"),
    # After a preposition or article it describes a noun, and causes nothing.
    ("Tumour regression followed an immunologically mediated inhibition of angiogenesis with gefitinib.", "mediated", "up"),
])
def test_what_a_therapy_mediates_sets_the_sign(nlp_and_extractors, text, predicate, direction):
    assert signs(nlp_and_extractors, text) == [(predicate, direction)]


@pytest.mark.parametrize("text,predicate,direction", [
    # With no verb, the decrease of something else is the relation the sentence reports.
    ("Furthermore, we observed inhibition of T cell proliferation by gamma irradiation in the mixed lymphocyte reaction.",
     "inhibition of", "down"),
    # Hedged or denied, it is the means of what the sentence weighs.
    ("Long-term inhibition of IGF1R may not be necessary during gefitinib treatment.", None, "none"),
])
def test_a_decrease_named_without_a_verb_is_the_relation(nlp_and_extractors, text, predicate, direction):
    assert signs(nlp_and_extractors, text) == [(predicate, direction)]


def test_a_decrease_of_the_subjects_own_gene_is_no_relation(nlp_and_extractors):
    text = "Ifnar1-deficient mice were generated, and disruption of the Ifnar1 gene was confirmed by sequencing."
    assert [c.direction for c in claims(run(nlp_and_extractors, text), "ifn")] == ["none"]


@pytest.mark.parametrize("text,hedged", [
    # How grave an event named as fact can be is no doubt about the event.
    ("Haemorrhagic cystitis is a potentially fatal complication of cyclophosphamide therapy.", False),
    ("Ototoxicity is a rare but potentially life-threatening side effect of cisplatin therapy.", False),
    # Said of the therapy itself, it weighs a possibility.
    ("Cyclophosphamide is potentially toxic to the bladder urothelium.", True),
])
def test_a_potentially_grave_event_is_no_hedge(nlp_and_extractors, text, hedged):
    assert [c.hedged for c in claims(run(nlp_and_extractors, text), "therapy")] == [hedged]


@pytest.mark.parametrize("text,hedged", [
    # Advice on what to do states nothing as merely possible.
    ("Patients receiving cyclophosphamide should be monitored for haematuria.", False),
    ("Clinicians should be aware of bleomycin lung toxicity.", False),
    ("Physicians should carefully consider the risk of lung injury when bleomycin is given.", False),
    # An expectation still hedges.
    ("Cyclophosphamide should reduce relapse in these patients.", True),
])
def test_a_recommendation_is_no_hedge(nlp_and_extractors, text, hedged):
    assert [c.hedged for c in claims(run(nlp_and_extractors, text), "therapy")] == [hedged]


@pytest.mark.parametrize("text,hedged", [
    # "could" after what was shown is the past of "can": what the drug was seen to do.
    ("We found that gefitinib could induce apoptosis in lung cancer cells.", False),
    ("Results showed that methotrexate could induce apoptosis in leukaemia cells.", False),
    # Without it, or with "could be", it weighs a possibility.
    ("These results show that gefitinib could be effective in lung cancer.", True),
    ("Gefitinib could induce apoptosis in lung cancer cells.", True),
])
def test_could_after_a_shown_finding_is_no_hedge(nlp_and_extractors, text, hedged):
    assert [c.hedged for c in claims(run(nlp_and_extractors, text), "therapy")] == [hedged]


@pytest.mark.parametrize("text,negated", [
    # "no" with a word or two before the outcome denies it like "no effect".
    ("Gefitinib had no direct effect on endothelial cells.", True),
    ("No systemic side-effects were observed after cisplatin.", True),
    ("Erlotinib had little or no demonstrable effects on serum electrolytes.", True),
    # ... and so does "no" before a change noun ("no enhancement", "no activation").
    ("We found no enhancement of liver tumour incidence by tamoxifen.", True),
    ("No caspase-3 activation was detected after sorafenib treatment.", True),
    # "NO" is nitric oxide: "NO synthase activation" denies nothing.
    ("Cisplatin increased inducible NO synthase activation in the kidney.", False),
    # A group described by what it lacked, and a clause after the stated relation, deny nothing of it.
    ("Patients with no response to cisplatin had shorter survival.", False),
    ("Cisplatin reduced tumour growth at doses causing no apparent toxicity.", False),
])
def test_no_before_a_qualified_outcome_denies_it(nlp_and_extractors, text, negated):
    assert [c.negated for c in claims(run(nlp_and_extractors, text), "therapy")] == [negated]


@pytest.mark.parametrize("text,negated", [
    # "while" ends the clause with or without a comma: the denial after it is another clause's.
    ("Cisplatin reduced tumour growth while no change in body weight was seen.", False),
    ("Cisplatin reduced tumour growth while the resistant cells could not.", False),
    # ... and still denies the claim whose subject stands in its clause, or the clause before it.
    ("STAT1 increased apoptosis while cisplatin had no effect on it.", True),
    ("Cisplatin did not reduce tumour growth while in remission.", True),
])
def test_a_denial_after_while_stays_in_its_clause(nlp_and_extractors, text, negated):
    assert [c.negated for c in claims(run(nlp_and_extractors, text), "therapy")] == [negated]


@pytest.mark.parametrize("text,negated", [
    # "but" ends the clause without a comma too: a second verb phrase's denial is not the first's.
    ("Cisplatin reduced tumour growth but did not affect survival.", False),
    ("Cisplatin lowered the platelet count but no change in haemoglobin was seen.", False),
    # A subject in the clause after it is still denied.
    ("STAT1 increased apoptosis but cisplatin did not.", True),
])
def test_a_denial_after_but_stays_in_its_clause(nlp_and_extractors, text, negated):
    assert [c.negated for c in claims(run(nlp_and_extractors, text), "therapy")] == [negated]


@pytest.mark.parametrize("text,predicate,direction", [
    # After a copula the comparative grades a change the noun already signs.
    ("Both agents lowered the platelet count, but the decrease was greater with cisplatin.", "decrease", "down"),
    # After a preposition it qualifies another noun; before "than" and a number it bounds a count.
    ("Apoptosis was enhanced at lower doses of cisplatin.", "enhanced", "up"),
    ("Heparin caused platelet count decreases of more than 30%.", "decreases", "down"),
    ("Sunitinib inhibits more than one kinase.", "inhibits", "down"),
    # Right after the verb, or after a copula of a noun that signs nothing, it still carries the sign.
    ("Cisplatin-treated cells produced less interferon.", "produced", "down"),
    ("Responses were less frequent with carboplatin.", "responses", "down"),
])
def test_a_comparative_signs_only_what_it_compares(nlp_and_extractors, text, predicate, direction):
    assert signs(nlp_and_extractors, text) == [(predicate, direction)]


@pytest.mark.parametrize("text,predicate,direction,negated", [
    # A "but" between two modifiers of one word ("a small but significant", "slightly but significantly")
    # opens no clause: the effect after it is still the cause's, the verb before it still the subject's.
    ("Cisplatin caused a small but significant reduction in tumour volume.", "reduction", "down", False),
    ("Relapse was delayed in a small but significant number of patients given cisplatin, and no deaths occurred.",
     "delayed", "down", False),
    ("Apoptosis increased slightly but significantly in cisplatin-treated cells and did not return to baseline.",
     "increased", "up", False),
    # A noun before "but" ends a clause as before.
    ("Oestrogen increased tumour growth in a subset but tamoxifen reduced it.", "reduced", "down", False),
])
def test_a_but_between_modifiers_opens_no_clause(nlp_and_extractors, text, predicate, direction, negated):
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert [(c.predicate, c.direction, c.negated) for c in found] == [(predicate, direction, negated)]


@pytest.mark.parametrize("abstract,expected", [
    # "It" or "this agent" opening a sentence with a relation verb goes on about the drug the sentence before
    # opened with (the named drug over its class).
    ("Cisplatin was given to mice bearing lung tumours. It reduced tumour growth by half.",
     [("cisplatin", ["cisplatin"], "down")]),
    ("The multikinase inhibitor sorafenib is approved for liver cancer. This agent prolongs survival of patients.",
     [("sorafenib", ["sorafenib"], "up")]),
    # After a lead-in the pronoun is in lower case.
    ("Cisplatin was given to mice bearing lung tumours. However, it reduced tumour growth by half.",
     [("cisplatin", ["cisplatin"], "down")]),
    ("Sorafenib is approved for liver cancer. Moreover, this drug prolongs survival of patients.",
     [("sorafenib", ["sorafenib"], "up")]),
    # Not when the drug only modifies a noun, comes after the sentence's verb, or another entity opens it.
    ("Cisplatin-induced nephrotoxicity is common. It increases hospital stays.", []),
    ("We increased the dose of cisplatin in older mice. It reduced tumour growth by half.", []),
    ("STAT3 activation followed cisplatin treatment. It increased tumour growth in mice.", []),
])
def test_a_pronoun_opening_a_sentence_stands_for_the_drug_before(nlp_and_extractors, abstract, expected):
    found = claims(run(nlp_and_extractors, abstract), "therapy")
    second = [c for c in found if c.start > abstract.index(". ")]
    assert [(c.subject, c.entities, c.direction) for c in second] == expected
    # The pronoun is no mention of the drug: only the name is.
    assert not [m for m in run(nlp_and_extractors, abstract) if isinstance(m, Mention) and m.text in ("It", "This agent")]


@pytest.mark.parametrize("abstract", [
    # "It" stands for the noun the drug modifies (its resistance, its toxicity, its dose), not for the drug.
    "Cisplatin resistance is a major obstacle in ovarian cancer. It reduces survival of patients.",
    "Sorafenib toxicity limits its use in liver cancer. It reduces quality of life.",
    "The gemcitabine dose was lowered in older patients. It reduced toxicity.",
])
def test_a_pronoun_does_not_stand_for_a_drug_modifying_a_noun(nlp_and_extractors, abstract):
    found = claims(run(nlp_and_extractors, abstract), "therapy")
    assert found and not [c for c in found if c.start > abstract.index(". ")]


@pytest.mark.parametrize("text,predicate,direction,negated", [
    # An anti-tumour (antiviral, antiproliferative ...) activity is an efficacy named, like "efficacy".
    ("Gemcitabine has modest antitumour activity in relapsed ovarian cancer.", "antitumour activity", "up", False),
    ("Irinotecan showed anti-tumor activity against colon carcinoma xenografts.", "anti-tumor activity", "up", False),
    ("Cidofovir has broad antiviral activity against DNA viruses.", "antiviral activity", "up", False),
    ("Topotecan showed no anti-tumor activity in refractory patients.", "anti-tumor activity", "up", True),
])
def test_an_anti_tumour_activity_is_an_efficacy(nlp_and_extractors, text, predicate, direction, negated):
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert [(c.predicate, c.direction, c.negated) for c in found] == [(predicate, direction, negated)]


@pytest.mark.parametrize("text", [
    # In a methods sentence the activity names what was measured, as "efficacy" does; "was studied",
    # "we characterised" and "carried out" are methods verbs.
    "The antitumor activity and nephrotoxicity of cisplatin were studied in rats bearing sarcomas.",
    "We characterised the antitumour activity of gemcitabine in three xenograft models.",
    "We characterized the toxicity of docetaxel in older patients.",
    "The effect of cisplatin on renal blood flow was studied in dogs.",
    "We carried out a kinetic analysis of the arrest induced by paclitaxel.",
    "Acute toxicity studies of gemcitabine were carried out in rats and dogs.",
])
def test_what_a_methods_verb_measured_is_no_claim(nlp_and_extractors, text):
    assert claims(run(nlp_and_extractors, text), "therapy") == []


@pytest.mark.parametrize("text,predicate,direction", [
    # An inhibitor or antagonist named right before the drug is the drug's class: it inverts nothing.
    ("The selective antagonist propranolol reduced anxiety in stressed mice.", "reduced", "down"),
    ("The angiotensin receptor antagonist losartan blocked angiotensin-induced contraction of vessels.", "blocked", "down"),
    ("The mTOR pathway inhibitors rapamycin and everolimus inhibited protein synthesis.", "inhibited", "down"),
    # Before the drug's own loss it still inverts: "inhibitor of" names what is inhibited.
    ("Depletion of cisplatin by an inhibitor of uptake reduced apoptosis.", "reduced", "up"),
])
def test_a_class_noun_before_the_drug_inverts_nothing(nlp_and_extractors, text, predicate, direction):
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert [(c.predicate, c.direction) for c in found] == [(predicate, direction)]


@pytest.mark.parametrize("text,claimed,predicate,direction", [
    # After a copula, "an inhibitor of Y" is what the subject is: a decrease of Y, over a weak "potent".
    ("Gefitinib is a potent inhibitor of tumour cell migration.", True, "inhibitor of", "down"),
    ("Celecoxib is an inhibitor of colon polyp formation.", True, "inhibitor of", "down"),
    ("Tamoxifen and raloxifene are competitive antagonists of oestrogen binding.", True, "antagonists", "down"),
    ("Metformin has been shown to act as an inhibitor of hepatic gluconeogenesis.", True, "inhibitor of", "down"),
    ("Docetaxel is a potent and highly selective inhibitor of endothelial sprouting.", True, "inhibitor of", "down"),
    # Without "of" it names a class ("a proton pump inhibitor"), no relation; in an apposition it is no verb.
    ("Omeprazole is a proton pump inhibitor.", False, None, None),
    ("Imatinib, a selective inhibitor of BCR-ABL, induced remission in most patients.", True, "induced", "up"),
])
def test_an_inhibitor_of_after_a_copula_is_the_relation(nlp_and_extractors, text, claimed, predicate, direction):
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert [(c.predicate, c.direction) for c in found] == ([(predicate, direction)] if claimed else [])


@pytest.mark.parametrize("abstract,expected", [
    # "ICI" with a number is a company code for a named drug, not an immune checkpoint inhibitor.
    ("The pure oestrogen receptor antagonist ICI 182,780 reduced proliferation of MCF-7 cells.", {"fulvestrant"}),
    ("ICI D1694 inhibited thymidylate synthase in colon cancer cells.", {"raltitrexed"}),
    ("ICI 118,551 reduced the heart rate of rats. ICI had no effect on blood pressure.", set()),
    # Without one, ICI is the checkpoint inhibitor class.
    ("ICIs improved survival of patients with melanoma.", {"immune-checkpoint-blockade"}),
])
def test_ici_with_a_compound_number_is_no_checkpoint_inhibitor(nlp_and_extractors, abstract, expected):
    assert ids(run(nlp_and_extractors, abstract), "therapy") == expected


@pytest.mark.parametrize("text,predicate,direction", [
    # A finite passive verb whose agent is the subject is the subject's relation, over a verb after it.
    ("Haemorrhagic cystitis was induced by ifosfamide, which is metabolised to an irritant eliminated in urine.",
     "induced", "up"),
    ("Endothelial migration stimulated by growth factors was strongly inhibited by docetaxel.", "inhibited", "down"),
    ("Tumour growth was only partially reduced by sorafenib, and the tumours later increased in size.", "reduced", "down"),
    # A participle describing a noun is not the finite verb: the main verb after it is the relation.
    ("Inflammation induced by imiquimod reduced the time to graft rejection.", "reduced", "down"),
])
def test_a_passive_verb_whose_agent_is_the_subject_is_its_relation(nlp_and_extractors, text, predicate, direction):
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert [(c.predicate, c.direction) for c in found] == [(predicate, direction)]


@pytest.mark.parametrize("text,claimed,direction", [
    # "developed" after a passive auxiliary or "we have" is something made, not a condition that arose.
    ("Here we have developed nanoparticles that carry gemcitabine.", False, None),
    ("Gemcitabine analogues have been developed to overcome transport deficiency.", False, None),
    ("Sorafenib derivatives should be developed for the treatment of liver cancer.", True, "none"),
    # A condition that arose still is an adverse event.
    ("Three patients developed renal failure after cisplatin.", True, "up"),
])
def test_developed_as_made_is_no_event(nlp_and_extractors, text, claimed, direction):
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert [c.direction for c in found] == ([direction] if claimed else [])


@pytest.mark.parametrize("text,claimed,direction", [
    # "refractory" or "resistant" naming a group's disease describes who was treated, not a therapy failing.
    ("Bortezomib as salvage therapy in patients with relapsed/refractory myeloma.", False, None),
    ("A woman with refractory myeloma was treated with melphalan.", False, None),
    ("Cisplatin was given to patients with recurrent or resistant glioma, and seizures occurred in three.", True, "up"),
    # Resistance to a therapy still is one.
    ("Most tumours were resistant to carboplatin.", True, "down"),
])
def test_a_refractory_disease_names_a_group(nlp_and_extractors, text, claimed, direction):
    found = claims(run(nlp_and_extractors, text), "therapy")
    assert [c.direction for c in found] == ([direction] if claimed else [])
