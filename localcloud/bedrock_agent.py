"""Bedrock knowledge bases on the local cloud: S3 Vectors and Bedrock resources from the templates,
ingestion jobs, and Retrieve ranked by a lexical stand-in for embeddings.

There is no embedding model locally. An ingestion job reads the data source's documents (and their
`.metadata.json` sidecars) from the local S3 as Bedrock would, splits them into chunks, and keeps
them; Retrieve ranks the chunks that pass its filter by TF-IDF cosine similarity (scikit-learn) —
a real ranker, but lexical: it finds words, not meanings. The README names it as the stand-in.

Requests arrive as they reach AWS (SigV4 for `bedrock`): StartIngestionJob and GetIngestionJob
(bedrock-agent), Retrieve (bedrock-agent-runtime). Everything else goes to moto.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from localcloud.iam_requests import Call

START_JOB = re.compile(r"^/knowledgebases/(?P<kb>[^/]+)/datasources/(?P<ds>[^/]+)/ingestionjobs/?$")
GET_JOB = re.compile(r"^/knowledgebases/(?P<kb>[^/]+)/datasources/(?P<ds>[^/]+)/ingestionjobs/(?P<job>[^/]+)$")
RETRIEVE = re.compile(r"^/knowledgebases/(?P<kb>[^/]+)/retrieve$")
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/bedrock/aws4_request")
METADATA_SUFFIX = ".metadata.json"
CHUNK_CHARS = 1_500  # about Bedrock's default chunk of 300 tokens
DEFAULT_RESULTS = 5
STORAGE_TYPES = ("S3_VECTORS", "OPENSEARCH_SERVERLESS", "PINECONE", "REDIS_ENTERPRISE_CLOUD", "RDS")


@dataclass
class Chunk:
    text: str
    uri: str
    metadata: dict


@dataclass
class DataSource:
    knowledge_base_id: str
    account: str
    bucket: str
    prefixes: tuple[str, ...]
    jobs: dict[str, dict] = field(default_factory=dict)


_data_sources: dict[str, DataSource] = {}
_data_source_ids: dict[str, str] = {}  # physical name -> id
_chunks: dict[str, list[Chunk]] = {}  # knowledge base id -> what its last ingestion jobs read


class LocalRequestError(Exception):
    def __init__(self, status: str, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind = status, kind


# --- CloudFormation: the types moto's CloudFormation lacks ------------------------------------------

def vector_bucket(props: dict, name: str, account: str, region: str):
    from moto.s3vectors.models import s3vectors_backends
    backend = s3vectors_backends[account]["aws"]  # moto keeps S3 Vectors by partition
    bucket_name = props.get("VectorBucketName") or re.sub(r"[^a-z0-9-]", "-", name.lower())[:63]
    try:
        bucket = backend.get_vector_bucket(vector_bucket_name=bucket_name)
    except Exception:  # noqa: BLE001 - moto's VectorBucketNotFound: create it
        backend.create_vector_bucket(region, bucket_name, props.get("EncryptionConfiguration") or {})
        bucket = backend.get_vector_bucket(vector_bucket_name=bucket_name)
    return bucket_name, {"VectorBucketArn": bucket.vector_bucket_arn}


def vector_index(props: dict, name: str, account: str, region: str):
    from moto.s3vectors.models import s3vectors_backends
    backend = s3vectors_backends[account]["aws"]  # moto keeps S3 Vectors by partition
    bucket = backend.get_vector_bucket(vector_bucket_name=props.get("VectorBucketName"),
                                       vector_bucket_arn=props.get("VectorBucketArn"))
    index_name = props.get("IndexName") or re.sub(r"[^a-z0-9-]", "-", name.lower())[:63]
    existing = [index for index in bucket.indexes.values() if index.index_name == index_name]
    if not existing:
        backend.create_index(bucket.vector_bucket_name, bucket.vector_bucket_arn, index_name, props["DataType"],
                             int(props["Dimension"]), props["DistanceMetric"])
        existing = [index for index in bucket.indexes.values() if index.index_name == index_name]
    return existing[0].index_arn, {"IndexArn": existing[0].index_arn}


def knowledge_base(props: dict, name: str, account: str, region: str):
    from moto.bedrockagent.models import bedrockagent_backends
    backend = bedrockagent_backends[account][region]
    found = [kb for kb in backend.knowledge_bases.values() if kb.name == props["Name"]]
    storage = _api_shape(props.get("StorageConfiguration") or {})
    if storage.get("type") not in STORAGE_TYPES:
        raise ValueError(f"knowledge base storage type {storage.get('type')!r}: one of {', '.join(STORAGE_TYPES)}")
    # moto's model predates S3 Vectors storage: it is created with a type moto knows, then given its own.
    kb = found[0] if found else backend.create_knowledge_base(
        props["Name"], props["RoleArn"], _api_shape(props["KnowledgeBaseConfiguration"]), {"type": "RDS"}, None,
        props.get("Description"), None)
    kb.storage_configuration = storage
    _chunks.setdefault(kb.knowledge_base_id, [])
    return kb.knowledge_base_id, {"KnowledgeBaseId": kb.knowledge_base_id, "KnowledgeBaseArn": kb.knowledge_base_arn}


def data_source(props: dict, name: str, account: str, region: str):
    configuration = props["DataSourceConfiguration"]
    if configuration.get("Type") != "S3":
        raise ValueError(f"the local cloud reads S3 data sources only, not {configuration.get('Type')}")
    s3 = configuration["S3Configuration"]
    ds_id = _data_source_ids.setdefault(name, uuid.uuid4().hex[:10].upper())  # an update keeps its id
    _data_sources[ds_id] = DataSource(props["KnowledgeBaseId"], account, s3["BucketArn"].split(":::")[-1],
                                      tuple(s3.get("InclusionPrefixes") or ("",)))
    return f"{props['KnowledgeBaseId']}|{ds_id}", {"DataSourceId": ds_id}


def _api_shape(value):
    """A CloudFormation property (PascalCase keys) as the API takes it (camelCase)."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _api_shape(item) for key, item in value.items()}
    return [_api_shape(item) for item in value] if isinstance(value, list) else value


