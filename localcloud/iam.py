"""IAM policy evaluation as AWS documents it, for one account ("Policy evaluation logic", IAM user
guide): identity policies and resource policies, explicit deny first.

A request is a principal, an action, a resource ARN and its context keys. A statement applies when
its action (`Action`/`NotAction`, case-insensitive wildcards), resource (`Resource`/`NotResource`,
case-sensitive wildcards), principal (resource policies: `Principal`/`NotPrincipal`) and every
condition match; a condition whose key the request lacks is false unless its operator ends in
`IfExists` (or is `Null`). Then, within one account:

- an applicable Deny in any policy denies;
- else an applicable Allow in the principal's identity policies, or in the resource's policy
  naming the principal (its ARN, or "*"), allows — except for KMS, where the key policy must
  allow: directly, or by admitting the account (root), which lets identity policies decide;
- else the request is denied implicitly.

Service principals (cloudwatch.amazonaws.com, …) have no identity policies: only resource
policies can allow them. Not modelled: permissions boundaries, session policies, SCPs/RCPs,
policy variables (`${aws:username}`), cross-account access, ABAC tags.
"""

import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

ALLOW, DENY = "Allow", "Deny"


@dataclass(frozen=True)
class Request:
    principal: str  # a role ARN, a service principal (x.amazonaws.com), or an account root ARN
    action: str  # service:Action
    resource: str  # an ARN ("*" for actions without resource-level permissions)
    context: dict = field(default_factory=dict, hash=False)  # key -> str or list of str

    @property
    def is_service(self) -> bool:
        return self.principal.endswith(".amazonaws.com")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "explicit deny", "allowed", "implicit deny", …
    policy: str | None = None  # which policy decided: its name, or "resource policy"
    statement: dict | None = None  # the deciding statement


@dataclass(frozen=True)
class Policy:
    name: str  # for the decision log: "<role>/<inline name>", "bucket policy of x", …
    document: dict


def evaluate(request: Request, identity: list[Policy], resource: Policy | None = None, *,
             key_policy: bool = False) -> Decision:
    """Decide `request` against the principal's identity policies and the resource's policy
    (`key_policy`: the resource policy is a KMS key policy, which must allow)."""
    policies = [*identity, *([resource] if resource else [])]
    for policy in policies:
        for statement in statements(policy.document):
            if statement["Effect"] == DENY and applies(statement, request, policy is resource):
                return Decision(False, "explicit deny", policy.name, statement)
    resource_allow = _first_allow(resource, request, as_resource=True) if resource else None
    identity_allow = None if request.is_service else next(
        (found for policy in identity if (found := _first_allow(policy, request, as_resource=False))), None)
    if key_policy:
        if resource_allow and not _names_only_account(resource_allow[1], request):
            return Decision(True, "allowed by the key policy", resource.name, resource_allow[1])
        if resource_allow and identity_allow:
            return Decision(True, "allowed (the key policy admits the account's identity policies)",
                            identity_allow[0].name, identity_allow[1])
        return Decision(False, "implicit deny: no key policy statement admits the request"
                        if not resource_allow else "implicit deny: no identity policy allows the request")
    if identity_allow:
        return Decision(True, "allowed", identity_allow[0].name, identity_allow[1])
    if resource_allow and not _names_only_account(resource_allow[1], request):
        return Decision(True, "allowed by the resource policy", resource.name, resource_allow[1])
    return Decision(False, "implicit deny: no statement allows the request")


def _first_allow(policy: Policy, request: Request, *, as_resource: bool) -> tuple[Policy, dict] | None:
    for statement in statements(policy.document):
        if statement["Effect"] == ALLOW and applies(statement, request, as_resource):
            return policy, statement
    return None


def _names_only_account(statement: dict, request: Request) -> bool:
    """A resource policy statement whose principal is the account (root): it delegates to the
    account's identity policies rather than allowing a principal itself."""
    if request.is_service:
        return False
    principals = _principal_values(statement.get("Principal"))
    account = _account_of(request.principal)
    return bool(principals) and all(p in (f"arn:aws:iam::{account}:root", account) for p in principals)


def applies(statement: dict, request: Request, as_resource: bool) -> bool:
    return (_matches_action(statement, request.action)
            and _matches_resource(statement, request.resource)
            and (not as_resource or _matches_principal(statement, request))
            and all(condition_holds(operator, key, expected, request.context)
                    for operator, pairs in (statement.get("Condition") or {}).items()
                    for key, expected in pairs.items()))


def _matches_action(statement: dict, action: str) -> bool:
    if "NotAction" in statement:
        return not any(like(pattern.lower(), action.lower()) for pattern in listed(statement["NotAction"]))
    return any(like(pattern.lower(), action.lower()) for pattern in listed(statement.get("Action", [])))


