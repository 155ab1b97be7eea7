"""`python -m localcloud iam-report`: what each role was granted, what the last run used of it, and
every denial — least privilege measured rather than asserted.

It reads `logs/iam.jsonl` (every decision) and `logs/iam-policies.json` (each role's identity
policies when the cloud stopped). A grant is one action pattern on one resource pattern of one
statement; it was used when an allowed request of the role matched both (and the statement's
conditions held, as the evaluator decided).
"""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from localcloud.iam import like, listed, statements


@dataclass(frozen=True)
class Grant:
    policy: str
    sid: str
    action: str
    resource: str


def grants(policies: dict[str, list[dict]]) -> dict[str, list[Grant]]:
    """role ARN -> its allow grants, from the snapshot of its policies."""
    found = {}
    for role, documents in policies.items():
        found[role] = [Grant(document["name"], statement.get("Sid", str(index)), action, resource)
                       for document in documents
                       for index, statement in enumerate(statements(document["document"]))
                       if statement.get("Effect") == "Allow"
                       for action in listed(statement.get("Action", []))
                       for resource in listed(statement.get("Resource", "*"))]
    return found


def report(log_dir: Path) -> dict:
    decisions = [json.loads(line) for line in (log_dir / "iam.jsonl").read_text().splitlines() if line.strip()]
    policies = json.loads((log_dir / "iam-policies.json").read_text())
    allowed = defaultdict(set)  # role -> {(action, resource)}
    denials = []
    for decision in decisions:
        if decision["decision"] == "allow":
            allowed[decision["principal"]].add((decision["action"], decision["resource"]))
        else:
            denials.append({key: decision[key] for key in ("principal", "action", "resource", "reason")})
    roles = {}
    for role, role_grants in grants(policies).items():
        used = [g for g in role_grants if any(like(g.action.lower(), action.lower()) and like(_text(g.resource), resource)
                                              for action, resource in allowed[role])]
        used_actions = {g.action for g in used}
        roles[role] = {"requests_allowed": sum(1 for d in decisions if d["principal"] == role
                                               and d["decision"] == "allow"),
                       "grants": len(role_grants), "used": len(used),
                       "unused_actions": sorted({g.action for g in role_grants} - used_actions),
                       "unused": [vars(g) for g in role_grants if g not in used]}
    return {"decisions": len(decisions), "denials": denials, "roles": roles,
            "denials_by_action": dict(Counter(d["action"] for d in denials))}


def _text(resource) -> str:
    return resource if isinstance(resource, str) else json.dumps(resource)


def print_report(summary: dict) -> None:
    print(f"IAM decisions: {summary['decisions']:,}; denials: {len(summary['denials'])}")
    for denial in summary["denials"]:
        print(f"  DENIED {denial['principal']} {denial['action']} on {denial['resource']}: {denial['reason']}")
    for role, usage in sorted(summary["roles"].items()):
        print(f"\n{role.rsplit('/', 1)[-1]}: {usage['used']} of {usage['grants']} grants (action on resource) "
              f"used, {usage['requests_allowed']:,} requests allowed")
        if usage["unused_actions"]:
            print("  actions never used: " + ", ".join(usage["unused_actions"]))
        partly = sorted({g["action"] for g in usage["unused"]} - set(usage["unused_actions"]))
        for action in partly:
            resources = [g["resource"] for g in usage["unused"] if g["action"] == action]
            print(f"  {action} never used on: " + ", ".join(r.split(":::")[-1].rsplit(":", 1)[-1] for r in resources))
