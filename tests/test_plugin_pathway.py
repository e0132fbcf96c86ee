"""The pathway plugin: sensors, oncogenes and regulators, their traps, and relation attributes."""

from __future__ import annotations

import pytest

from evidex import get_extractors
from plugin_support import claims, ids, run


def test_registered_through_public_hook():
    ext = get_extractors()["pathway"]
    assert ext.categories == ("pathway",) and ext.name == "pathway"
    assert any(p.name == "pathway.jsonl" for p in ext.data_files)


@pytest.mark.parametrize("surface,expected", [
    ("STING", "STING1"), ("TMEM173", "STING1"), ("Sting1", "STING1"), ("Sting-/-", "STING1"),
    ("cGAS", "CGAS"), ("Cgas", "CGAS"), ("cGAS-STING", "cgas-sting"), ("cGAS–STING", "cgas-sting"),
    ("RIG-I", "RIGI"), ("DDX58", "RIGI"), ("MDA5", "IFIH1"), ("NF-κB", "nf-kb"), ("NF-kappaB", "nf-kb"),
    ("NFkB", "nf-kb"), ("KRAS", "KRAS"), ("p53", "TP53"), ("p16INK4a", "CDKN2A"), ("TRIF", "TICAM1"),
    ("LSD1", "KDM1A"), ("HIF-1α", "HIF1A"), ("TLR9", "TLR9"), ("DNA methylation", "dna-methylation"),
    ("NEMO", "IKBKG"), ("IKKα", "CHUK"), ("CD39", "ENTPD1"), ("UTX", "KDM6A"),
    ("TIR-domain-containing adapter-inducing interferon-β", "TICAM1"),
    ("HIF-1a", "HIF1A"), ("hypoxia inducible factor-1a", "HIF1A"), ("HER2", "ERBB2"), ("HER-2", "ERBB2"),
    ("Her2", "ERBB2"), ("HER1", "EGFR"),
    ("TLR2", "TLR2"), ("TLR1", "TLR1"), ("TLR5", "TLR5"), ("TLR6", "TLR6"), ("TLR10", "TLR10"),
    ("Toll-like receptor 2 (TLR2)", "TLR2"), ("Toll-like receptor (TLR)4", "TLR4"), ("toll-like receptor (TLR) 9", "TLR9"),
    ("STAT4", "STAT4"), ("STAT5A", "STAT5A"), ("STAT5b", "STAT5B"), ("STAT6", "STAT6"), ("JAK3", "JAK3"),
    # STAT5 names two genes: the pathway's family id, as ERK is mapk.
    ("STAT5", "jak-stat"), ("pSTAT5", "jak-stat"), ("HRAS1", "HRAS"),
])
def test_variants_map_to_canonical_ids(nlp_and_extractors, surface, expected):
    items = run(nlp_and_extractors, f"{surface} activated downstream signalling in tumour cells.")
    assert expected in ids(items, "pathway")


def test_tokenisation_of_knockout_and_dash_variants(nlp_and_extractors):
    nlp, _ = nlp_and_extractors
    assert [t.text for t in nlp.make_doc("Sting-/-")] == ["Sting-/-"]
    assert [t.text for t in nlp.make_doc("cGAS–STING")] == ["cGAS", "–", "STING"]


@pytest.mark.parametrize("text, expected", [
    ("p38(HOG) activation induces a G1 arrest.", ["p38", "(", "HOG", ")", "activation", "induces", "a", "G1", "arrest", "."]),
    ("IFN-alpha(2b) and STAT1(Y701)", ["IFN", "-", "alpha", "(", "2b", ")", "and", "STAT1", "(", "Y701", ")"]),
    # Knockout and charge notation stay one word: a parenthesis before a sign is no aside.
    ("Ifnar1(-/-) and CD8(+) cells", ["Ifnar1(-/-", ")", "and", "CD8(+", ")", "cells"]),
])
def test_a_parenthesis_glued_to_a_name_opens_an_aside(nlp_and_extractors, text, expected):
    nlp, _ = nlp_and_extractors
    assert [t.text for t in nlp.make_doc(text)] == expected


