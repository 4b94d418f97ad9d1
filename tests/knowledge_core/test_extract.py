"""Every supported kind end to end on real files, plus the hostile ones."""
from __future__ import annotations

import io
import json

import pytest

from errors import Unprocessable, UnsupportedMediaType
from services.knowledge.extract import ExtractLimits, extract, extract_file
from services.knowledge.extractors.jsondoc import nesting_depth


# ----------------------------------------------------------------------------- PDF
def test_pdf_pages_keep_their_page_numbers(make_pdf):
    data = make_pdf(
        [
            "Chapter one: the returns policy allows 30 days.",
            "Chapter two: shipping to Norway takes 4 days.",
            "Chapter three: warranty covers 2 years.",
        ],
        title="Customer Handbook",
        author="Support Team",
    )
    result = extract_file(data)
    assert [unit.provenance for unit in result.units] == [{"page": 1}, {"page": 2}, {"page": 3}]
    assert "returns policy" in result.units[0].text
    assert "Norway" in result.units[1].text
    assert "warranty" in result.units[2].text
    assert result.metadata["page_count"] == 3
    assert result.metadata["title"] == "Customer Handbook"
    assert result.metadata["author"] == "Support Team"
    assert result.metadata["kind"] == "pdf"


def test_pdf_page_cap_truncates_and_says_so(make_pdf):
    data = make_pdf([f"Page number {n} text" for n in range(1, 6)])
    result = extract(data, "pdf", ExtractLimits(max_pdf_pages=2))
    assert [unit.provenance["page"] for unit in result.units] == [1, 2]
    assert result.metadata["truncated"] is True
    assert result.metadata["page_count"] == 5


def test_encrypted_pdf_is_refused_clearly(make_pdf):
    data = make_pdf(["Top secret content"], encrypt="s3cret")
    with pytest.raises(Unprocessable) as caught:
        extract_file(data)
    assert caught.value.code == "unreadable_file"
    assert "encrypted" in caught.value.message


@pytest.mark.parametrize("cut", [0.5, 0.8])
def test_truncated_pdf_is_unprocessable(make_pdf, cut):
    data = make_pdf(["Some text on the first page", "More on the second"])
    broken = data[: int(len(data) * cut)]
    try:
        result = extract(broken, "pdf")
    except Unprocessable as exc:
        assert exc.code == "unreadable_file"
    else:  # pdfminer can recover some truncated files; then what it read must be sane
        assert all(unit.text.strip() for unit in result.units)


def test_pdf_with_broken_xref_and_garbage_is_unprocessable():
    data = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nxref\n0 1\nBROKEN\n%%EOF"
    with pytest.raises(Unprocessable) as caught:
        extract(data, "pdf")
    assert caught.value.code == "unreadable_file"


def test_pdf_without_text_is_unprocessable(make_pdf):
    with pytest.raises(Unprocessable) as caught:
        extract(make_pdf([""]), "pdf")
    assert "no extractable text" in caught.value.message


# ----------------------------------------------------------------------------- CSV
def test_csv_rows_become_column_value_lines_with_row_ranges():
    rows = ["sku,name,price"] + [f"SKU-{n},Widget {n},{n}.99" for n in range(1, 101)]
    result = extract_file("\n".join(rows).encode())
    assert result.metadata["columns"] == ["sku", "name", "price"]
    assert result.metadata["row_count"] == 100
    first = result.units[0]
    assert first.text.startswith("sku: SKU-1\nname: Widget 1\nprice: 1.99")
    ranges = [unit.provenance["rows"] for unit in result.units]
    assert ranges[0][0] == 1 and ranges[-1][1] == 100
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        assert start == end + 1
    assert all(len(unit.text.split()) <= 300 for unit in result.units)
    assert len(result.units) > 1


def test_csv_with_a_10mb_cell_is_truncated_not_fatal():
    data = b"id,notes\n1," + b"x" * (10 * 1024 * 1024) + b"\n2,short note\n"
    result = extract(data, "csv")
    assert result.metadata["truncated_cells"] == 1
    assert result.metadata["row_count"] == 2
    assert max(len(unit.text) for unit in result.units) < 3_000
    assert "short note" in result.units[-1].text


def test_csv_row_cap():
    data = ("a,b\n" + "".join(f"{n},v{n}\n" for n in range(50))).encode()
    result = extract(data, "csv", ExtractLimits(max_csv_rows=10))
    assert result.metadata["row_count"] == 10
    assert result.metadata["truncated"] is True


def test_csv_invalid_utf8_is_refused():
    with pytest.raises(Unprocessable) as caught:
        extract(b"name,city\nJos\xe9,S\xe3o Paulo\n", "csv")
    assert "UTF-8" in caught.value.message


