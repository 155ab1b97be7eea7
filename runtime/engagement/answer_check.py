"""The output check every reply passes before it leaves /ask: personal data is removed.

The assistant's role cannot read PII (no raw layer, no tokens), so this is the second line: any
e-mail address, phone number, US social security number or PII token (TOKEN_HEX_CHARS hex digits)
that reached an answer or a tool output — from a document, a free-text field, or the model itself
— is replaced by a marker naming what was removed, and the reply counts the removals. Text is
checked in its NFKC form, so fullwidth look-alikes (＠, ０-９) are caught as what they stand for.
"""

import re
import unicodedata

from engagement.tokenize import TOKEN_HEX_CHARS

_NOT_IN_A_WORD = r"(?<![\w.+-])"  # not glued to letters, digits, '.', '+' or '-' before it
_ENDS = r"(?![\w]|[.-]\d)"  # not followed by more of a word or number (a full stop may follow)
_LOCAL_PART = r"(?:\"[^\"\n]{1,64}\"|[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*)"

PATTERNS = {
    "email": re.compile(_LOCAL_PART + r"\s?@\s?[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}"),
    "pii token": re.compile(rf"(?<![0-9A-Fa-f])[0-9a-fA-F]{{{TOKEN_HEX_CHARS}}}(?:[0-9a-fA-F]{{32}})?(?![0-9A-Fa-f])"),
    "social security number": re.compile(_NOT_IN_A_WORD + r"\d{3}([- ])\d{2}\1\d{4}" + _ENDS),
    "phone number": re.compile(_NOT_IN_A_WORD + "(?:" + "|".join((
        r"\+[1-9]\d{0,2}[\s-]?(?:\(\d{1,4}\)[\s-]?)?\d{1,4}(?:[\s-]?\d{2,4}){1,4}",  # international (E.164)
        r"(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}",  # North American, separated
        r"[2-9]\d{9}",  # North American, ten bare digits (area codes never start with 0 or 1)
    )) + ")" + _ENDS),
}
MIN_PHONE_DIGITS = 8


def redacted(reply: dict) -> dict:
    """`reply` with every string checked, and `redactions`: how many values were removed."""
    count = 0

    def _removed(match: re.Match, kind: str) -> str:
        nonlocal count
        if kind == "phone number" and sum(c.isdigit() for c in match.group(0)) < MIN_PHONE_DIGITS:
            return match.group(0)
        count += 1
        return f"[{kind} removed]"

    def clean(value):
        nonlocal count
        if isinstance(value, str):
            value = unicodedata.normalize("NFKC", value)
            for kind, pattern in PATTERNS.items():
                value = pattern.sub(lambda match, kind=kind: _removed(match, kind), value)
            return value
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        return [clean(item) for item in value] if isinstance(value, list) else value

    checked = clean(reply)
    return {**checked, "redactions": count}
