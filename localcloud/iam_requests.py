"""What an AWS API request asks IAM for: its actions, resource ARNs, context keys and the
resource's policy, read from the request as it arrives (REST S3, JSON services by X-Amz-Target,
query services by Action, REST-JSON Lambda and Bedrock by path) and from the resources moto holds.

An action without resource-level permissions is asked on "*". An action this module does not
map is asked on "*" too: a role whose grants name resources is then refused, and the denial
names the action, so a missing mapping shows itself instead of passing silently.
"""

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from localcloud import iam

SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
JSON_TARGETS = {"DynamoDB_20120810": "dynamodb", "AWSGlue": "glue", "AmazonAthena": "athena", "TrentService": "kms",
                "secretsmanager": "secretsmanager", "AWSStepFunctions": "states", "Logs_20140328": "logs",
                "AmazonEC2ContainerServiceV20141113": "ecs", "AWSEvents": "events", "AmazonSSM": "ssm",
                "GraniteServiceVersion20100801": "cloudwatch"}
S3_VIA, SNS_VIA, SECRETS_VIA = "s3.{region}.amazonaws.com", "sns.{region}.amazonaws.com", \
    "secretsmanager.{region}.amazonaws.com"


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    context: dict = field(default_factory=dict)
    resource_policy: iam.Policy | None = None
    key_policy: bool = False