# --- the APIs ---------------------------------------------------------------------------------------

def start_ingestion_job(knowledge_base_id: str, data_source_id: str) -> dict:
    """The job reads the data source as the knowledge base's service role (listing each inclusion
    prefix, reading each document); a refused read fails the job, as Bedrock reports it."""
    source = _source(knowledge_base_id, data_source_id)
    documents = _documents(source)
    now = datetime.now(UTC).isoformat()
    job = {"ingestionJobId": uuid.uuid4().hex[:10].upper(), "knowledgeBaseId": knowledge_base_id,
           "dataSourceId": data_source_id, "status": "COMPLETE", "startedAt": now, "updatedAt": now,
           "statistics": {"numberOfDocumentsScanned": len(documents), "numberOfNewDocumentsIndexed": len(documents)}}
    refused = _read_as_service_role(source, documents)
    if refused:
        job.update(status="FAILED", failureReasons=[refused],
                   statistics={"numberOfDocumentsScanned": 0, "numberOfNewDocumentsIndexed": 0})
    else:
        _chunks[knowledge_base_id] = [chunk for uri, (text, metadata) in documents.items()
                                      for chunk in _split(text, uri, metadata)]
    source.jobs[job["ingestionJobId"]] = job
    return {"ingestionJob": job}


def _read_as_service_role(source: DataSource, documents: dict) -> str | None:
    """Why the knowledge base's role may not read the documents (None: it may)."""
    from moto.bedrockagent.models import bedrockagent_backends

    if _authorize is None:
        return None
    kb = bedrockagent_backends[source.account][_region].knowledge_bases[source.knowledge_base_id]
    reads = [Call.internal("GET", f"/{source.bucket}/", {"prefix": prefix}) for prefix in source.prefixes]
    reads += [Call.internal("GET", f"/{uri[len('s3://'):]}") for uri in documents]
    try:
        _authorize(kb.role_arn, kb.knowledge_base_arn, reads)
    except Exception as refused:  # iam_gate.AccessDenied, named by the caller
        return f"{type(refused).__name__}: {refused}"
    return None


def get_ingestion_job(knowledge_base_id: str, data_source_id: str, job_id: str) -> dict:
    job = _source(knowledge_base_id, data_source_id).jobs.get(job_id)
    if job is None:
        raise LocalRequestError("404 Not Found", "ResourceNotFoundException", f"no ingestion job {job_id}")
    return {"ingestionJob": job}


def retrieve(knowledge_base_id: str, request: dict) -> dict:
    if knowledge_base_id not in _chunks:
        raise LocalRequestError("404 Not Found", "ResourceNotFoundException", f"no knowledge base {knowledge_base_id}")
    query = (request.get("retrievalQuery") or {}).get("text", "")
    if not query.strip():
        raise LocalRequestError("400 Bad Request", "ValidationException", "retrievalQuery.text is required")
    search = (request.get("retrievalConfiguration") or {}).get("vectorSearchConfiguration") or {}
    chunks = [c for c in _chunks[knowledge_base_id] if _passes(c.metadata, search.get("filter"))]
    return {"retrievalResults": [
        {"content": {"type": "TEXT", "text": chunk.text}, "location": {"type": "S3", "s3Location": {"uri": chunk.uri}},
         "score": score, "metadata": chunk.metadata}
        for chunk, score in _ranked(query, chunks)[: int(search.get("numberOfResults", DEFAULT_RESULTS))]]}


