"""Summaries and keywords: local engine, and Anthropic with the wire faked."""
from __future__ import annotations

import json

import httpx

from services.knowledge.chunking import chunk_units
from services.knowledge.enrich import (
    enrich,
    keywords_local,
    parse_enrichment_json,
    split_sentences,
    summarize_local,
)
from services.knowledge.extractors.base import TextUnit
from services.knowledge.language import analyze, stop_words

MESSAGES_URL = "https://api.anthropic.com/v1/messages"

ARTICLE = """
Solar panels convert sunlight into electricity using photovoltaic cells.
The photovoltaic cells in solar panels are made from silicon.
My neighbour has a red bicycle.
When sunlight hits the silicon cells, electrons move and electricity flows.
Solar panels produce the most electricity at noon on clear days.
The cafeteria serves soup on Tuesdays.
Inverters turn the direct current from solar panels into alternating current for homes.
"""


def test_local_summary_keeps_central_sentences_in_original_order():
    summary = summarize_local(ARTICLE)
    assert "bicycle" not in summary and "cafeteria" not in summary
    sentences = [s.strip() for s in ARTICLE.strip().splitlines()]
    picked = [s for s in sentences if s in summary]
    assert len(picked) == 3
    assert [sentences.index(s) for s in picked] == sorted(sentences.index(s) for s in picked)
    assert len(summary) <= 600


def test_local_summary_caps_length_and_handles_tiny_inputs():
    long_text = " ".join(f"Sentence {n} talks about solar energy and panels." for n in range(200))
    assert len(summarize_local(long_text)) <= 600
    assert summarize_local("Hello") == "Hello"
    assert summarize_local("") == ""
    one_giant = "word " * 1000
    assert len(summarize_local(one_giant)) <= 600


def test_local_keywords_are_lowercase_unique_and_on_topic():
    keywords = keywords_local(ARTICLE, top=5)
    assert 0 < len(keywords) <= 5
    assert all(k == k.lower() for k in keywords)
    assert len(set(keywords)) == len(keywords)
    assert any("solar" in k or "photovoltaic" in k for k in keywords)


def test_local_keywords_for_one_word_and_empty_text():
    assert keywords_local("Kubernetes") == ["kubernetes"]
    assert keywords_local("") == []


def test_enrich_without_key_uses_local_engine():
    result = enrich(ARTICLE, anthropic_api_key=None, model="claude-haiku-4-5")
    assert result.engine == "local"
    assert result.summary and result.keywords
    assert result.fallback_reason is None


def test_enrich_with_key_asks_anthropic_for_json(anthropic_http, anthropic_messages_response):
    reply = json.dumps({"summary": "Solar panels turn sunlight into power.",
                        "keywords": ["Solar Panels", "photovoltaic", "solar panels"]})
    route = anthropic_http.post(MESSAGES_URL).mock(
        return_value=httpx.Response(200, json=anthropic_messages_response(
            f"Here you go:\n```json\n{reply}\n```"))
    )
    result = enrich(ARTICLE, anthropic_api_key="sk-ant-x", model="claude-haiku-4-5")
    assert result.engine == "anthropic"
    assert result.model == "claude-haiku-4-5"
    assert result.summary == "Solar panels turn sunlight into power."
    assert result.keywords == ["solar panels", "photovoltaic"]
    body = json.loads(route.calls.last.request.content)
    assert body["model"] == "claude-haiku-4-5"
    assert "JSON" in body["system"]
    assert "photovoltaic cells" in body["messages"][0]["content"]


def test_enrich_falls_back_to_local_on_malformed_output(
    anthropic_http, anthropic_messages_response
):
    anthropic_http.post(MESSAGES_URL).mock(
        return_value=httpx.Response(200, json=anthropic_messages_response("Sure! It's about sun."))
    )
    result = enrich(ARTICLE, anthropic_api_key="sk-ant-y", model="claude-haiku-4-5")
    assert result.engine == "local"
    assert result.fallback_reason == "llm returned malformed output"
    assert result.summary == summarize_local(ARTICLE)


def test_enrich_falls_back_to_local_when_the_api_fails(anthropic_http):
    anthropic_http.post(MESSAGES_URL).mock(return_value=httpx.Response(
        400, json={"type": "error",
                   "error": {"type": "invalid_request_error", "message": "bad model"}}))
    result = enrich("Tiny", anthropic_api_key="sk-ant-z", model="nope")
    assert result.engine == "local"
    assert result.summary == "Tiny"
    assert result.fallback_reason.startswith("llm unavailable")


def test_parse_enrichment_json_is_defensive():
    assert parse_enrichment_json("no json") is None
    assert parse_enrichment_json('{"summary": "", "keywords": []}') is None
    assert parse_enrichment_json('{"summary": "x", "keywords": "a, B"}') == ("x", ["a", "b"])
    assert parse_enrichment_json('[1, 2]') is None
    assert parse_enrichment_json('{"summary": "x", "keywords": [1, "k"]}') == ("x", ["k"])


