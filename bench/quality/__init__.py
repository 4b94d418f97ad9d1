"""Retrieval and answer quality: the product's own search and conversation services beside
plain BM25 and the raw embedding models, on the same data, in one run.

    python -m bench.quality                                 # full: SQuAD-it + SciFact
    python -m bench.quality --datasets it --answers 300     # Italian only
    python -m bench.quality --limit-docs 200 --limit-queries 100 --answers 30   # minutes
    python -m bench.quality --model all-MiniLM-L6-v2        # the product on MiniLM

Data comes from ../shared/eval/ (see its README); a missing set is skipped with a
message. Italian (SQuAD-it): each distinct paragraph is a source, each question a query;
hit@1, hit@5, MRR@10 of the question's own paragraph, and for a seeded sample of
questions posted through the conversation service, the share of replies that contain a
gold answer (case, accents and spaces folded) and cite the right paragraph. English (BEIR
SciFact, train split: 5,183 abstracts, 809 claims): nDCG@10 and Recall@100. References on
the same documents and queries: bm25s (plain, and stemmed for information) and the raw
multilingual-e5-small and all-MiniLM-L6-v2 with exact cosine search; their embeddings are
cached under ~/.cache/companin/bench-quality/. Prints a PASS/MISS line per target, the
ingestion cost (product seconds per chunk, raw encode rate per model on the same chunks)
and the wall time per phase; figures go to bench/out/quality-*.json, and a full run
appends its tables to bench/RESULTS.md.
"""
import os

# Before numpy is imported: threaded BLAS made small products ~50x slower on 2 shared cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from bench.quality.run import cli, main  # noqa: E402

__all__ = ["cli", "main"]
