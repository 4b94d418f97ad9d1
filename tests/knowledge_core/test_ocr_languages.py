"""Images are read with the Tesseract packs of the organization's languages."""
from __future__ import annotations

import logging

import pytest

from services.knowledge.extract import ExtractLimits, extract
from services.knowledge.extractors.ocr_languages import (
    installed_languages,
    tesseract_code,
    tesseract_languages,
)

INSTALLED = frozenset({"eng", "ita", "deu", "chi_tra", "osd"})


def test_iso_codes_and_tags_map_to_installed_packs_in_order():
    assert tesseract_languages(["it", "en"], INSTALLED) == "ita+eng"
    assert tesseract_languages(["en", "it-IT", "it"], INSTALLED) == "eng+ita"
    assert tesseract_languages(["de_DE", "zh-Hant"], INSTALLED) == "deu+chi_tra"
    assert tesseract_languages(["ita", "eng"], INSTALLED) == "ita+eng"  # pack names too


def test_missing_or_unknown_languages_are_skipped_with_a_log_line(caplog):
    with caplog.at_level(logging.INFO, logger="services.knowledge.extractors.ocr_languages"):
        assert tesseract_languages(["fr", "it", "xx", "osd"], INSTALLED) == "ita"
    assert "'fra', not installed" in caplog.text
    assert "'xx' is not one Tesseract knows" in caplog.text
    assert tesseract_languages(["fr", "xx"], INSTALLED) == "eng"  # English by default
    assert tesseract_languages([], INSTALLED) == "eng"
    assert tesseract_languages(["it"], frozenset()) is None  # Tesseract's own default


def test_tesseract_codes_for_common_languages():
    expected = {"it": "ita", "en": "eng", "de": "deu", "fr": "fra", "es": "spa",
                "pt-BR": "por", "zh": "chi_sim", "zh-TW": "chi_tra", "sr-Latn": "srp_latn",
                "nb": "nor", "vec": "ita"}
    assert {tag: tesseract_code(tag) for tag in expected} == expected
    assert tesseract_code("tlh") is None


def test_this_server_has_english_and_italian_packs():
    assert {"eng", "ita"} <= installed_languages()


@pytest.fixture
def italian_image(make_text_image, font_path):
    if font_path is None:
        pytest.skip("no TrueType font (DejaVu/Liberation) installed to render accented text")
    return make_text_image([
        "Perché il reso è gratuito?",
        "La qualità è più alta: però",
        "il rimborso arriverà entro lunedì.",
        "Caffè, città, virtù, così.",
    ])


def test_italian_scan_is_read_with_the_italian_pack(italian_image):
    result = extract(italian_image, "png", ExtractLimits(ocr_languages=("it", "en")))
    assert result.metadata["ocr_languages"] == "ita+eng"
    text = result.units[0].text
    for word in ("Perché", "è", "qualità", "più", "però", "arriverà", "lunedì", "città",
                 "virtù", "così"):
        assert word in text, (word, text)


def test_default_is_english_and_a_missing_pack_never_fails(italian_image):
    assert extract(italian_image, "png").metadata["ocr_languages"] == "eng"
    result = extract(italian_image, "png", ExtractLimits(ocr_languages=("tlh", "en")))
    assert result.metadata["ocr_languages"] == "eng"
    assert "rimborso" in result.units[0].text