# ---------------------------------------------------------------------------- JSON
def test_nested_json_groups_leaves_per_object(products_json):
    result = extract_file(products_json)
    by_path = {unit.provenance["path"]: unit.text for unit in result.units}
    assert by_path["$.store"] == "store.name: Nordic Outfitters\nstore.country: Norway"
    assert "products[0].name: Fjord Tent" in by_path["$.products[0]"]
    assert "products[0].tags: camping, 4-season" in by_path["$.products[0]"]
    assert by_path["$.products[0].specs"] == (
        "products[0].specs.weight_kg: 3.2\nproducts[0].specs.sleeps: 2"
    )
    assert "products[2].in_stock: false" in by_path["$.products[2]"]
    order = [unit.provenance["path"] for unit in result.units]
    assert order.index("$.products[0]") < order.index("$.products[1]")


def test_json_scalar_root_and_odd_keys():
    assert extract(b'"just a string"', "json").units[0].text == "$: just a string"
    result = extract(json.dumps({"a key": {"x": 1}}).encode(), "json")
    assert result.units[0].provenance == {"path": '$["a key"]'}


def test_json_nested_10000_deep_is_unprocessable_not_recursion_error():
    data = b"[" * 10_000 + b"]" * 10_000
    with pytest.raises(Unprocessable) as caught:
        extract_file(data)
    assert "nested" in caught.value.message
    assert nesting_depth('{"a": "[[[[[[", "b": [1]}') == 2


def test_json_node_cap():
    data = json.dumps([{"n": i} for i in range(100)]).encode()
    with pytest.raises(Unprocessable):
        extract(data, "json", ExtractLimits(max_json_nodes=50))


def test_json_strings_lose_nul_bytes():
    result = extract(b'{"a": "nul\\u0000here"}', "json")
    assert result.units[0].text == "a: nulhere"


# ---------------------------------------------------------------------- text/markdown
MARKDOWN = """Intro paragraph before any heading.

# Install

General install notes.

## Linux

Run the installer with sudo.

```
# not a heading inside a fence
```

## macOS

Drag the app to Applications.

# Usage
Open the app.
"""


def test_markdown_sections_track_heading_path_and_line():
    result = extract_file(MARKDOWN.encode())
    provenance = [unit.provenance for unit in result.units]
    assert provenance == [
        {"line": 1},
        {"line": 3, "heading": "Install"},
        {"line": 7, "heading": "Install > Linux"},
        {"line": 15, "heading": "Install > macOS"},
        {"line": 19, "heading": "Usage"},
    ]
    assert "# not a heading inside a fence" in result.units[2].text
    assert result.metadata["markdown"] is True


def test_text_nul_bytes_are_stripped_and_invalid_utf8_refused():
    result = extract(b"hello\x00 world", "text")
    assert result.units[0].text == "hello world"
    with pytest.raises(Unprocessable) as caught:
        extract(b"caf\xe9 au lait", "text")
    assert caught.value.code == "unreadable_file"


def test_text_cap_truncates():
    result = extract(b"word " * 1000, "text", ExtractLimits(max_text_chars=100))
    assert len(result.units[0].text) <= 100
    assert result.metadata["truncated"] is True


# -------------------------------------------------------------------------- images
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_ocr_reads_rendered_text(make_text_image, fmt):
    data = make_text_image(["INVOICE NUMBER 4471", "TOTAL DUE 250 EUR"], fmt)
    result = extract_file(data)
    text = result.units[0].text.upper()
    assert "INVOICE" in text and "4471" in text
    assert result.units[0].provenance == {"ocr": True}
    assert result.metadata["format"] == fmt
    assert result.metadata["width"] == 1400
    assert result.metadata["mode"] == "RGB"


def test_image_without_text_is_unprocessable():
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buffer, "PNG")
    with pytest.raises(Unprocessable) as caught:
        extract_file(buffer.getvalue())
    assert caught.value.message == "No text could be recognised in the image."


def test_decompression_bomb_png_is_refused_before_decoding():
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, "PNG")
    data = buffer.getvalue()
    assert len(data) < 1_000_000
    with pytest.raises(Unprocessable) as caught:
        extract_file(data)
    assert "too large" in caught.value.message


def test_image_over_our_cap_but_under_pillows_is_refused(make_text_image):
    data = make_text_image(["HELLO"])
    with pytest.raises(Unprocessable) as caught:
        extract(data, "png", ExtractLimits(max_image_pixels=1000))
    assert "too large" in caught.value.message


def test_truncated_png_is_unprocessable(make_text_image):
    data = make_text_image(["HELLO WORLD"])
    with pytest.raises(Unprocessable):
        extract(data[: len(data) // 2], "png")


# --------------------------------------------------------------------------- dispatch
def test_unknown_kind_is_unsupported():
    with pytest.raises(UnsupportedMediaType):
        extract(b"data", "docx")


def test_a_long_pdf_reports_its_progress_page_by_page(make_pdf):
    """Extraction streams pages: a 500-page PDF tells the job how far it got."""
    seen: list[tuple[int, int]] = []
    data = make_pdf([f"Page {n} text about returns." for n in range(1, 26)])
    limits = ExtractLimits(on_page=lambda done, total: seen.append((done, total)))
    out = extract(data, "pdf", limits)
    assert len(out.units) == 25
    assert seen == [(10, 25), (20, 25)]