@dataclass(frozen=True)
class Call:
    """One HTTP request, as the gate reads it."""

    method: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @classmethod
    def from_environ(cls, environ: dict, body: bytes) -> "Call":
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        query = {key: values[0] for key, values in
                 parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        return cls(environ.get("REQUEST_METHOD", "GET"), headers.get("host", ""), environ.get("PATH_INFO", "/"),
                   query, headers, body)

    @classmethod
    def internal(cls, method: str, path: str, query: dict | None = None) -> "Call":
        """A request a service makes for a caller in-process (Athena's reads, a sync's reads): path-style."""
        return cls(method, "", path, query or {}, {}, b"")

    def credential(self) -> tuple[str, str] | None:
        """(access key, service) from SigV4's credential scope (header or presigned query)."""
        found = SCOPE.search(self.headers.get("authorization", ""))
        if found:
            return found.group(1), found.group(3)
        presigned = self.query.get("X-Amz-Credential", "")
        parts = presigned.split("/")
        return (parts[0], parts[3]) if len(parts) == 5 else None


class Requests:
    """Maps calls to checks in one account and region."""

    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region

    def describe(self, call: Call, service: str) -> list[Check]:
        if service == "s3":
            return self.s3(call)
        target = call.headers.get("x-amz-target", "")
        if target:
            prefix, _, operation = target.partition(".")
            service = JSON_TARGETS.get(prefix, service)
            body = json.loads(call.body or b"{}")
            return getattr(self, f"json_{service}", self.json_any)(service, operation, body)
        if call.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = {key: values[0] for key, values in parse_qs(call.body.decode(errors="replace")).items()}
            return getattr(self, f"query_{service}", self.query_any)(service, form.get("Action", ""), form)
        return getattr(self, f"rest_{service.replace('-', '_')}", self.rest_any)(service, call)

    # --- S3 -------------------------------------------------------------------------------------

    def s3(self, call: Call) -> list[Check]:
        bucket, key = _bucket_and_key(call)
        if not bucket:
            return [Check("s3:ListAllMyBuckets", "*")]
        action, context = _s3_action(call, key)
        resource = f"arn:aws:s3:::{bucket}" + (f"/{key}" if key and action not in BUCKET_ACTIONS else "")
        checks = [Check(action, resource, context, _bucket_policy(self.account, bucket))]
        source = call.headers.get("x-amz-copy-source")
        if source and action == "s3:PutObject" and "partNumber" not in call.query:
            source_bucket, _, source_key = unquote(source).lstrip("/").partition("/")
            checks.append(Check("s3:GetObject", f"arn:aws:s3:::{source_bucket}/{source_key.split('?')[0]}", {},
                                _bucket_policy(self.account, source_bucket)))
        if action == "s3:GetObject" and not _object_exists(self.account, bucket, key):
            # S3 tells a caller that a key does not exist (404) only if it may list the bucket: the
            # request carries no s3:prefix, so a list grant scoped by prefix does not count (403).
            checks.append(Check("s3:ListBucket", f"arn:aws:s3:::{bucket}", {}, _bucket_policy(self.account, bucket)))
            return checks
        key_arn = _bucket_key(self.account, bucket)
        if key_arn and action in ("s3:GetObject", "s3:GetObjectVersion"):
            checks.append(self._kms("kms:Decrypt", key_arn, S3_VIA))
        elif key_arn and action == "s3:PutObject" and call.method in ("PUT", "POST") and "uploadId" not in call.query:
            checks.append(self._kms("kms:GenerateDataKey", key_arn, S3_VIA))
        return checks

    def _kms(self, action: str, key_arn: str, via: str) -> Check:
        return Check(action, key_arn, {"kms:ViaService": via.format(region=self.region)}, _key_policy(key_arn),
                     key_policy=True)

    # --- JSON services --------------------------------------------------------------------------

    def json_any(self, service: str, operation: str, body: dict) -> list[Check]:
        return [Check(f"{service}:{operation}", "*")]

    def json_dynamodb(self, service: str, operation: str, body: dict) -> list[Check]:
        tables = list(body.get("RequestItems", {})) if operation.startswith("Batch") else [body.get("TableName")]
        if not any(tables):
            return [Check(f"dynamodb:{operation}", "*")]
        return [Check(f"dynamodb:{operation}", self.arn("dynamodb", f"table/{table}")) for table in tables]

    def json_glue(self, service: str, operation: str, body: dict) -> list[Check]:
        """Glue authorizes a table action on the catalog, the database and the table."""
        database = body.get("DatabaseName") or (body.get("DatabaseInput") or {}).get("Name")
        table = body.get("TableName") or body.get("Name") or (body.get("TableInput") or {}).get("Name")
        if operation in ("GetDatabase", "CreateDatabase", "GetDatabases"):
            table = None
        elif operation == "GetTables":
            table = "*"
        resources = [self.arn("glue", "catalog")]
        if database:
            resources.append(self.arn("glue", f"database/{database}"))
            if table:
                resources.append(self.arn("glue", f"table/{database}/{table}"))
        return [Check(f"glue:{operation}", resource) for resource in resources]

    def json_athena(self, service: str, operation: str, body: dict) -> list[Check]:
        workgroup = body.get("WorkGroup") or _query_workgroup(self, body.get("QueryExecutionId")) or "primary"
        return [Check(f"athena:{operation}", self.arn("athena", f"workgroup/{workgroup}"))]

    def json_kms(self, service: str, operation: str, body: dict) -> list[Check]:
        key_arn = _key_arn(self, body.get("KeyId")) if body.get("KeyId") else "*"
        return [Check(f"kms:{operation}", key_arn, {}, _key_policy(key_arn) if key_arn != "*" else None,
                      key_policy=key_arn != "*")]

    def json_secretsmanager(self, service: str, operation: str, body: dict) -> list[Check]:
        secret = _secret(self, body.get("SecretId")) if body.get("SecretId") else None
        if secret is None:
            return [Check(f"secretsmanager:{operation}", "*")]
        checks = [Check(f"secretsmanager:{operation}", secret.arn, {}, _secret_policy(secret))]
        key_arn = _key_arn(self, secret.kms_key_id) if secret.kms_key_id and "aws/secretsmanager" not in str(
            secret.kms_key_id) else None
        if key_arn and operation == "GetSecretValue":
            checks.append(self._kms("kms:Decrypt", key_arn, SECRETS_VIA))
        return checks

    def json_states(self, service: str, operation: str, body: dict) -> list[Check]:
        arn = body.get("stateMachineArn") or body.get("executionArn") or "*"
        return [Check(f"states:{operation}", arn)]

    # --- query services -------------------------------------------------------------------------

    def query_any(self, service: str, action: str, form: dict) -> list[Check]:
        return [Check(f"{service}:{action}", "*")]

    def query_sns(self, service: str, action: str, form: dict) -> list[Check]:
        arn = form.get("TopicArn") or form.get("TargetArn") or "*"
        topic = _topic(arn) if arn != "*" else None
        checks = [Check(f"sns:{action}", arn, {}, iam.Policy(f"topic policy of {arn}", json.loads(topic.policy))
                        if topic else None)]
        key_arn = _key_arn(self, topic.kms_master_key_id) if topic and topic.kms_master_key_id else None
        if key_arn and action == "Publish":
            checks += [self._kms("kms:GenerateDataKey", key_arn, SNS_VIA), self._kms("kms:Decrypt", key_arn, SNS_VIA)]
        return checks

    def query_ec2(self, service: str, action: str, form: dict) -> list[Check]:
        """EC2 actions on one security group, VPC or subnet name it; Describe* have no resource."""
        for parameter, kind in (("GroupId", "security-group"), ("VpcId", "vpc"), ("SubnetId", "subnet")):
            if form.get(parameter) and not action.startswith("Describe"):
                return [Check(f"ec2:{action}", self.arn("ec2", f"{kind}/{form[parameter]}"))]
        return [Check(f"ec2:{action}", "*")]

    # --- REST-JSON services ---------------------------------------------------------------------

    def rest_any(self, service: str, call: Call) -> list[Check]:
        return [Check(f"{service}:{call.method} {call.path}", "*")]

    def rest_lambda(self, service: str, call: Call) -> list[Check]:
        found = re.match(r"^/2015-03-31/functions/([^/]+)(/invocations)?", call.path)
        if not found:
            return self.rest_any(service, call)
        name = unquote(found.group(1))
        arn = name if name.startswith("arn:") else self.arn("lambda", f"function:{name}")
        return [Check("lambda:InvokeFunction" if found.group(2) else f"lambda:{call.method.title()}Function", arn)]

    def rest_bedrock(self, service: str, call: Call) -> list[Check]:
        """bedrock-runtime, bedrock-agent and bedrock-agent-runtime all sign as "bedrock"."""
        if call.path.startswith("/knowledgebases/"):
            agent = self.rest_bedrock_agent(service, call)
            return agent if agent[0].resource != "*" else self.rest_bedrock_agent_runtime(service, call)
        found = re.match(r"^/model/([^/]+)/(converse|invoke)", call.path)
        if not found:
            return self.rest_any(service, call)
        model = unquote(found.group(1))
        if model.startswith("arn:"):
            return [Check("bedrock:InvokeModel", model)]
        prefix, _, base = model.partition(".")
        if base and prefix in ("us", "eu", "apac", "global", "us-gov", "ca", "jp", "au"):  # an inference profile
            return [Check("bedrock:InvokeModel", self.arn("bedrock", f"inference-profile/{model}")),
                    Check("bedrock:InvokeModel", f"arn:aws:bedrock:{self.region}::foundation-model/{base}")]
        return [Check("bedrock:InvokeModel", f"arn:aws:bedrock:{self.region}::foundation-model/{model}")]

    def rest_bedrock_agent(self, service: str, call: Call) -> list[Check]:
        found = re.match(r"^/knowledgebases/([^/]+)/datasources/[^/]+/ingestionjobs/?([^/]*)$", call.path)
        if not found:
            return self.rest_any(service, call)
        action = "bedrock:GetIngestionJob" if found.group(2) else "bedrock:StartIngestionJob"
        return [Check(action, self.arn("bedrock", f"knowledge-base/{found.group(1)}"))]

    def rest_bedrock_agent_runtime(self, service: str, call: Call) -> list[Check]:
        found = re.match(r"^/knowledgebases/([^/]+)/retrieve$", call.path)
        if not found:
            return self.rest_any(service, call)
        return [Check("bedrock:Retrieve", self.arn("bedrock", f"knowledge-base/{found.group(1)}"))]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


# --- S3 details ------------------------------------------------------------------------------------

BUCKET_ACTIONS = {"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation",
                  "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:GetEncryptionConfiguration",
                  "s3:GetBucketVersioning", "s3:PutBucketVersioning", "s3:GetBucketTagging", "s3:PutBucketTagging",
                  "s3:GetBucketAcl", "s3:CreateBucket", "s3:DeleteBucket", "s3:GetLifecycleConfiguration",
                  "s3:PutLifecycleConfiguration", "s3:PutEncryptionConfiguration", "s3:GetBucketNotification",
                  "s3:PutBucketNotification", "s3:GetBucketLogging", "s3:PutBucketLogging",
                  "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock", "s3:GetBucketOwnershipControls",
                  "s3:PutBucketOwnershipControls", "s3:DeleteBucketPolicy"}
BUCKET_SUBRESOURCES = {"location": "GetBucketLocation", "uploads": "ListBucketMultipartUploads",
                       "versions": "ListBucketVersions", "policy": "BucketPolicy", "encryption": "EncryptionConfiguration",
                       "versioning": "BucketVersioning", "tagging": "BucketTagging", "acl": "BucketAcl",
                       "lifecycle": "LifecycleConfiguration", "notification": "BucketNotification",
                       "logging": "BucketLogging", "publicAccessBlock": "BucketPublicAccessBlock",
                       "ownershipControls": "BucketOwnershipControls"}


def _bucket_and_key(call: Call) -> tuple[str, str]:
    host = call.host.split(":")[0]
    path = unquote(call.path)
    if host.endswith(".localhost") or ".s3." in host:
        return host.split(".")[0], path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def _s3_action(call: Call, key: str) -> tuple[str, dict]:
    method, query = call.method, call.query
    if not key:
        for name, action in BUCKET_SUBRESOURCES.items():
            if name in query:
                if action.startswith(("Get", "List")):
                    return f"s3:{action}", {}
                verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, "Get")
                return f"s3:{verb}{action}", {}
        if method == "POST" and "delete" in query:
            return "s3:DeleteObject", {}
        if method in ("GET", "HEAD"):
            context = {f"s3:{name}": query[name] for name in ("prefix", "delimiter", "max-keys") if name in query}
            return "s3:ListBucket", context
        return {"PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket"}.get(method, "s3:ListBucket"), {}
    if method in ("GET", "HEAD"):
        if "uploadId" in query:
            return "s3:ListMultipartUploadParts", {}
        if "tagging" in query:
            return "s3:GetObjectTagging", {}
        return ("s3:GetObjectVersion" if "versionId" in query else "s3:GetObject"), {}
    if method == "DELETE":
        if "uploadId" in query:
            return "s3:AbortMultipartUpload", {}
        return ("s3:DeleteObjectVersion" if "versionId" in query else "s3:DeleteObject"), {}
    if "tagging" in query:
        return "s3:PutObjectTagging", {}
    return "s3:PutObject", {}


