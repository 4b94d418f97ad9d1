"""Sentences of a document, each once: splitting, and undoing the overlap of chunks.

Chunks repeat the tail of their predecessor (see `chunking`) so that a fact on a boundary
stays retrievable; text rebuilt by joining them says those words twice, and a summary
chosen from it repeats sentences. `join_chunks` rebuilds the text when the chunk
boundaries are known; `dedupe_sentences` repairs text whose boundaries are not (two copies
of the same words on either side of a line break), then keeps each sentence once, dropping
near-identical ones and the fragments a hard split leaves behind.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from difflib import SequenceMatcher

from .language import fold

# A sentence ends at ., !, ? (optionally closed by quotes/brackets) + space, or a blank line.
_SENTENCE = re.compile(r"(?<=[.!?…])[\"')\]»”’]*\s+|\n{2,}")
# A single line break also ends one after a heading-like line (short, no end punctuation)
# when the next line starts a new thought; wrapped prose continues in lower case.
_OPEN_END = re.compile(r"[^\s.!?…:;,]$")
_NEW_THOUGHT = re.compile(r"(?:[-•*–]\s|\d+[.)]\s)")
_ENDED = re.compile(r"[.!?…:;][\"')\]»”’]*$")
_TOKEN = re.compile(r"\S+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_HEADING_MAX_CHARS = 80
# Chunk overlaps are 30 words by default; allow generous room for other settings.
MAX_OVERLAP_WORDS = 300
# Shorter repeats are left alone: one or two equal words across a line are often real.
MIN_REPEAT_WORDS = 3
MIN_FRAGMENT_WORDS = 3
TYPO = 0.7  # similarity of two spellings of one word
MIN_NEAR_WORDS = 6


def split_sentences(text: str) -> list[str]:
    """Sentences and heading-like lines, stripped, in order (inner line breaks kept). A
    full stop after a common abbreviation ("Sig.", "ecc.", "e.g.") or an initial does not
    end a sentence."""
    sentences: list[str] = []
    for part in _SENTENCE.split(text or ""):
        if part and part.strip():
            for piece in (s.strip() for s in _split_headings(part)):
                if not piece:
                    continue
                if sentences and _continues(sentences[-1], piece):
                    sentences[-1] = f"{sentences[-1]} {piece}"
                else:
                    sentences.append(piece)
    return sentences


def quoted_sentences(text: str) -> list[str]:
    """Whole sentences with their white space folded, as a reply quotes them and as their
    vectors are stored (services.knowledge.sentence_vectors)."""
    return [" ".join(p.split()) for p in split_sentences(text) if len(p.strip()) > 1]


_ABBREVIATIONS = frozenset(
    "sig sigg dott ing avv prof geom rag arch spett ecc es pag art cap tel fig vol n nr "
    "no mr mrs ms dr st jr sr vs etc e.g i.e approx dept inc ltd co corp ca cfr p.es "
    "s.p.a s.r.l".split())


def _continues(previous: str, piece: str) -> bool:
    if not previous.endswith(".") or "\n" in previous[-2:]:
        return False
    last = previous.rsplit(None, 1)[-1].rstrip(".").lower()
    if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
        return True
    return piece[:1].islower() and len(last) <= 3


def heading_like(line: str, max_words: int | None = None) -> bool:
    """A line that could be a heading: short (at most `max_words` words, when given), and
    no punctuation closes it."""
    head = line.strip()
    return (bool(head) and len(head) <= _HEADING_MAX_CHARS and bool(_OPEN_END.search(head))
            and (max_words is None or len(head.split()) <= max_words))


def ends_sentence(text: str) -> bool:
    """Closing punctuation (a full stop, a colon...) ends the text."""
    return bool(_ENDED.search(text))


def starts_thought(line: str) -> bool:
    """A line that begins something new (capital, bullet or number), not wrapped prose."""
    start = line.lstrip()
    return bool(start) and (start[0].isupper() or bool(_NEW_THOUGHT.match(start)))


def _split_headings(part: str) -> list[str]:
    lines = part.split("\n")
    pieces: list[str] = [lines[0]]
    for previous, line in zip(lines, lines[1:], strict=False):
        if heading_like(previous) and starts_thought(line):
            pieces.append(line)
        else:
            pieces[-1] += "\n" + line
    return pieces


def join_chunks(texts: Iterable[str]) -> str:
    """The document the chunks were cut from, each overlap said once.

    A chunk that starts with the words its predecessor ended with (the overlap) loses
    them; when that leaves the predecessor's last sentence unfinished, the two join with
    a space, otherwise with a line break as before.
    """
    out: list[str] = []
    prev_words: list[str] = []
    for text in texts:
        text = (text or "").strip()
        if not text:
            continue
        tokens = list(_TOKEN.finditer(text))
        words = [t.group() for t in tokens]
        k = _boundary_overlap(prev_words, words, minimum=2)
        if k >= len(words):
            continue  # wholly repeated
        rest = text[tokens[k].start() :] if k else text
        if out:
            unfinished = k and not _ENDED.search(out[-1])
            out.append(" " if unfinished else "\n")
        out.append(rest)
        prev_words = (prev_words + words[k:])[-MAX_OVERLAP_WORDS:]
    return "".join(out)


def _boundary_overlap(before: list[str], after: list[str], *, minimum: int) -> int:
    """The most words that end `before` and also start `after` (0 below `minimum`)."""
    limit = min(len(before), len(after), MAX_OVERLAP_WORDS)
    for k in range(limit, minimum - 1, -1):
        if before[-k:] == after[:k]:
            return k
    return 0


def dedupe_sentences(text: str) -> str:
    """`text` with overlapping repeats removed and every sentence kept once.

    For text made by joining overlapping chunks without knowing where they were cut
    (e.g. "\\n".join of chunk texts). Paragraph breaks survive; each sentence stands where
    it (or the fragment it replaced) first appeared.
    """
    flat: list[str] = []
    paragraph_of: list[int] = []
    for number, paragraph in enumerate(re.split(r"\n{2,}", remove_line_overlaps(text or ""))):
        for sentence in split_sentences(paragraph):
            flat.append(sentence)
            paragraph_of.append(number)
    rebuilt: list[str] = []
    last_paragraph = None
    for place, i in _distinct_order(flat):
        if paragraph_of[place] == last_paragraph:
            # A heading-like line stays on its own line so it is split off again.
            rebuilt[-1] += (" " if _ENDED.search(rebuilt[-1][-8:]) else "\n") + flat[i]
        else:
            rebuilt.append(flat[i])
            last_paragraph = paragraph_of[place]
    return "\n\n".join(rebuilt)


def remove_line_overlaps(text: str) -> str:
    """Drop the second copy of words repeated on either side of a line break.

    "…prepaid shipping label\\nprepaid shipping label to print…" is what joining
    overlapping chunks with a line break produces; the words after the break go.
    """
    tokens = list(_TOKEN.finditer(text))
    if len(tokens) < 2 * MIN_REPEAT_WORDS:
        return text
    words = [t.group() for t in tokens]
    cuts: list[tuple[int, int]] = []
    i = 1
    while i < len(tokens):
        if "\n" not in text[tokens[i - 1].end() : tokens[i].start()]:
            i += 1
            continue
        k = _tandem_repeat(words, i)
        if k:
            end = tokens[i + k].start() if i + k < len(tokens) else len(text)
            cuts.append((tokens[i].start(), end))
            i += k
        else:
            i += 1
    if not cuts:
        return text
    parts, last = [], 0
    for start, end in cuts:
        parts.append(text[last:start])
        last = end
    parts.append(text[last:])
    return "".join(parts).rstrip()


def _tandem_repeat(words: list[str], i: int) -> int:
    """The longest k with words[i-k:i] == words[i:i+k], at least MIN_REPEAT_WORDS."""
    first = words[i]
    low = max(0, i - MAX_OVERLAP_WORDS)
    for j in range(low, i - MIN_REPEAT_WORDS + 1):
        k = i - j
        if words[j] == first and i + k <= len(words) and words[j:i] == words[i : i + k]:
            return k
    return 0


def distinct_sentences(sentences: list[str]) -> list[str]:
    """Each sentence once: no repeats, near-identical twins or overlap fragments.

    Comparison ignores case, accents and punctuation. A sentence whose words are a run
    inside a longer one (the piece of a sentence a chunk boundary cut off) gives way to
    the longer one, which takes the earlier place.
    """
    return [sentences[i] for _place, i in _distinct_order(sentences)]


def _distinct_order(sentences: list[str]) -> list[tuple[int, int]]:
    """(place, index) of the sentences to keep, by place (first appearance).

    Any relation between two sentences means they share the rarer words of the shorter
    one, so each sentence is compared only with kept sentences holding one of its two
    rarest words or whose rarest word it holds: near-linear on long documents.
    """
    norms = [_normal(s) for s in sentences]
    sets = [frozenset(n.split()) for n in norms]
    frequency: Counter[str] = Counter()
    for words in sets:
        frequency.update(words)
    kept: dict[int, int] = {}  # index of a kept sentence → the place it stands at
    by_norm: dict[str, int] = {}
    holding: dict[str, set[int]] = defaultdict(set)  # word → kept sentences with it
    rarest_of: dict[str, set[int]] = defaultdict(set)  # word → kept whose rarest it is
    for i, norm in enumerate(norms):
        if not norm or norm in by_norm:
            continue
        rare = sorted(sets[i], key=lambda w: (frequency[w], w))[:2]
        candidates = set().union(*(holding[w] for w in rare))
        candidates.update(k for w in sets[i] for k in rarest_of.get(w, ()))
        replaced: list[int] = []
        absorbed = False
        for k in sorted(candidates):
            relation = _relation(norm, sets[i], norms[k], sets[k])
            if relation in ("same", "inside"):
                absorbed = True
                break
            if relation == "contains":
                replaced.append(k)
        if absorbed:
            continue
        place = i
        for k in replaced:
            place = min(place, kept.pop(k))
            by_norm.pop(norms[k], None)
            for w in sets[k]:
                holding[w].discard(k)
            rarest_of[_rarest(sets[k], frequency)].discard(k)
        kept[i] = place
        by_norm[norm] = i
        for w in sets[i]:
            holding[w].add(i)
        rarest_of[_rarest(sets[i], frequency)].add(i)
    return sorted((place, i) for i, place in kept.items())


def _rarest(words: frozenset[str], frequency: Counter[str]) -> str:
    return min(words, key=lambda w: (frequency[w], w))


def _relation(a: str, a_set: frozenset[str], b: str, b_set: frozenset[str]) -> str | None:
    """How sentence a stands to sentence b: 'same', 'inside' b, 'contains' b, or None."""
    if a == b:
        return "same"
    if _near_identical(a, b):
        return "same"
    a_len, b_len = a.count(" ") + 1, b.count(" ") + 1
    if a_len < b_len and a_len >= MIN_FRAGMENT_WORDS and f" {a} " in f" {b} ":
        return "inside"
    if b_len < a_len and b_len >= MIN_FRAGMENT_WORDS and f" {b} " in f" {a} ":
        return "contains"
    return None


def _near_identical(a: str, b: str) -> bool:
    """The same words in the same order but for a typo or two ("Itlay", a lost accent).

    An inserted or removed word never counts: "non possono essere restituiti" is not a
    twin of "possono essere restituiti", whatever the overlap of their words.
    """
    a_words, b_words = a.split(), b.split()
    if len(a_words) != len(b_words) or len(a_words) < MIN_NEAR_WORDS:
        return False
    differing = [(x, y) for x, y in zip(a_words, b_words, strict=True) if x != y]
    if len(differing) > max(1, len(a_words) // 10):
        return False
    return all(
        not (x.isdigit() or y.isdigit())
        and abs(len(x) - len(y)) <= 1  # "can"/"cannot" is no typo
        and SequenceMatcher(None, x, y).ratio() >= TYPO
        for x, y in differing
    )


def _normal(sentence: str) -> str:
    return " ".join(fold(w) for w in _WORD.findall(sentence.lower()))
