"""The output check every reply passes before it leaves /ask: personal data is removed.

The assistant's role cannot read PII (no raw layer, no tokens), so this is the second line: any
e-mail address, phone number, US social security number or 64-hex-digit PII token that reached an
answer or a tool output — from a document, a free-text field, or the model itself — is replaced
by a marker naming what was removed, and the reply counts the removals.
"""

import re

PATTERNS = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "pii token": re.compile(r"\b[0-9a-f]{64}\b"),
    "phone number": re.compile(r"(?<![\d.])(?:\+1[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\d.])"),
    "social security number": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
}


def redacted(reply: dict) -> dict:
    """`reply` with every string checked, and `redactions`: how many values were removed."""
    count = 0

    def clean(value):
        nonlocal count
        if isinstance(value, str):
            for kind, pattern in PATTERNS.items():
                value, removed = pattern.subn(f"[{kind} removed]", value)
                count += removed
            return value
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        return [clean(item) for item in value] if isinstance(value, list) else value

    checked = clean(reply)
    return {**checked, "redactions": count}
