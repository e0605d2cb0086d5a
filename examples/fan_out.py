"""Fan-out: score 1,000 documents, 50 at a time, tolerating a few bad ones.

``ctx.map`` runs one branch per item as an asyncio task (never more than
``max_concurrency`` in flight) and checkpoints each branch on its own, so a crash in
the middle resumes with only the unfinished items. The completion policy lets the map
finish even though some documents fail, as long as failures stay within 5 %.

Run it locally::

    aiodurable run examples.fan_out:handler --input '{"count": 1000}'
"""

from __future__ import annotations

import hashlib

import msgspec

from aiodurable import CompletionConfig, DurableContext, RetryStrategy, durable_execution


class Batch(msgspec.Struct):
    count: int = 1000
    max_concurrency: int = 50
    #: Every document whose number is a multiple of this is corrupt (0: none).
    corrupt_every: int = 97


class Score(msgspec.Struct):
    document: str
    score: int


class Report(msgspec.Struct):
    scored: int
    failed: list[str]
    completion_reason: str
    top: list[Score]


class CorruptDocumentError(Exception):
    """The document cannot be parsed; retrying will not help."""


async def score_document(document: str, corrupt: bool) -> Score:
    """Stand-in for real work (an API call, an ML model, an image resize …)."""
    if corrupt:
        raise CorruptDocumentError(f"{document} is not valid UTF-8")
    digest = hashlib.sha256(document.encode()).digest()
    return Score(document, digest[0])


#: Only transient errors are worth a retry; a corrupt document fails at once.
RETRY = RetryStrategy(max_attempts=3, initial_delay=2, retryable_errors=(TimeoutError,))


@durable_execution
async def handler(batch: Batch, ctx: DurableContext) -> Report:
    documents = [f"doc-{n:04d}" for n in range(batch.count)]

    async def score(child: DurableContext, document: str, index: int) -> Score:
        corrupt = batch.corrupt_every > 0 and index % batch.corrupt_every == batch.corrupt_every - 1
        return await child.step(score_document, document, corrupt, name="score", retry=RETRY)

    results = await ctx.map(
        documents,
        score,
        name="score-documents",
        max_concurrency=batch.max_concurrency,
        completion=CompletionConfig(tolerated_failure_percentage=5),
        item_namer=lambda document, index: document,
        result_type=Score,
    )
    scores = [score for score in results.get_results() if score is not None]
    failed = [documents[item.index] for item in results.failed()]
    top = sorted(scores, key=lambda s: (-s.score, s.document))[:3]
    return Report(len(scores), failed, results.completion_reason, top)
