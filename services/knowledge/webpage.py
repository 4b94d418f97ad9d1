"""The main text of a fetched web page, without navigation, ads or comments.

trafilatura is tuned for recall here: a knowledge base would rather keep a borderline
paragraph than lose the one that answers a question. Pages it cannot parse fall back to a
plain tag-stripped text so a simple page still yields something.
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from errors import Unprocessable

from .extractors.base import clean_text

_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "head", "nav", "footer"}
_BLOCK_TAGS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section",
               "article", "header", "pre", "blockquote", "table", "ul", "ol"}


def extract_main_text(content: bytes | str, url: str) -> tuple[str | None, str]:
    """(title, text) of the page; Unprocessable when it has no readable text."""
    title: str | None = None
    text: str | None = None
    try:
        import trafilatura

        document = trafilatura.bare_extraction(
            content, url=url, favor_recall=True, include_comments=False, with_metadata=True
        )
    except Exception:  # noqa: BLE001 - trafilatura/lxml failing on odd markup is not the user's problem
        document = None
    if document is not None:
        title = getattr(document, "title", None)
        text = getattr(document, "text", None)
    if not text or not text.strip():
        fallback_title, text = strip_tags(content)
        title = title or fallback_title
    text = clean_text(text or "").strip()
    if not text:
        raise Unprocessable("The page has no readable text.", code="unreadable_file")
    title = clean_text(title).strip()[:500] if title else None
    return title or None, text


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(data)


def strip_tags(content: bytes | str) -> tuple[str | None, str]:
    """Tag-stripped text for pages trafilatura rejects."""
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    parser = _TextCollector()
    try:
        parser.feed(content)
        parser.close()
    except Exception:  # noqa: BLE001 - malformed markup yields no fallback text
        return None, ""
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = "\n".join(line for line in lines if line)
    title = " ".join(html.unescape("".join(parser.title)).split()) or None
    return title, re.sub(r"\n{3,}", "\n\n", text)
