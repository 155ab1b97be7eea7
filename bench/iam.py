"""Least privilege, measured: python bench/iam.py [--docs] after `make run`.

Reads the IAM decisions the local cloud recorded for the last run (.localcloud/logs: every call a
role made, allowed or denied, and the roles' policies) and prints, per role, how many of its grants
(one action on one resource pattern of a statement) the run used and how many requests it made;
then every denial. With --docs, the table goes to docs/benchmarks.md. The last line is one JSON
object (decisions, denials, roles, grants, grants_used).
"""

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from localcloud.iam_report import report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=Path, default=REPO / ".localcloud" / "logs")
    parser.add_argument("--docs", action="store_true", help="write the table to docs/benchmarks.md")
    args = parser.parse_args()
    if not (args.logs / "iam.jsonl").is_file():
        sys.exit(f"no IAM decisions in {args.logs}: make run first")
    summary = report(args.logs)
    roles = sorted(summary["roles"].items())
    figures = {"decisions": summary["decisions"], "denials": len(summary["denials"]), "roles": len(roles),
               "grants": sum(usage["grants"] for _, usage in roles),
               "grants_used": sum(usage["used"] for _, usage in roles)}
    rows = [[f"`{role.rsplit('/', 1)[-1]}`", f"{usage['used']} of {usage['grants']}", f"{usage['requests_allowed']:,}"]
            for role, usage in roles]
    for row in rows:
        print("  ".join(row))
    for denial in summary["denials"]:
        print(f"DENIED {denial['principal']} {denial['action']} on {denial['resource']}: {denial['reason']}")
    if args.docs:
        from report import record, table

        record("iam", "python bench/iam.py --docs", (
            f"After `make run`: **{figures['decisions']:,} decisions, {figures['denials']} denials**, "
            f"{figures['roles']} roles; {figures['grants_used']} of {figures['grants']} grants used.\n\n")
            + table(["role", "grants used", "requests allowed"], rows))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
