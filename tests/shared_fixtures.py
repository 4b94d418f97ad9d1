"""Shared fixtures: real files generated on the fly, and the Anthropic wire fake.

Nothing here mocks our own code. The only fake is at the HTTP wire for Anthropic: the
`anthropic` SDK sends through `httpx2`, which respx does not patch by default, so we
register a respx mocker for httpx2's transport (requests and responses are converted at
the transport boundary, everything above it is the real SDK).
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import httpx2
import pytest
from respx.mocks import AbstractRequestMocker, Mocker

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


class _Httpx2Mocker(AbstractRequestMocker):
    """Lets `respx.mock(using="httpx2")` intercept the anthropic SDK's transport."""

    targets = ["httpx2._transports.default.HTTPTransport"]
    target_methods = ["handle_request"]

    @classmethod
    def to_httpx_request(cls, **kwargs):
        request: httpx2.Request = kwargs["request"]
        return httpx.Request(
            request.method,
            str(request.url),
            headers=list(request.headers.raw),
            content=request.read(),
        )

    @classmethod
    def from_sync_httpx_response(cls, httpx_response, target, **kwargs):
        return httpx2.Response(
            httpx_response.status_code,
            headers=list(httpx_response.headers.raw),
            content=httpx_response.read(),
            request=kwargs["request"],
        )


if "httpx2" not in Mocker.registry:  # registration is global; a re-import must not clash
    type("Httpx2Mocker", (_Httpx2Mocker,), {"name": "httpx2"})


def messages_api_response(text: str, model: str = "claude-haiku-4-5") -> dict:
    """A realistic Anthropic Messages API response body."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 412, "output_tokens": 57},
    }


@pytest.fixture
def anthropic_messages_response() -> Callable[..., dict]:
    return messages_api_response


@pytest.fixture(scope="session")
def font_path() -> str | None:
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def make_pdf() -> Callable[..., bytes]:
    """A real multi-page PDF built with reportlab, one text block per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    def build(
        pages: list[str],
        *,
        encrypt: str | None = None,
        title: str | None = None,
        author: str | None = None,
    ) -> bytes:
        buffer = io.BytesIO()
        pdf = canvas.Canvas(buffer, pagesize=A4, encrypt=encrypt)
        if title:
            pdf.setTitle(title)
        if author:
            pdf.setAuthor(author)
        for body in pages:
            y = 800
            for line in body.splitlines():
                pdf.drawString(72, y, line)
                y -= 18
            pdf.showPage()
        pdf.save()
        return buffer.getvalue()

    return build


@pytest.fixture(scope="session")
def make_text_image(font_path) -> Callable[..., bytes]:
    """An image with large, clear rendered text, in the requested format."""
    from PIL import Image, ImageDraw, ImageFont

    def build(lines: list[str], fmt: str = "PNG", mode: str = "RGB") -> bytes:
        font = (
            ImageFont.truetype(font_path, 40) if font_path else ImageFont.load_default(size=40)
        )
        image = Image.new(mode, (1400, 120 + 70 * len(lines)), "white")
        draw = ImageDraw.Draw(image)
        for index, line in enumerate(lines):
            draw.text((50, 50 + 70 * index), line, fill="black", font=font)
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        return buffer.getvalue()

    return build


@pytest.fixture
def products_json() -> bytes:
    doc = {
        "store": {"name": "Nordic Outfitters", "country": "Norway"},
        "products": [
            {"sku": "TENT-1", "name": "Fjord Tent", "price": 349.0,
             "tags": ["camping", "4-season"], "specs": {"weight_kg": 3.2, "sleeps": 2}},
            {"sku": "BAG-7", "name": "Aurora Sleeping Bag", "price": 189.5, "tags": []},
            {"sku": "STOVE-3", "name": "Glacier Stove", "price": 79.0, "in_stock": False},
        ],
    }
    return json.dumps(doc, indent=2).encode()


@pytest.fixture
def anthropic_http():
    """A respx router over the anthropic SDK's HTTP transport; unmatched calls fail."""
    import respx

    with respx.mock(using="httpx2", assert_all_called=False) as router:
        yield router
