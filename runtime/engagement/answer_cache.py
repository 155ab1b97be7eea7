"""Answers to repeated questions about the same published run, from DynamoDB (seed 10.3).

A question is normalised once, before it is answered (`normalised`): the model answers exactly
the text the answer is keyed by, so no two questions the model could read differently share a
key, and the cached reply shows that text, never another caller's wording. Case is kept
(customer ids are case-sensitive). The key is that text and the model that answered it; an answer
is kept per run, so a new publish never serves an answer computed from the previous run. Only
complete answers computed by tools that all ran are kept. Items expire with the prediction cache's.
"""

import hashlib
import json
import re
import time
import unicodedata

from engagement.cache import CACHE_DAYS, TTL_ATTRIBUTE

PARTITION_KEY = "question_id"


def normalised(question: str) -> str:
    """Compatibility forms folded (NFKC: a non-breaking space is a space, a fullwidth letter a
    letter), invisible format characters dropped, every run of whitespace one space, trimmed."""
    folded = "".join(c for c in unicodedata.normalize("NFKC", question) if unicodedata.category(c) != "Cf")
    return re.sub(r"\s+", " ", folded).strip()


def question_id(question: str, model_id: str) -> str:
    """The key of a question already `normalised`: its exact text."""
    return hashlib.sha256(f"{model_id}\n{question}".encode()).hexdigest()


def cached(table, *, run_id: str, question: str, model_id: str) -> dict | None:
    item = table.get_item(Key={PARTITION_KEY: question_id(question, model_id), "run_id": run_id}).get("Item")
    return json.loads(item["reply"]) if item else None


def store(table, *, run_id: str, question: str, model_id: str, reply: dict, now: float | None = None) -> bool:
    """Keep `reply` if it is worth repeating; True if kept."""
    calls = reply["tool_calls"]
    if not reply["complete"] or not calls or any("error" in (call["output"] or {}) for call in calls):
        return False
    table.put_item(Item={PARTITION_KEY: question_id(question, model_id), "run_id": run_id,
                         "reply": json.dumps(reply, default=str),
                         TTL_ATTRIBUTE: int((now or time.time()) + CACHE_DAYS * 86_400)})
    return True