@pytest.mark.parametrize("text, category, expected", [
    ("Consistent with senescence, p38(HOG) activation induces a G1 cell cycle arrest.", "pathway", "MAPK14"),
    ("Oncogenic B-RAF(V600E) induces the expression of Tbx3 in melanocytes.", "pathway", "BRAF"),
    # The subtype in the parenthesis is the ligand's gene (GUIDELINES: IFN-α2 → IFNA2).
    ("IFN-alpha(2b) inhibited tumour growth in mice.", "ifn", "IFNA2"),
])
def test_a_name_before_a_glued_parenthesis_is_found(nlp_and_extractors, text, category, expected):
    assert expected in ids(run(nlp_and_extractors, text), category)


def test_suspended_hyphen_keeps_the_name(nlp_and_extractors):
    "'TLR7/MyD88- and IFNAR1-dependent', 'Ras- or stress-induced': the hanging hyphen is no part of the name."
    items = run(nlp_and_extractors, "Tumour regression was TLR7/MyD88- and IFNAR1-dependent in mice.")
    assert {"TLR7", "MYD88"} <= ids(items, "pathway")
    items = run(nlp_and_extractors, "p38 activates senescence in Ras- or stress-induced tumours.")
    assert "ras" in ids(items, "pathway")
    assert "STING1" in ids(run(nlp_and_extractors, "Sting-/- mice lost tumour control."), "pathway")


@pytest.mark.parametrize("text", [
    "The bee sting caused swelling that increased over two days.",
    "A sting operation revealed increased fraud.",
    "Blockade of the RAS (renin-angiotensin system) reduced blood pressure.",
    "Myc-tagged constructs were expressed and increased in lysates.",
    "Her 2-year follow-up showed increased bone density.",  # the pronoun, not HER2
])
def test_traps(nlp_and_extractors, text):
    items = run(nlp_and_extractors, text)
    assert not ({"STING1", "ras", "MYC", "ERBB2"} & ids(items, "pathway")), text


def test_deacetylation_is_a_histone_mark_only_in_a_paper_on_chromatin(nlp_and_extractors):
    text = "The reduction in nephrotoxicity was due to inhibition of paracetamol deacetylation."
    assert "histone-modification" not in ids(run(nlp_and_extractors, text), "pathway")
    items = run(nlp_and_extractors, text, title="HDAC inhibitors and histone marks in the kidney")
    assert "histone-modification" in ids(items, "pathway")


def test_named_gene_without_relation_is_not_a_claim(nlp_and_extractors):
    assert not claims(run(nlp_and_extractors, "TP53 mutations were found in 16 of 73 tumours (22%)."), "pathway")


def test_a_trigger_noun_before_an_association_is_measured_not_the_relation(nlp_and_extractors):
    c = claims(run(nlp_and_extractors, "STING activation in tumours correlated with longer survival of patients."), "pathway")[0]
    assert c.direction == "assoc" and c.predicate == "correlated with"
    # A verb keeps its own direction, whatever association follows.
    c = claims(run(nlp_and_extractors, "cGAS activates STING, which is associated with survival."), "pathway")[0]
    assert c.direction == "up"


def test_relation_direction_and_inverters(nlp_and_extractors):
    c = claims(run(nlp_and_extractors, "cGAS activates STING in response to cytosolic DNA."), "pathway")[0]
    assert c.direction == "up" and c.subject == "CGAS" and c.object == "STING1"
    c = claims(run(nlp_and_extractors, "STING-deficient mice showed impaired T cell priming."), "pathway")[0]
    assert c.direction == "up" and c.extra["inverted"]
    c = claims(run(nlp_and_extractors, "TREX1 degrades cytosolic DNA and restrains STING activation."), "pathway")[0]
    assert c.direction == "down"
    c = claims(run(nlp_and_extractors, "EGFR amplification correlated with p16 deletion."), "pathway")[0]
    assert c.direction == "assoc"


def test_a_second_mention_of_the_subject_is_no_object(nlp_and_extractors):
    c = claims(run(nlp_and_extractors, "p53 was phosphorylated, followed by an increase in p53 and then in KRAS."), "pathway")[0]
    assert c.subject == "TP53" and c.object == "KRAS"
    c = claims(run(nlp_and_extractors, "Here p53 is induced, with an increase in p53 protein level."), "pathway")[0]
    assert c.subject == "TP53" and c.object is None


