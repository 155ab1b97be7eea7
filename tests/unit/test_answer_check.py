"""The output check: personal data leaves no reply; numbers, SQL and run ids stay as they are."""

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
