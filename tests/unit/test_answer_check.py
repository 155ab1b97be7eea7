"""The output check: personal data leaves no reply; numbers, SQL and run ids stay as they are."""

import pytest

from engagement.answer_check import redacted


def test_personal_data_is_removed_wherever_it_is_and_counted():
    reply = {"answer": "Write to ana.lima@example.org or call (415) 555-0134 / +1 212.555.0199; SSN 123-45-6789.",
             "tool_calls": [{"output": {"rows": [["a" * 64, "x"]]}}], "sources": ["s3://kb/runs/r1/doc.md"]}
    checked = redacted(reply)
    assert checked["answer"] == ("Write to [email removed] or call [phone number removed] / [phone number removed]; "
                                 "SSN [social security number removed].")
    assert checked["tool_calls"][0]["output"]["rows"][0][0] == "[pii token removed]"
    assert checked["redactions"] == 5 and checked["sources"] == reply["sources"]


def test_numbers_sql_and_identifiers_pass_untouched():
    answer = ("- quartile 1: 2,500 customers, engagement 0.000 to 0.314\n- 2026-11-23: 1234567890 rows; "
              "expected churners -17.1; run local_20261123_042414_998330490b; CUST-00000042\n"
              "Computed by: SELECT CORR(a, b) FROM engagement_analytics.customer_features LIMIT 200")
    assert redacted({"answer": answer}) == {"answer": answer, "redactions": 0}


@pytest.mark.parametrize(("kind", "text"), [
    ("pii token", "0f" * 16),  # TOKEN_HEX_CHARS hex digits, as tokenize writes them
    ("pii token", "A1" * 32),
    ("email", "josé.núñez@correo.es"),
    ("email", '"john doe"@example.com'),
    ("email", "ana＠example.org"),  # fullwidth at sign
    ("email", "ana.lima@ｅｘａｍｐｌｅ.org"),  # fullwidth letters
    ("phone number", "(555)123-4567"),
    ("phone number", "(555) 123-4567"),
    ("phone number", "5551234567"),
    ("phone number", "+44 20 7946 0958"),
    ("phone number", "+447946095800"),
    ("phone number", "555.123.4567"),
    ("social security number", "123 45 6789"),
    ("social security number", "123-45-6789"),
])
def test_each_format_is_removed(kind, text):
    checked = redacted({"answer": f"Contact: {text}, thanks."})
    assert checked == {"answer": f"Contact: [{kind} removed], thanks.", "redactions": 1}, checked


@pytest.mark.parametrize("text", ["+0.00261", "(+17.1)", "-17.1 sd", "0.3141592653", "20261202", "2026-12-02",
                                  "1,234,567,890", "run local_20261123_042414_998330490b", "CUST-0000004242",
                                  "+12.5%", "3000 customers", "engagement 0.000 to 0.314"])
def test_numbers_the_assistant_writes_are_not_mistaken_for_personal_data(text):
    assert redacted({"answer": text}) == {"answer": text, "redactions": 0}
