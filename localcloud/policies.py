"""S3 bucket policies as AWS evaluates them, for requests to the local endpoint.

moto enforces bucket policies, but a statement whose condition does not hold *denies* (on AWS it
does not apply), it evaluates only `StringEquals`, and it treats any other condition, and any
whose key the request lacks, as met. Every bucket here denies insecure transport and old TLS,
so no object could be written once its policy exists. `install()` evaluates statements as AWS
does: a statement applies only when its action, principal, resource and every condition match
(conditions decided by iam.py, the local cloud's one evaluator: a key the request lacks makes a
condition false unless the operator ends in IfExists); and it gives every request the context of
the channel it came on.

The endpoint is plain HTTP on loopback, where no network carries the bytes: requests count as
TLS 1.3, so a policy denying insecure transport or old TLS denies what it denies on AWS, no more.
"""

from localcloud import iam

LOOPBACK_REQUEST = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


def install() -> None:
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    def conditions_hold(statement: dict, incoming: dict[str, str] | None) -> bool:
        return all(iam.condition_holds(operator, key, expected, incoming or {})
                   for operator, pairs in (statement.get("Condition") or {}).items()
                   for key, expected in pairs.items())

    def is_action_permitted(self, action: str, resource: str = "*", principal: str | None = None,
                            incoming_condition_values: dict[str, str] | None = None) -> PermissionResult:
        statement = self._statement
        element = "NotAction" if "NotAction" in statement else "Action"
        applies = (self._check_element_matches(element, action) != (element == "NotAction")
                   and not self.is_unknown_principal(statement.get("Principal"))
                   and not (principal and not self._check_principal(principal))
                   and conditions_hold(statement, incoming_condition_values)
                   and (not statement.get("Resource") or self._check_element_matches("Resource", resource)))
        if not applies:
            return PermissionResult.NEUTRAL
        return PermissionResult.PERMITTED if statement["Effect"] == "Allow" else PermissionResult.DENIED

    def get_permission(self, action: str, resource: str):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return IAMPolicy(self.policy.decode()).is_action_permitted(action, resource,
                                                                  incoming_condition_values=LOOPBACK_REQUEST)

    IAMPolicyStatement.is_action_permitted = is_action_permitted
    FakeBucket.get_permission = get_permission
