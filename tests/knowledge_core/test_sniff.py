"""The kind of an upload comes from its bytes, whatever its name claims."""
from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest

from errors import UnsupportedMediaType
from services.knowledge.sniff import IMAGE_KINDS, detect_kind


def test_real_files_are_recognised(make_pdf, make_text_image, products_json):
    assert detect_kind(make_pdf(["hello"])) == "pdf"
    assert detect_kind(make_text_image(["HI"], "PNG")) == "png"
    assert detect_kind(make_text_image(["HI"], "JPEG")) == "jpeg"
    assert detect_kind(make_text_image(["HI"], "WEBP")) == "webp"
    assert detect_kind(products_json) == "json"
    assert detect_kind(b'[1, 2, {"a": null}]') == "json"
    assert detect_kind(b"name,city,age\nAlice,Paris,31\nBob,Berlin,45\n") == "csv"
    assert detect_kind(b"sku;price\nA-1;3.50\nB-2;4.00\n") == "csv"
    assert detect_kind(b"# Title\n\nSome *markdown* text.\n") == "text"
    assert detect_kind("Plain text, with a comma.\nÆøå – unicode.".encode()) == "text"
    assert set(IMAGE_KINDS) == {"png", "jpeg", "webp"}


def test_utf8_bom_is_accepted():
    assert detect_kind(b"\xef\xbb\xbfHello there") == "text"
    assert detect_kind(b'\xef\xbb\xbf{"a": 1}') == "json"


def test_png_bytes_are_png_whatever_the_name_or_trailer(make_text_image):
    polyglot = make_text_image(["HI"]) + b"\n%PDF-1.4\nname,city\nA,B\n"
    assert detect_kind(polyglot) == "png"


def test_prose_with_commas_and_broken_json_are_text():
    assert detect_kind(b"Hello, world.\nThis is fine.\n") == "text"
    assert detect_kind(b"{not json at all") == "text"
    assert detect_kind(b"| a | b |\n|---|---|\n| 1 | 2 |\n") == "text"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_zip(), id="zip"),
        pytest.param(b"MZ\x90\x00\x03\x00\x00\x00", id="exe"),
        pytest.param(b"\x7fELF\x02\x01\x01", id="elf"),
        pytest.param(b"GIF89a\x01\x00\x01\x00", id="gif"),
        pytest.param(gzip.compress(b"hello"), id="gzip"),
        pytest.param(b"\xff\xfe\xfa\x80 not utf-8 \xc3\x28", id="invalid-utf8"),
        pytest.param(b"text with a NUL\x00 byte", id="nul-bytes"),
        pytest.param(b"", id="empty"),
    ],
)
def test_unsupported_content_is_refused(data):
    with pytest.raises(UnsupportedMediaType) as caught:
        detect_kind(data)
    assert caught.value.code == "unsupported_file_type"
    assert caught.value.status == 415
    assert caught.value.message


def test_deeply_nested_json_is_still_recognised_as_json():
    assert detect_kind(b"[" * 10_000 + b"]" * 10_000) == "json"
    assert json.loads(b"[[1]]") == [[1]]
