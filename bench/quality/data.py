"""The evaluation sets, read from ../shared/eval/ (never copied into the repository).

Both become one shape: documents (what is uploaded as a knowledge source), queries with
graded relevance judgments, and for question answering the gold answer strings.
Identical SQuAD-it paragraphs are merged into one document, as the product merges
identical uploads into one source.
"""
from __future__ import annotations

import csv
import gzip
import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.common import REPO_DIR

DEFAULT_EVAL_DIR = REPO_DIR.parent / "shared" / "eval"
SQUAD_FILE = "squad-it-dev.json.gz"
SCIFACT_DIR = "scifact-dev"


@dataclass(frozen=True)
class Doc:
    id: str
    text: str  # exactly what is uploaded and what the references index
    title: str | None = None


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    relevant: dict[str, int]  # doc id -> grade (> 0)
    answers: tuple[str, ...] = ()


@dataclass
class Dataset:
    key: str  # "it" | "en"
    name: str
    language: str
    docs: list[Doc]
    queries: list[Query]
    notes: list[str] = field(default_factory=list)

    @property
    def doc_ids(self) -> set[str]:
        return {d.id for d in self.docs}


class Missing(Exception):
    """The evaluation file is not on this machine; the dataset is skipped."""


def load_squad_it(eval_dir: Path) -> Dataset:
    path = Path(eval_dir) / SQUAD_FILE
    if not path.exists():
        raise Missing(f"{path} not found: the Italian (SQuAD-it) part is skipped")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        raw = json.load(fh)
    docs: list[Doc] = []
    by_text: dict[str, str] = {}
    queries: list[Query] = []
    merged = 0
    for article in raw["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            doc_id = by_text.get(context)
            if doc_id is None:
                doc_id = by_text[context] = f"p{len(docs):04d}"
                docs.append(Doc(doc_id, context))
            else:
                merged += 1
            for qa in paragraph["qas"]:
                golds = tuple(dict.fromkeys(a["text"] for a in qa["answers"] if a["text"]))
                queries.append(Query(qa["id"], qa["question"], {doc_id: 1}, golds))
    notes = [f"{merged} duplicate paragraph(s) merged into one document"] if merged else []
    return Dataset("it", "SQuAD-it (squad-it-dev)", "it", docs, queries, notes)


def load_scifact(eval_dir: Path) -> Dataset:
    folder = Path(eval_dir) / SCIFACT_DIR
    files = [folder / "corpus.jsonl.gz", folder / "queries-train.jsonl",
             folder / "qrels-train.tsv"]
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        raise Missing(f"{', '.join(absent)} not found: the English (SciFact) part is skipped")
    docs = []
    with gzip.open(files[0], "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                title, text = (row.get("title") or "").strip(), (row.get("text") or "").strip()
                body = f"{title}\n{text}" if title else text
                docs.append(Doc(str(row["_id"]), body, title[:300] or None))
    qrels: dict[str, dict[str, int]] = {}
    with files[2].open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # the header line
            if int(row[2]) > 0:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = []
    with files[1].open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                qid = str(row["_id"])
                if qid in qrels:
                    queries.append(Query(qid, row["text"], qrels[qid]))
    return Dataset("en", "BEIR SciFact, train split", "en", docs, queries)


LOADERS = {"it": load_squad_it, "en": load_scifact}


def subset(data: Dataset, *, limit_docs: int | None, limit_queries: int | None,
           seed: int) -> Dataset:
    """A seeded smaller version: questions first (a random sample), then every document
    they need, then random distractors up to `limit_docs`. A question whose documents
    would overflow `limit_docs` is passed over, so the budget holds."""
    if not limit_docs and not limit_queries:
        return data
    rng = random.Random(seed)
    known = data.doc_ids
    order = list(data.queries)
    rng.shuffle(order)
    kept: list[Query] = []
    needed: set[str] = set()
    for query in order:
        if limit_queries and len(kept) >= limit_queries:
            break
        rel = set(query.relevant) & known
        if not rel:
            continue
        if limit_docs and len(needed | rel) > limit_docs:
            continue
        kept.append(query)
        needed |= rel
    others = [d.id for d in data.docs if d.id not in needed]
    rng.shuffle(others)
    room = max(0, (limit_docs or len(data.docs)) - len(needed))
    chosen = needed | set(others[:room])
    docs = [d for d in data.docs if d.id in chosen]
    kept_ids = {q.id for q in kept}
    queries = [q for q in data.queries if q.id in kept_ids]  # file order, not sample order
    note = (f"limited run: {len(queries)} of {len(data.queries)} queries (seed {seed}), "
            f"{len(docs)} of {len(data.docs)} documents ({len(needed)} judged relevant "
            f"to them + {len(docs) - len(needed)} distractors)")
    return replace(data, docs=docs, queries=queries, notes=[*data.notes, note])