def _moto_bucket(account: str, name: str):
    from moto.s3.models import s3_backends

    return s3_backends[account]["global"].buckets.get(name)


def _object_exists(account: str, bucket_name: str, key: str) -> bool:
    bucket = _moto_bucket(account, bucket_name)
    return bucket is None or key in bucket.keys  # an unknown bucket: S3 answers NoSuchBucket first


def _bucket_policy(account: str, name: str) -> iam.Policy | None:
    bucket = _moto_bucket(account, name)
    if bucket is None or not bucket.policy:
        return None
    return iam.Policy(f"bucket policy of {name}", iam.parse(bucket.policy))


def _bucket_key(account: str, name: str) -> str | None:
    """The KMS key a bucket encrypts new objects with by default (None: not SSE-KMS)."""
    bucket = _moto_bucket(account, name)
    found = _find(bucket.encryption if bucket is not None else None)
    if not found or found.get("SSEAlgorithm") not in ("aws:kms", "aws:kms:dsse"):
        return None
    key = found.get("KMSMasterKeyID")
    return key if key and key.startswith("arn:") else _key_arn_in(bucket.account_id, key) if key else None


def _find(value) -> dict | None:
    """The ApplyServerSideEncryptionByDefault part of a bucket's encryption, however moto nests it."""
    if isinstance(value, dict):
        if "SSEAlgorithm" in value:
            return value
        for item in value.values():
            if (found := _find(item)) is not None:
                return found
    if isinstance(value, list):
        for item in value:
            if (found := _find(item)) is not None:
                return found
    return None