def test_negation_and_hedging(nlp_and_extractors):
    c = claims(run(nlp_and_extractors, "Loss of MAVS did not alter tumour growth."), "pathway")[0]
    assert c.negated and c.negation_cues == ["did not"]
    c = claims(run(nlp_and_extractors, "NF-κB activation might drive resistance to therapy."), "pathway")[0]
    assert c.hedged and "might" in c.hedge_cues
    c = claims(run(nlp_and_extractors, "BRAF induced p16 but not p21 in melanocytes."), "pathway")[0]
    assert not c.negated  # "but not" contrasts two objects, it does not deny the relation
    c = claims(run(nlp_and_extractors, "The function of p53 is not well described, although p53 suppresses tumours."), "pathway")[0]
    assert not c.negated


def test_drug_target_names_are_not_pathway_claims(nlp_and_extractors):
    items = run(nlp_and_extractors, "KRAS G12C inhibitors improved survival of patients with lung cancer.")
    assert not claims(items, "pathway")
    assert claims(items, "therapy")


def test_methylation_states_and_histone_enzymes(nlp_and_extractors):
    items = run(nlp_and_extractors, "Hypermethylated retroviral genes were upregulated after treatment in melanoma cells.")
    assert "dna-methylation" in ids(items, "pathway")
    items = run(nlp_and_extractors, "SMYD3 is a histone methyltransferase that activates oncogene transcription.")
    assert "histone-modification" in ids(items, "pathway")
    # MGMT repairs DNA; "methyltransferase" in its name is no methylation pathway.
    items = run(nlp_and_extractors, "Low O6-methylguanine-DNA methyltransferase (MGMT) expression predicts response.")
    assert "dna-methylation" not in ids(items, "pathway")


def test_what_the_sensors_sense_supports_a_claim(nlp_and_extractors):
    "Cytosolic DNA, micronuclei and retroelements support a pathway claim without naming an entity."
    items = run(nlp_and_extractors, "Rupture of micronuclei activated type I IFN responses in tumour cells.")
    assert claims(items, "pathway") and not ids(items, "pathway")
    items = run(nlp_and_extractors, "LINE-1 retroelements induced interferon signalling in senescent cells.")
    assert claims(items, "pathway")
    # The toxicology assay is no cGAS substrate.
    items = run(nlp_and_extractors, "The micronucleus assay showed increased genotoxicity in rats.")
    assert not claims(items, "pathway")


@pytest.mark.parametrize("text,direction", [
    ("SIRT7 stabilizes the transformed state of cancer cells.", "up"),
    ("KRAS exacerbates inflammation in the pancreas.", "up"),
    ("MYC eliminates the dependence on growth factors.", "down"),
    ("STAT3 activity correlates with poor survival.", "assoc"),
    ("MYC raises the expression of repetitive elements.", "up"),
    ("STAT3 impedes T cell priming in tumours.", "down"),
    ("TREX1 curbs the accumulation of cytosolic DNA.", "down"),
    ("STING signalling is central to antitumour immunity in mice.", "up"),
    ("cGAS is critical for T cell priming against tumours.", "up"),
])
def test_third_person_forms_are_triggers(nlp_and_extractors, text, direction):
    "A verb's every form is a trigger: 'stabilizes' as well as 'stabilized'."
    c = claims(run(nlp_and_extractors, text), "pathway")
    assert c and c[0].direction == direction, text


def test_a_passive_agent_is_the_subject_of_the_relation(nlp_and_extractors):
    "'p53 is induced by IFN-α/β': IFN-α/β induces p53, for the claim of either category."
    items = run(nlp_and_extractors, "Transcription of the p53 gene is induced by IFN-alpha/beta in tumour cells.")
    relations = {(c.category, c.subject, c.object, c.direction) for c in items if hasattr(c, "object")}
    assert relations == {("pathway", "type-i-ifn", "TP53", "up"), ("ifn", "type-i-ifn", "TP53", "up")}
    c = claims(run(nlp_and_extractors, "STING was strongly activated by cGAMP in dendritic cells."), "pathway")[0]
    assert (c.subject, c.object) == ("cgamp", "STING1")


def test_another_entitys_loss_is_the_intervention_not_the_relation(nlp_and_extractors):
    "'KRAS G12C inhibition restores IFN signalling': the verb is the relation, the inhibition its cause."
    text = "KRAS G12C inhibition restores interferon signalling and antitumour immunity after PD-1 blockade."
    c = claims(run(nlp_and_extractors, text), "therapy")[0]
    assert c.direction == "up" and c.predicate == "restores"


