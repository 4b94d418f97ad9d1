"""The honest "I don't know" exists, natively written, for every detectable language."""
from __future__ import annotations

from services.answer_texts import NO_ANSWER, no_answer_text
from services.knowledge.language import known_languages

ENGLISH = "I don't have information about that in my knowledge base."
ITALIAN = "Non ho informazioni su questo argomento nella mia base di conoscenza."


def test_every_detectable_language_has_its_own_sentence():
    for code in set(known_languages()) - {"zxx"}:
        assert code in NO_ANSWER, code
        assert no_answer_text(code).strip(), code
        if code != "en":
            assert no_answer_text(code) != ENGLISH, code


def test_italian_and_english_wording_is_exact():
    assert no_answer_text("it") == ITALIAN
    assert no_answer_text("en") == ENGLISH


def test_the_earlier_wording_is_kept():
    earlier = {
        "es": "No tengo información sobre eso en mi base de conocimientos.",
        "fr": "Je n'ai pas d'informations à ce sujet dans ma base de connaissances.",
        "de": "Dazu habe ich keine Informationen in meiner Wissensdatenbank.",
    }
    for code, text in earlier.items():
        assert no_answer_text(code) == text


def test_region_and_script_tags_map_to_their_language():
    assert no_answer_text("it-IT") == ITALIAN
    assert no_answer_text("it_CH") == ITALIAN
    assert no_answer_text("EN-gb") == ENGLISH
    assert no_answer_text("pt-BR") == NO_ANSWER["pt"]
    assert no_answer_text("zh-Hans-CN") == NO_ANSWER["zh"]
    assert no_answer_text("zh-Hant") == no_answer_text("zh-TW") != NO_ANSWER["zh"]
    assert no_answer_text("sr-Latn") != NO_ANSWER["sr"]


def test_no_language_or_an_unknown_one_gets_english():
    for code in (None, "", "zxx", "und", "tlh", "x-klingon"):
        assert no_answer_text(code) == ENGLISH