# --- other resources -------------------------------------------------------------------------------

def _key_arn(requests: Requests, key_id: str) -> str:
    if key_id.startswith("arn:aws:kms:") and ":key/" in key_id:
        return key_id
    return _key_arn_in(requests.account, key_id, requests.region)


def _key_arn_in(account: str, key_id: str, region: str = "us-east-1") -> str:
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    try:
        return backend.describe_key(backend.any_id_to_key_id(key_id.split("/", 1)[1] if key_id.startswith(
            "arn:") and ":alias/" not in key_id else key_id)).arn
    except Exception:  # an unknown key: decided on the name given
        return key_id


def _key_policy(key_arn: str) -> iam.Policy | None:
    from moto.kms.models import kms_backends

    _, _, _, region, account, resource = key_arn.split(":", 5)
    key = kms_backends[account][region].keys.get(resource.split("/", 1)[-1])
    return iam.Policy(f"key policy of {key_arn}", iam.parse(key.policy)) if key is not None else None


def _topic(arn: str):
    from moto.sns.models import sns_backends

    _, _, _, region, account, _ = arn.split(":", 5)
    return sns_backends[account][region].topics.get(arn)


def _secret(requests: Requests, secret_id: str):
    from moto.secretsmanager.models import secretsmanager_backends

    store = secretsmanager_backends[requests.account][requests.region].secrets
    return store[secret_id] if secret_id in store else None


def _secret_policy(secret) -> iam.Policy | None:
    policy = getattr(secret, "policy", None)
    return iam.Policy(f"resource policy of {secret.arn}", iam.parse(policy)) if policy else None


def _query_workgroup(requests: Requests, query_id: str | None) -> str | None:
    from moto.athena.models import athena_backends

    execution = athena_backends[requests.account][requests.region].executions.get(query_id or "")
    return getattr(execution, "workgroup", None) and getattr(execution.workgroup, "name", execution.workgroup)