def test_a_gene_named_as_an_isg_is_no_pathway_claim(nlp_and_extractors):
    "'IRDS genes STAT1, ISG15 and IFIT1': STAT1 counts as an ISG there; beside IFN-γ alone, as JAK-STAT."
    text = "Three signature genes, STAT1, ISG15 and IFIT1, each mediated resistance to radiotherapy."
    items = run(nlp_and_extractors, text, title="Interferon-stimulated genes and resistance")
    assert claims(items, "ifn") and not claims(items, "pathway")
    items = run(nlp_and_extractors, "IFN-γ strongly induced STAT1 phosphorylation and ISG15 in tumour cells.",
                title="Interferon signalling in melanoma")
    assert claims(items, "pathway") and not claims(items, "ifn")


def test_a_sentence_opening_adverb_is_no_first_clause(nlp_and_extractors):
    text = "Furthermore, how reduction of LDHA expression inhibits tumorigenesis is not well understood."
    assert not claims(run(nlp_and_extractors, text), "pathway")


def test_a_relation_word_inside_a_name_states_no_relation(nlp_and_extractors):
    "'hypoxia-inducible factor', 'interferon-stimulated genes': the cue word belongs to the name."
    text = "Tumour sections were stained for hypoxia-inducible factor-1α."
    assert not claims(run(nlp_and_extractors, text), "pathway")
    assert not claims(run(nlp_and_extractors, "We characterised interferon-stimulated gene signatures in tumours."), "ifn")
    c = claims(run(nlp_and_extractors, "Expression of hypoxia-inducible factor-1α was increased by cobalt."), "pathway")
    assert [x.predicate for x in c] == ["increased"]


@pytest.mark.parametrize("text, expected", [
    # "plays a role in": a stated, unsigned relation.
    ("EZH2 plays an important role in transcriptional silencing during carcinogenesis.", ("assoc", False)),
    ("Our work demonstrates a pivotal role for SIRT7 in chromatin regulation.", ("assoc", False)),
    ("Cell culture under low oxygen revealed no role for HIF-1α in CXCR4 expression.", ("none", True)),
    # Asking about a role asserts none.
    ("However, the role of EZH2 in cholangiocarcinoma remains unclear.", None),
    ("However, its role in STING signalling remains unclear.", None),
    ("Unlike in breast cancer, the prognostic role of HER2 in ovarian carcinoma remains controversial.", None),
    ("Its role in EZH2-driven lymphoma is under investigation.", None),
    ("To test the hypothesis that EZH2 plays a role in relapse, mice were treated with an inhibitor.", None),
])
def test_a_role_in_is_an_association(nlp_and_extractors, text, expected):
    found = [(c.direction, c.negated) for c in claims(run(nlp_and_extractors, text), "pathway")]
    assert found == ([expected] if expected else []), text


def test_another_lexicons_exclusion_keeps_the_pathway_name_of_the_same_words(nlp_and_extractors):
    # ifn.jsonl excludes "stimulator of interferon genes" (no IFN ligand); for pathway it is STING1.
    items = run(nlp_and_extractors, "Stimulator of interferon genes activated NF-kB in tumour cells.")
    assert {"STING1", "nf-kb"} <= ids(items, "pathway") and not claims(items, "ifn")


def test_an_inverter_inside_a_drug_name_does_not_invert_the_pathway_gene(nlp_and_extractors):
    # The JAK inhibitor reduced STAT3 phosphorylation: STAT3 goes down, it is not STAT3 that was lost.
    out = claims(run(nlp_and_extractors, "In tumours treated with a JAK inhibitor, STAT3 phosphorylation was reduced."),
                 "pathway")
    assert [(c.subject, c.direction) for c in out] == [("STAT3", "down")]


@pytest.mark.parametrize("text,predicate,direction", [
    # The subject's reduction or suppression, with its relation after it: a loss of the subject.
    ("Reduction of TP53 prevented the upregulation of p21 in irradiated fibroblasts.", "prevented", "up"),
    ("Suppression of STAT3 increased apoptosis of tumour cells.", "increased", "down"),
    # What a cause brings about, and a reduction with no relation after it, stay the decrease.
    ("Cisplatin caused a reduction of STAT3 phosphorylation in tumour cells.", "reduction", "down"),
    ("The main finding was a reduction of STAT3 phosphorylation in tumour cells.", "reduction", "down"),
])
def test_a_nominal_decrease_of_the_subject_inverts_the_relation_after_it(nlp_and_extractors, text, predicate, direction):
    out = claims(run(nlp_and_extractors, text), "pathway")
    assert [(c.predicate, c.direction) for c in out] == [(predicate, direction)]


