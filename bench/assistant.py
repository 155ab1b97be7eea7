"""The assistant over the seed's 40 questions: python bench/assistant.py [--predict-requests 2000]

    python bench/assistant.py --eval   # the planner over its evaluation set; no cloud needed

`--eval` maps every question of planner/eval_set.py (the seed's 40, paraphrases and new kinds) to
the plan the local planner reads, compares it with the expected plan and prints the accuracy by
kind, then every miss, then one JSON object (`questions`, `correct`, `accuracy`, `by_kind`).

Against a serving local cloud with a published run (`python -m engagement_cli run --rows 100000
--serve` in another terminal): every question of planner/seed_questions.py asked once through
POST /ask (SigV4-signed, over HTTP: the assistant Lambda, its Converse loop with the local
stand-in model, its tools), then the /predict latency as bench/predict_api.py measures it.

A question counts as answered when the loop finished within its bounds, at least one tool ran
without error and the answer is not a refusal. Prints per-category counts and latencies; the
last line is one JSON object with `questions`, `answered`, `seconds_total`, `ask_p50_ms`,
`ask_mean_ms`, `from_answer_cache` (questions answered from the answer cache: asked before for this
run), `predict_p50_ms`, `predict_p99_ms` and `by_category`. `--answers FILE` writes
every reply (question, answer, tool calls, sources) as JSON.
"""

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from localcloud.session import SERVER, credentials, route_url  # noqa: E402
from localcloud.rest_apis import call  # noqa: E402
from planner.seed_questions import SEED_QUESTIONS  # noqa: E402
from predict_api import predict_latency  # noqa: E402


def answered(status: int, reply: dict) -> bool:
    tools_ok = reply.get("tool_calls") and not any("error" in (c.get("output") or {}) for c in reply["tool_calls"])
    refused = re.match(r"I cannot answer|The \w+ tool could not answer", reply.get("answer", ""))
    return status == 200 and bool(reply.get("complete")) and bool(tools_ok) and not refused


def evaluate() -> dict:
    from planner.eval_set import evaluation_set, matches
    from planner.intents import plan_for

    by_kind: dict[str, dict[str, int]] = {}
    misses = []
    for kind, question, expected in evaluation_set():
        plan = plan_for(question)
        reading = plan.reading if plan else None
        counts = by_kind.setdefault(kind, {"questions": 0, "correct": 0})
        counts["questions"] += 1
        if matches(reading, expected):
            counts["correct"] += 1
        else:
            misses.append((kind, question, expected, reading))
    for kind, counts in by_kind.items():
        share = counts["correct"] / counts["questions"]
        print(f"{kind:36} {counts['correct']:3}/{counts['questions']:<3} {share:6.1%}")
    total, correct = sum(c["questions"] for c in by_kind.values()), sum(c["correct"] for c in by_kind.values())
    print(f"{'all':36} {correct:3}/{total:<3} {correct / total:6.1%}")
    for kind, question, expected, reading in misses:
        print(f"MISS [{kind}] {question!r}: expected {expected}, read {reading}")
    return {"benchmark": "assistant-eval", "questions": total, "correct": correct,
            "accuracy": round(correct / total, 4), "by_kind": by_kind}


def record_evaluation(figures: dict) -> None:
    from report import record, table

    rows = [[kind, f"{c['correct']}/{c['questions']}", f"{c['correct'] / c['questions']:.1%}"]
            for kind, c in figures["by_kind"].items()]
    rows.append(["**all**", f"**{figures['correct']}/{figures['questions']}**", f"**{figures['accuracy']:.1%}**"])
    record("assistant-eval", "python bench/assistant.py --eval --docs", table(["kind", "correct", "accuracy"], rows))


def record_latency(ask: dict, predict: dict) -> None:
    from report import record, table

    record("assistant-latency", "python bench/assistant.py --docs", "Against `python -m engagement_cli run --rows "
           "100000 --serve`.\n\n" + table(["API", "requests", "answered", "p50 ms", "mean / p99 ms", "max ms"], [
               ["POST /ask (the seed's questions)", ask["questions"], ask["answered"], ask["ask_p50_ms"],
                ask["ask_mean_ms"], ask["ask_max_ms"]],
               ["POST /predict (sequential)", predict["requests"], predict["ok"], predict["predict_p50_ms"],
                predict["predict_p99_ms"], predict["predict_max_ms"]]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", action="store_true", help="score the planner on its evaluation set and stop")
    parser.add_argument("--docs", action="store_true", help="write the table to docs/benchmarks.md")
    parser.add_argument("--predict-requests", type=int, default=2_000)
    parser.add_argument("--customers", type=int, default=1_000, help="/predict ids CUST-00000001 … in turn")
    parser.add_argument("--answers", type=Path, help="write every reply here as JSON")
    args = parser.parse_args()
    if args.eval:
        figures = evaluate()
        if args.docs:
            record_evaluation(figures)
        print(json.dumps(figures))
        return
    url, signer = route_url(REPO / SERVER, "/ask"), credentials(REPO / SERVER)
    call(url, "POST", {"question": "How many users are in each engagement quartile?"}, signed=signer)  # warm worker
    replies, seconds, by_category = [], [], {}
    for category, questions in SEED_QUESTIONS.items():
        done = 0
        for question in questions:
            started = time.perf_counter()
            status, reply = call(url, "POST", {"question": question}, signed=signer)
            seconds.append(time.perf_counter() - started)
            done += answered(status, reply)
            replies.append({"category": category, "status": status, "seconds": round(seconds[-1], 3), **reply})
        by_category[category] = {"questions": len(questions), "answered": done}
        print(f"{category:32} {done}/{len(questions)} answered")
    total = sum(len(questions) for questions in SEED_QUESTIONS.values())
    figures = {"benchmark": "assistant", "questions": total,
               "answered": sum(c["answered"] for c in by_category.values()),
               "seconds_total": round(sum(seconds), 2), "ask_p50_ms": round(statistics.median(seconds) * 1000, 1),
               "ask_mean_ms": round(statistics.mean(seconds) * 1000, 1),
               "ask_max_ms": round(max(seconds) * 1000, 1),
               "from_answer_cache": sum(bool(reply.get("cached")) for reply in replies)}
    print(f"POST /ask: {figures['answered']}/{total} answered in {figures['seconds_total']} s "
          f"({figures['from_answer_cache']} from the answer cache); p50 {figures['ask_p50_ms']} ms, mean "
          f"{figures['ask_mean_ms']} ms, max {figures['ask_max_ms']} ms")
    predict = predict_latency(args.predict_requests, args.customers)
    if args.answers:
        args.answers.write_text(json.dumps(replies, indent=2))
    if args.docs:
        record_latency(figures, predict)
    print(json.dumps({**figures, "predict_p50_ms": predict["predict_p50_ms"],
                      "predict_p99_ms": predict["predict_p99_ms"], "by_category": by_category}))


if __name__ == "__main__":
    main()