def _source(knowledge_base_id: str, data_source_id: str) -> DataSource:
    source = _data_sources.get(data_source_id)
    if source is None or source.knowledge_base_id != knowledge_base_id:
        raise LocalRequestError("404 Not Found", "ResourceNotFoundException",
                                f"no data source {data_source_id} in knowledge base {knowledge_base_id}")
    return source


def _documents(source: DataSource) -> dict[str, tuple[str, dict]]:
    """uri -> (text, metadata attributes) for every document under the data source's prefixes."""
    from moto.s3.models import s3_backends
    backend = s3_backends[source.account]["global"]
    bucket = backend.get_bucket(source.bucket)
    keys = {name: key for name, key in bucket.keys.items() if name.startswith(source.prefixes)}
    documents = {}
    for name, key in keys.items():
        if name.endswith(METADATA_SUFFIX):
            continue
        sidecar = keys.get(name + METADATA_SUFFIX)
        metadata = json.loads(sidecar.value).get("metadataAttributes", {}) if sidecar else {}
        documents[f"s3://{source.bucket}/{name}"] = (key.value.decode("utf-8", errors="replace"), metadata)
    return documents


def _split(text: str, uri: str, metadata: dict) -> list[Chunk]:
    """Paragraphs gathered into chunks of about CHUNK_CHARS."""
    chunks, current = [], ""
    for paragraph in re.split(r"\n\s*\n", text):
        if current and len(current) + len(paragraph) > CHUNK_CHARS:
            chunks.append(Chunk(current.strip(), uri, metadata))
            current = ""
        current += paragraph + "\n\n"
    if current.strip():
        chunks.append(Chunk(current.strip(), uri, metadata))
    return chunks


def _passes(metadata: dict, condition: dict | None) -> bool:
    if not condition:
        return True
    if set(condition) - {"equals", "andAll"}:
        raise LocalRequestError("400 Bad Request", "ValidationException", "the local knowledge base supports the "
                                f"equals and andAll filters only, got {sorted(condition)}")
    if "andAll" in condition:
        return all(_passes(metadata, part) for part in condition["andAll"])
    equals = condition["equals"]
    return str(metadata.get(equals["key"])) == str(equals["value"])


def _ranked(query: str, chunks: list[Chunk]) -> list[tuple[Chunk, float]]:
    if not chunks:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    matrix = vectorizer.fit_transform([chunk.text for chunk in chunks])
    scores = cosine_similarity(vectorizer.transform([query]), matrix)[0]
    order = sorted(range(len(chunks)), key=lambda i: -scores[i])
    return [(chunks[i], round(float(scores[i]), 4)) for i in order if scores[i] > 0]


# --- serving ----------------------------------------------------------------------------------------

_authorize = None  # (role ARN, knowledge base ARN, S3 requests) -> raises when the role may not read them
_region = "us-east-1"


def install(authorize=None, region: str = "us-east-1") -> None:
    """`authorize`: how an ingestion job's reads are decided as the knowledge base's role."""
    global _authorize, _region
    _authorize, _region = authorize, region
    if getattr(DomainDispatcherApplication.__call__, "bedrock_agent", False):
        return
    moto_call = DomainDispatcherApplication.__call__

    def call(self, environ, start_response):
        path, method = unquote(environ.get("PATH_INFO", "")), environ.get("REQUEST_METHOD")
        routes = {"PUT": START_JOB, "GET": GET_JOB, "POST": RETRIEVE}
        match = routes[method].match(path) if method in routes else None
        if not match or not SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")):
            return moto_call(self, environ, start_response)
        try:
            if method == "PUT":
                answer = start_ingestion_job(match["kb"], match["ds"])
            elif method == "GET":
                answer = get_ingestion_job(match["kb"], match["ds"], match["job"])
            else:
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                answer = retrieve(match["kb"], json.loads(body or b"{}"))
            status, headers = "200 OK", []
        except LocalRequestError as error:
            status, answer, headers = error.status, {"message": str(error)}, [("x-amzn-ErrorType", error.kind)]
        payload = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                                ("x-amzn-RequestId", str(uuid.uuid4())), *headers])
        return [payload]

    call.bedrock_agent = True
    DomainDispatcherApplication.__call__ = call