@pytest.mark.parametrize("text,cue", [
    ("These results imply that cisplatin activates STAT3 in tumour cells.", "imply"),
    ("This implies that IFN-beta activates STAT3 in tumour cells.", "implies"),
    ("Cisplatin activated STAT3 in tumour cells, implying a role in resistance.", None),  # an aside after the finding
    ("These results postulate that radiation activates STAT3 signals.", "postulate"),
    ("These findings support the notion that IFN-alpha activates STAT3 in tumour cells.", "support the notion"),
])
def test_implying_and_postulating_are_hedges(nlp_and_extractors, text, cue):
    out = claims(run(nlp_and_extractors, text), "pathway")
    assert len(out) == 1 and out[0].hedge_cues == ([cue] if cue else [])


@pytest.mark.parametrize("text", ["Toll-like receptor 2 (TLR2) activated NF-kB in tumour cells.",
                                  "Toll-like receptor (TLR)2 activated NF-kB in tumour cells."])
def test_a_numbered_toll_like_receptor_is_the_gene_not_the_family(nlp_and_extractors, text):
    assert "tlr" not in ids(run(nlp_and_extractors, text), "pathway")


def test_the_ras_association_domain_is_no_ras(nlp_and_extractors):
    items = run(nlp_and_extractors, "The Ras association domain family 1 isoform A (RASSF1A) suppresses tumour growth.")
    assert "ras" not in ids(items, "pathway")
    assert "ras" in ids(run(nlp_and_extractors, "Oncogenic Ras increased tumour growth in mice."), "pathway")


@pytest.mark.parametrize("text,direction", [
    ("Mitoses were enhanced by TP53 silencing in fibroblasts.", "down"),
    ("IFN-beta production was reduced in tumours from Sting-/- mice.", "up"),
    ("Tumour growth was increased in KRAS-mutant mice.", "up"),  # a mutant KRAS is no loss
])
def test_a_loss_named_after_a_passive_verb_inverts_it(nlp_and_extractors, text, direction):
    out = claims(run(nlp_and_extractors, text), "pathway")
    assert [c.direction for c in out] == [direction]


@pytest.mark.parametrize("text,direction", [
    # The gene only describes the noun the inverter acts on, or sits after that noun's preposition.
    ("Loss of STAT3-associated HSP90 increased apoptosis in tumour cells.", "up"),
    ("Silencing of survivin in STAT3-expressing cells increased apoptosis.", "up"),
    # The inverter governs the gene: "null for", a list after it, "together with".
    ("Mice null for TP53 developed more tumours.", "down"),
    ("Blocking survivin, STAT3 or XIAP reduced tumour growth.", "up"),
    ("Loss of XIAP together with STAT1 reduced tumour growth.", "up"),
    ("Knockdown of the STAT1 gene reduced tumour growth.", "up"),
])
def test_an_inverter_inverts_the_gene_only_when_it_governs_it(nlp_and_extractors, text, direction):
    out = claims(run(nlp_and_extractors, text), "pathway")
    assert [c.direction for c in out] == [direction]


@pytest.mark.parametrize("text,entity,direction", [
    # The "activator" of the full name states no activation: the verb does.
    ("Signal transducer and activator of transcription 3 expression fell after radiotherapy.", "STAT3", "down"),
    ("Cisplatin suppressed signal transducers and activators of transcription 1 in tumour cells.", "STAT1", "down"),
    ("Leukemia inhibitory factor increased STAT3 phosphorylation in glioma cells.", "STAT3", "up"),
    ("Loss of EZH2 reduced the inhibitor of kappa B kinase-beta and blunted NF-kB in tumour cells.", "EZH2", "up"),
])
def test_a_relation_word_inside_a_protein_name_is_no_relation(nlp_and_extractors, text, entity, direction):
    out = claims(run(nlp_and_extractors, text), "pathway")
    assert len(out) == 1 and entity in out[0].entities and out[0].direction == direction


@pytest.mark.parametrize("text,direction", [
    ("In treated cells, STAT1, IRF3 and TBK1 activation were abolished.", "down"),
    ("Consequently, NF-kB, p38 and ERK5 activation were suppressed.", "down"),  # a list ending on a symbol no lexicon holds
    ("KRAS and MYC activation enhanced invasion of tumour cells.", "up"),
    ("MYC and TP53 inhibition reduced invasion of tumour cells.", "up"),  # the list's loss inverts its relation
])
def test_a_nominal_after_a_list_opened_by_the_subject_is_the_lists_own(nlp_and_extractors, text, direction):
    out = claims(run(nlp_and_extractors, text), "pathway")
    assert [c.direction for c in out] == [direction]


