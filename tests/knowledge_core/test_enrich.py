"""Summaries and keywords: local engine, and Anthropic with the wire faked."""
from __future__ import annotations

import json

import httpx

from services.knowledge.enrich import (
    enrich,
    keywords_local,
    parse_enrichment_json,
    summarize_local,
)

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