# ------------------------------------------------------------------ any language
ITALIAN_GUIDE = """Guida ai resi e ai rimborsi

Questa guida spiega come restituire gli ordini acquistati sul nostro negozio online e come \
ottenere il rimborso. Gli ordini possono essere restituiti entro 30 giorni dalla consegna, \
purché i prodotti siano integri e nella confezione originale.

Come avviare un reso
Per avviare un reso accedi al tuo account, apri la sezione "I miei ordini" e seleziona \
l'ordine che vuoi restituire. Indica il motivo del reso e scegli se preferisci il rimborso \
o la sostituzione del prodotto. Il sistema genera un'etichetta di spedizione prepagata da \
stampare e applicare sul pacco. Puoi consegnare il pacco in qualsiasi punto di ritiro del \
corriere oppure prenotare il ritiro a domicilio.

Tempi del rimborso
Il rimborso viene emesso sullo stesso metodo di pagamento usato per l'acquisto entro 14 \
giorni lavorativi dalla ricezione del reso nel nostro magazzino. Se hai pagato con carta di \
credito, l'accredito può richiedere qualche giorno in più a seconda della banca. Per i \
pagamenti con PayPal il rimborso è di solito visibile entro 48 ore. Riceverai un'email di \
conferma quando il rimborso sarà stato emesso.

Prodotti esclusi dal reso
I prodotti personalizzati, le carte regalo e i prodotti igienici aperti non possono essere \
restituiti. Gli ordini con prodotti esclusi possono comunque essere restituiti per gli \
altri articoli presenti nello stesso ordine.

Prodotti difettosi e garanzia
Per i prodotti difettosi la garanzia legale copre due anni dalla consegna. Contatta \
l'assistenza clienti allegando una foto del difetto e il numero dell'ordine: ti invieremo \
un prodotto sostitutivo oppure il rimborso completo, comprese le spese di spedizione. La \
garanzia non copre i danni causati da un uso improprio del prodotto.

Spese di spedizione del reso
Il reso è gratuito per gli ordini spediti in Italia. Per gli ordini spediti all'estero le \
spese di spedizione del reso sono a carico del cliente, salvo il caso di prodotti \
difettosi o di errori nella spedizione.

Contatti
Questa guida viene aggiornata regolarmente. Per qualsiasi dubbio sugli ordini, scrivi \
all'assistenza clienti entro l'orario di apertura, dal lunedì al venerdì dalle 9 alle 18. \
L'assistenza clienti risponde di solito entro un giorno lavorativo.
"""

ENGLISH_GUIDE = """Returns and refunds

This guide explains how to return orders placed in our online store. Orders can be \
returned within 30 days of delivery, as long as the products are intact and in their \
original packaging. To start a return, sign in to your account, open the "My orders" \
section and select the order you want to return. The system generates a prepaid shipping \
label that you print and stick on the parcel. The refund is issued to the same payment \
method used for the purchase within 14 business days after the return reaches our \
warehouse. If you paid by credit card, the credit may take a few more days depending on \
your bank. Defective products are covered by the two-year legal warranty: contact \
customer support and attach a photo of the defect. For any question about orders, write \
to customer support during opening hours, Monday to Friday from 9 am to 6 pm.
"""


def _overlapping_chunk_text(text: str, max_tokens: int = 45, overlap_tokens: int = 15) -> str:
    """What the pipeline used to enrich: chunk texts (which overlap) joined by newlines."""
    chunks = chunk_units([TextUnit(text)], max_tokens=max_tokens, overlap_tokens=overlap_tokens)
    return "\n".join(chunk.text for chunk in chunks)


def _assert_clean_keywords(keywords: list[str], lang: str) -> None:
    stop = stop_words(lang)
    for keyword in keywords:
        tokens = keyword.split()
        assert keyword == keyword.lower()
        assert keyword not in stop, keyword
        assert tokens[0] not in stop and tokens[-1] not in stop, keyword
        assert any(ch.isalpha() for ch in tokens[0]), keyword
        assert len(tokens[0]) > 2 and len(tokens[-1]) > 2, keyword
    stems = [tuple(sorted(analyze(k, lang, drop_stop_words=True))) for k in keywords]
    assert len(set(stems)) == len(stems), f"two keywords share their stems: {keywords}"