def test_a_nominal_after_a_comma_is_no_part_of_the_subject(nlp_and_extractors):
    "'cGAMP treatment, improving survival': the participle after the comma is the relation, not the list's noun."
    out = claims(run(nlp_and_extractors, "Mice received cGAMP treatment, improving survival after tumour challenge."), "pathway")
    assert [c.direction for c in out] == ["up"] and out[0].predicate == "improving"


@pytest.mark.parametrize("text,direction,role", [
    ("TLR4 has been implicated in colon cancer progression.", "assoc", "background"),
    ("HIF1A activation has been linked to poor outcome in renal cancer.", "assoc", "background"),
    ("Type I IFN signalling through STING is essential for tumour rejection.", "up", "result"),
    ("TBK1 is required for IRF3 phosphorylation in tumour cells.", "up", "background"),
    ("This work links KRAS to inflammation in the pancreas.", "assoc", "result"),
    # A clause naming the subject only as implicated gives way to its verb.
    ("STAT3 is activated by IL-6 and is implicated in tumour growth.", "up", "result"),
])
def test_association_and_dependency_words_after_a_background_phrase(nlp_and_extractors, text, direction, role):
    out = claims(run(nlp_and_extractors, text), "pathway")
    assert len(out) == 1 and out[0].direction == direction


@pytest.mark.parametrize("text,claimed", [
    # How often a gene is altered or expressed: a tally, no relation.
    ("MYC amplification was found in 14 of 52 (27%) tumours.", False),
    ("Nuclear beta-catenin was expressed in 31/40 (78%) adenomas.", False),
    ("Loss of PTEN occurred in at least 9 (45%) of the 20 gliomas examined.", False),
    ("KRAS amplification occurs in over 20% of gastric carcinomas.", False),
    # A relation beside the count, or a comparison, still makes the claim.
    ("MYC amplification was found in 14 of 52 tumours and correlated with poor survival.", True),
    ("Nuclear beta-catenin was more often expressed in metastatic tumours (31/40) than in primary ones (12/40).", True),
    ("EGFR was not expressed in 12 of 30 tumours.", True),
    ("STAT3 activation induced invasion in 8 of 10 cell lines.", True),
])
def test_a_frequency_of_alteration_is_no_relation(nlp_and_extractors, text, claimed):
    assert bool(claims(run(nlp_and_extractors, text), "pathway")) is claimed


@pytest.mark.parametrize("text,expected", [
    ("Human epidermal growth factor receptor 2 (HER2) promoted proliferation of gastric cancer cells.", {"ERBB2"}),
    ("Epidermal growth factor receptor-2 signalling promoted invasion of breast cancer cells.", {"ERBB2"}),
    # HER3 and HER4 are no lexicon gene, and not EGFR either.
    ("Human epidermal growth factor receptor 3 promoted proliferation of tumour cells.", set()),
    ("Epidermal growth factor receptor 4 promoted invasion of tumour cells.", set()),
    ("Epidermal growth factor receptor signalling promoted invasion of tumour cells.", {"EGFR"}),
])
def test_numbered_members_of_the_egf_receptor_family(nlp_and_extractors, text, expected):
    assert ids(run(nlp_and_extractors, text), "pathway") == expected


@pytest.mark.parametrize("text,claimed", [
    # Copying DNA in the laboratory is a method, not an amplified gene.
    ("PCR amplification of KRAS exon 2 was followed by direct sequencing.", False),
    ("The TP53 rearrangement was confirmed by amplification of a junction fragment.", False),
    ("Exons 5-8 of TP53 were amplified by nested PCR and sequenced.", False),
    # A gene amplified in the tumour is an increase.
    ("MYC amplification drove proliferation of neuroblastoma cells.", True),
    ("Amplification of the EGFR gene promoted invasion of glioma cells.", True),
])
def test_pcr_amplification_is_a_method(nlp_and_extractors, text, claimed):
    assert bool(claims(run(nlp_and_extractors, text), "pathway")) is claimed


