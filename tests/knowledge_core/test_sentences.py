"""Rebuilding a document from overlapping chunks, and keeping each sentence once."""
from __future__ import annotations

import pytest

from services.knowledge.chunking import chunk_units
from services.knowledge.extractors.base import TextUnit
from services.knowledge.sentences import (
    dedupe_sentences,
    distinct_sentences,
    join_chunks,
    remove_line_overlaps,
    split_sentences,
)

GUIDE = """Resi e rimborsi
Questa guida spiega come restituire gli ordini effettuati sul nostro negozio online. Gli \
ordini possono essere restituiti entro 30 giorni dalla consegna, purché i prodotti siano \
integri e nella confezione originale.
Per avviare un reso, accedi al tuo account, apri la sezione "I miei ordini" e seleziona \
l'ordine che vuoi restituire. Il sistema genera un'etichetta di spedizione prepagata da \
stampare e applicare sul pacco.
Il rimborso viene emesso sullo stesso metodo di pagamento usato per l'acquisto entro 14 \
giorni lavorativi dalla ricezione del reso nel nostro magazzino.
""" + " ".join(f"parola{n}" for n in range(90)) + ". Fine del documento."


def _words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("max_tokens,overlap", [(40, 12), (20, 5), (25, 24), (120, 30)])
def test_join_chunks_gives_back_the_document_once(max_tokens, overlap):
    chunks = chunk_units([TextUnit(GUIDE)], max_tokens=max_tokens, overlap_tokens=overlap)
    assert len(chunks) > 1
    assert _words(join_chunks(c.text for c in chunks)) == _words(GUIDE)


@pytest.mark.parametrize("max_tokens,overlap", [(40, 12), (20, 5), (25, 24)])
def test_dedupe_sentences_repairs_newline_joined_chunks(max_tokens, overlap):
    """Without the boundaries (the old "\\n".join), overlaps are found and removed."""
    chunks = chunk_units([TextUnit(GUIDE)], max_tokens=max_tokens, overlap_tokens=overlap)
    joined = "\n".join(c.text for c in chunks)
    assert len(_words(joined)) > len(_words(GUIDE))
    assert _words(remove_line_overlaps(joined)) == _words(GUIDE)
    assert _words(dedupe_sentences(joined)) == _words(GUIDE)


def test_join_chunks_keeps_separate_units_apart():
    assert join_chunks(["Prima parte.", "Seconda parte.", "", "Terza."]) == (
        "Prima parte.\nSeconda parte.\nTerza."
    )
    assert join_chunks(["uno due tre quattro", "tre quattro cinque."]) == (
        "uno due tre quattro cinque."
    )


def test_distinct_sentences_ignores_case_accents_and_punctuation():
    sentences = ["Il reso è gratuito.", "il reso e GRATUITO!", "Il rimborso arriva presto."]
    assert distinct_sentences(sentences) == ["Il reso è gratuito.", "Il rimborso arriva presto."]


def test_a_fragment_gives_way_to_its_sentence_in_the_earlier_place():
    sentences = [
        "reso è gratuito per tutti",
        "Il rimborso arriva presto.",
        "Entro 30 giorni il reso è gratuito per tutti.",
    ]
    assert distinct_sentences(sentences) == [
        "Entro 30 giorni il reso è gratuito per tutti.",
        "Il rimborso arriva presto.",
    ]


def test_near_twins_merge_but_different_facts_stay():
    twins = ["La garanzia copre due anni dalla consegna del prodotto.",
             "La garanzia copre due anni dalla consgena del prodotto."]
    assert len(distinct_sentences(twins)) == 1
    negated = ["I prodotti personalizzati possono essere restituiti.",
               "I prodotti personalizzati non possono essere restituiti."]
    assert distinct_sentences(negated) == negated
    numbers = ["Il rimborso arriva entro 14 giorni lavorativi dal reso.",
               "Il rimborso arriva entro 30 giorni lavorativi dal reso."]
    assert distinct_sentences(numbers) == numbers


def test_dedupe_sentences_keeps_paragraphs_and_first_appearance():
    text = "Titolo\nPrima frase qui. Seconda frase qui.\n\nPrima frase qui. Terza frase qui."
    assert dedupe_sentences(text) == (
        "Titolo\nPrima frase qui. Seconda frase qui.\n\nTerza frase qui."
    )


def test_split_sentences_separates_headings_and_list_items():
    text = "Come avviare un reso\nAccedi al tuo account. Poi:\n- apri gli ordini\n- scegli"
    assert split_sentences(text) == [
        "Come avviare un reso",
        "Accedi al tuo account.",
        "Poi:\n- apri gli ordini",
        "- scegli",
    ]
    # a wrapped line continues its sentence
    assert split_sentences("Il rimborso viene emesso\nsullo stesso metodo.") == [
        "Il rimborso viene emesso\nsullo stesso metodo."
    ]
