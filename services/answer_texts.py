"""The honest "I don't know", per language (filled in for every language the detector
knows; English when a language is unknown)."""
from __future__ import annotations

NO_ANSWER = {
    "en": "I don't have information about that in my knowledge base.",
    "it": "Non ho informazioni su questo argomento nella mia base di conoscenza.",
    "es": "No tengo información sobre eso en mi base de conocimientos.",
    "fr": "Je n'ai pas d'informations à ce sujet dans ma base de connaissances.",
    "de": "Dazu habe ich keine Informationen in meiner Wissensdatenbank.",
}


def no_answer_text(language: str | None) -> str:
    primary = (language or "en").replace("_", "-").split("-")[0].lower()
    return NO_ANSWER.get(primary, NO_ANSWER["en"])