@pytest.mark.parametrize("text,direction", [
    # "EZH2 depletion", like "EZH2 knockdown", is the subject's loss: it inverts the verb after it.
    ("EZH2 depletion increased apoptosis in tumour cells.", "down"),
    ("In glioma cells, STAT3 depletion reduced invasion.", "up"),
])
def test_the_subjects_depletion_inverts_the_relation(nlp_and_extractors, text, direction):
    assert [c.direction for c in claims(run(nlp_and_extractors, text), "pathway")] == [direction]


def test_could_after_we_show_here_is_no_hedge(nlp_and_extractors):
    out = claims(run(nlp_and_extractors, "We show here that EZH2 could activate STAT3 in glioma cells."), "pathway")
    assert [(c.direction, c.hedged) for c in out] == [("up", False)]


@pytest.mark.parametrize("text,predicate,direction", [
    # "Inactivation of X", "inactivating X", "inactivated X": the gene's loss, like "loss of" or "depletion".
    ("Inactivation of TP53 increased tumour growth in mice.", "increased", "down"),
    ("Inactivation of TP53 was necessary for the immortalisation of keratinocytes.", "necessary for", "down"),
    ("In fibroblasts, inactivating TP53 prevented senescence.", "prevented", "up"),
    ("Oxidants inactivated PTEN in breast cancer cells.", "inactivated", "down"),
])
def test_inactivation_is_a_loss(nlp_and_extractors, text, predicate, direction):
    out = claims(run(nlp_and_extractors, text), "pathway")
    assert [(c.predicate, c.direction) for c in out] == [(predicate, direction)]


@pytest.mark.parametrize("text,category,hedged", [
    # A trailing "possibly through X" weighs the relation of what it names, not the finding before it.
    ("Cisplatin reduced tumour growth, possibly through inhibition of STAT3.", "pathway", True),
    ("Cisplatin reduced tumour growth, possibly through inhibition of STAT3.", "therapy", False),
    ("Radiation impaired invasion of glioma cells, suggesting that MYC acts downstream.", "pathway", True),
    # ... up to a clause of its own.
    ("Gefitinib slowed growth at first, probably by blocking EGFR, whereas cisplatin reduced growth later.",
     "therapy", False),
])
def test_a_hedged_aside_hedges_the_claims_it_names(nlp_and_extractors, text, category, hedged):
    out = claims(run(nlp_and_extractors, text), category)
    assert out and all(c.hedged == hedged for c in out)


@pytest.mark.parametrize("text,predicate,direction", [
    # "An inactivated virus", "Inactivated vaccine": a participle naming a kind of agent, not the relation.
    ("Treatment with an inactivated Sendai virus enhanced STING signalling in glioma cells.", "enhanced", "up"),
    ("Inactivated vaccinia virus increased TBK1 phosphorylation in melanoma cells.", "increased", "up"),
    # As the verb, or describing the claim's gene, it is still a loss.
    ("In these tumours TP53 is inactivated in most cells.", "inactivated", "down"),
    ("Melanoma cells with inactivated PTEN showed increased STAT1 expression.", "inactivated", "down"),
])
def test_an_inactivated_agent_is_no_loss(nlp_and_extractors, text, predicate, direction):
    out = claims(run(nlp_and_extractors, text), "pathway")
    assert [(c.predicate, c.direction) for c in out] == [(predicate, direction)]


@pytest.mark.parametrize("text", [
    # The hedge is in a relative clause after the aside's own verb: it weighs what that clause names, not STING.
    "Cisplatin increased IFNB1 expression in ovarian cancer cells, and STING knockdown reduced this effect "
    "in cells that may lack cGAS.",
    "Paclitaxel increased IFNB1 in breast cancer cells, which was abolished by STING knockdown in cells that "
    "possibly lacked IRF3.",
])
def test_a_hedge_in_a_relative_clause_of_an_aside_does_not_hedge_its_subject(nlp_and_extractors, text):
    out = [c for c in claims(run(nlp_and_extractors, text), "pathway") if c.subject == "STING1"]
    assert out and not any(c.hedged for c in out)


def test_a_regulator_named_an_inhibitor_after_a_copula_decreases(nlp_and_extractors):
    "'X emerged as a potent inhibitor of Y': the inhibition is X's relation, not the weak 'potent'."
    found = claims(run(nlp_and_extractors, "EZH2 emerged as a potent inhibitor of T cell infiltration in these tumours."),
                   "pathway")
    assert [(c.subject, c.predicate, c.direction) for c in found] == [("EZH2", "inhibitor of", "down")]