def _matches_resource(statement: dict, resource: str) -> bool:
    if "NotResource" in statement:
        return not any(like(pattern, resource) for pattern in listed(statement["NotResource"]))
    if "Resource" not in statement:  # a resource policy's statement may leave it to the resource
        return True
    return any(like(pattern, resource) for pattern in listed(statement["Resource"]))


def _matches_principal(statement: dict, request: Request) -> bool:
    if "NotPrincipal" in statement:
        return not _principal_named(statement["NotPrincipal"], request)
    return _principal_named(statement.get("Principal"), request)


def _principal_named(principal, request: Request) -> bool:
    if principal == "*":
        return True
    account = _account_of(request.principal)
    for value in _principal_values(principal):
        if value == "*" or value == request.principal:
            return True
        if not request.is_service and value in (f"arn:aws:iam::{account}:root", account):
            return True
    return False


def _principal_values(principal) -> list[str]:
    if principal is None:
        return []
    if isinstance(principal, str):
        return [principal]
    return [value for values in principal.values() for value in listed(values)]


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def statements(document: dict) -> list[dict]:
    return listed(document.get("Statement", []))


@lru_cache(maxsize=4096)
def _pattern(pattern: str) -> re.Pattern:
    """An IAM wildcard (`*` any run, `?` one character; nothing else special) as a regex."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def like(pattern: str, value: str) -> bool:
    return pattern == value or pattern == "*" or bool(_pattern(pattern).fullmatch(value))


# --- conditions ----------------------------------------------------------------------------------

def _number(compare):
    return lambda expected, actual: compare(float(actual), float(expected))


def _date(compare):
    return lambda expected, actual: compare(_when(actual), _when(expected))


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if not value.isdigit() else \
        datetime.fromtimestamp(int(value))


OPERATORS = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringNotEquals": lambda expected, actual: actual != expected,
    "StringEqualsIgnoreCase": lambda expected, actual: actual.lower() == expected.lower(),
    "StringNotEqualsIgnoreCase": lambda expected, actual: actual.lower() != expected.lower(),
    "StringLike": lambda expected, actual: like(expected, actual),
    "StringNotLike": lambda expected, actual: not like(expected, actual),
    "ArnEquals": lambda expected, actual: actual == expected,
    "ArnNotEquals": lambda expected, actual: actual != expected,
    "ArnLike": lambda expected, actual: like(expected, actual),
    "ArnNotLike": lambda expected, actual: not like(expected, actual),
    "Bool": lambda expected, actual: actual.lower() == str(expected).lower(),
    "NumericEquals": _number(lambda a, e: a == e),
    "NumericNotEquals": _number(lambda a, e: a != e),
    "NumericLessThan": _number(lambda a, e: a < e),
    "NumericLessThanEquals": _number(lambda a, e: a <= e),
    "NumericGreaterThan": _number(lambda a, e: a > e),
    "NumericGreaterThanEquals": _number(lambda a, e: a >= e),
    "DateLessThan": _date(lambda a, e: a < e),
    "DateGreaterThan": _date(lambda a, e: a > e),
    "IpAddress": lambda expected, actual: ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False),
    "NotIpAddress": lambda expected, actual: ipaddress.ip_address(actual) not in ipaddress.ip_network(expected,
                                                                                                       strict=False),
}
# A negated operator holds only when no expected value matches (AWS: all must fail to match).
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike",
           "NumericNotEquals", "NotIpAddress"}


class UnsupportedCondition(ValueError):
    """A condition operator the evaluator does not know: the statement cannot be decided."""


def condition_holds(operator: str, key: str, expected, context: dict) -> bool:
    """One condition of a statement against the request's context (keys compare case-insensitively)."""
    actual = _context_values(context, key)
    expected = [str(e).lower() if isinstance(e, bool) else str(e) for e in listed(expected)]
    if operator == "Null":  # "true": the key is absent
        return (not actual) == (expected[0].lower() == "true")
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in OPERATORS:
        raise UnsupportedCondition(f"the local cloud does not evaluate the condition operator {operator}")
    if not actual:
        return if_exists or qualifier == "ForAllValues"
    test = OPERATORS[base]

    def one(value: str) -> bool:
        combine = all if base in NEGATED else any
        return combine(test(e, value) for e in expected)

    if qualifier == "ForAllValues":
        return all(one(value) for value in actual)
    return any(one(value) for value in actual)


def _context_values(context: dict, key: str) -> list[str]:
    for name, value in context.items():
        if name.lower() == key.lower():
            return [str(v) for v in listed(value)] if value is not None else []
    return []


def parse(document) -> dict:
    """A policy document as moto keeps it (a JSON string, maybe URL-quoted) or as a dict; the same
    text gives the same (shared, not to be changed) document."""
    if isinstance(document, dict):
        return document
    return _parsed_text(document.decode() if isinstance(document, bytes) else document)


@lru_cache(maxsize=1024)
def _parsed_text(document: str) -> dict:
    from urllib.parse import unquote

    return json.loads(document if document.lstrip().startswith("{") else unquote(document))