def test_italian_keywords_are_topics_not_filler():
    keywords = keywords_local(ITALIAN_GUIDE)
    assert 5 <= len(keywords) <= 10
    _assert_clean_keywords(keywords, "it")
    for filler in ("questa guida", "gli ordini", "entro", "questa", "gli", "di solito"):
        assert filler not in keywords
    assert not any(k.startswith(("questa ", "gli ", "entro ", "il ", "la ")) for k in keywords)
    topics = {"rimborso", "reso", "ordini", "garanzia", "spedizione", "prodotti difettosi",
              "prodotti", "assistenza clienti"}
    assert len(topics & set(keywords)) >= 4, keywords
    # one keyword per stem: "ordine"/"ordini", "reso"/"resi" never both
    assert not {"ordine", "ordini"} <= set(keywords)
    assert not {"reso", "resi"} <= set(keywords)


def test_italian_keywords_from_overlapping_chunks_match_the_clean_text():
    assert keywords_local(_overlapping_chunk_text(ITALIAN_GUIDE)) == keywords_local(
        ITALIAN_GUIDE
    )
    assert keywords_local(ITALIAN_GUIDE, language="it-IT") == keywords_local(ITALIAN_GUIDE)


def test_english_keywords_stay_on_topic_and_clean():
    keywords = keywords_local(ENGLISH_GUIDE)
    _assert_clean_keywords(keywords, "en")
    assert {"refund", "return", "customer support", "credit card"} & set(keywords)
    assert not {"this guide", "the refund", "within", "orders can"} & set(keywords)
    _assert_clean_keywords(keywords_local(ARTICLE), "en")


def test_keywords_drop_numbers_elisions_and_fragments():
    text = ("L'ordine 4471 arriva in 3 giorni. L'ordine si traccia dall'app. Il 30% degli "
            "ordini arriva in 2 giorni. Gli ordini all'estero arrivano in 7 giorni.")
    keywords = keywords_local(text, language="it")
    _assert_clean_keywords(keywords, "it")
    assert "l'ordine" not in keywords and "4471" not in keywords
    assert any(k.split()[0] in {"ordine", "ordini"} for k in keywords)


def test_summary_of_overlapping_chunks_repeats_no_sentence():
    joined = _overlapping_chunk_text(ITALIAN_GUIDE)
    assert len(joined) > len(ITALIAN_GUIDE) * 1.2  # the overlaps really are there
    for sentences in (3, 5):
        summary = summarize_local(joined, sentences=sentences)
        picked = split_sentences(summary)
        normalized = [" ".join(s.lower().split()) for s in picked]
        assert len(set(normalized)) == len(normalized), summary
        for a in normalized:
            assert not any(a != b and a in b for b in normalized), summary
        flat_source = " ".join(ITALIAN_GUIDE.split())
        assert all(s.rstrip("…") in flat_source for s in picked), summary  # the cap cuts
        assert len(summary) <= 600


def test_summary_drops_repeats_near_twins_and_overlap_fragments():
    text = (
        "The warranty covers two years from delivery. "
        "Returns are free of charge for every order shipped to Italy. "
        "the warranty covers two years from delivery! "
        "Returns are free of charge for every order shipped to Itlay. "
        "shipped to Italy. "
        "Refunds reach the card within fourteen business days. "
        "Refunds reach the card within fourteen business days. "
        "Personalised products can be returned for a refund. "
        "Personalised products cannot be returned for a refund."
    )
    summary = summarize_local(text, sentences=6)
    assert summary.lower().count("warranty covers") == 1  # case and punctuation aside
    assert summary.count("Refunds reach") == 1  # verbatim repeat
    assert summary.count("shipped to It") == 1  # a typo twin and an overlap fragment
    # a word more is a different statement, however many words are shared
    assert "can be returned" in summary and "cannot be returned" in summary


def test_enrich_asks_the_llm_in_the_documents_language(
    anthropic_http, anthropic_messages_response
):
    reply = json.dumps({"summary": "I resi sono gratuiti entro 30 giorni.",
                        "keywords": ["Resi", "rimborso", "gli ordini", "resi"]})
    route = anthropic_http.post(MESSAGES_URL).mock(
        return_value=httpx.Response(200, json=anthropic_messages_response(reply)))
    result = enrich(_overlapping_chunk_text(ITALIAN_GUIDE), anthropic_api_key="sk-ant-x",
                    model="claude-haiku-4-5")
    body = json.loads(route.calls.last.request.content)
    assert "language the document is written in" in body["system"]
    prompt = body["messages"][0]["content"]
    assert "Language of the document (ISO 639-1): it" in prompt
    assert prompt.count("Il sistema genera un'etichetta di spedizione prepagata") == 1
    assert result.language == "it"
    assert result.keywords == ["resi", "rimborso"]  # stem-unique, no article-led phrase


def test_enrich_local_engine_reports_the_language():
    result = enrich(ITALIAN_GUIDE, anthropic_api_key=None, model="m")
    assert result.language == "it"
    assert result.keywords == keywords_local(ITALIAN_GUIDE)
    english = enrich(ENGLISH_GUIDE, anthropic_api_key=None, model="m", language="en-GB")
    assert english.language == "en"
