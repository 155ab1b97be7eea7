"""The local knowledge base: resources as CloudFormation creates them, an ingestion job that reads
the data source's documents and sidecars from S3, Retrieve ranked by TF-IDF and held to a filter."""

import boto3
import pytest
from moto.server import ThreadedMotoServer

from localcloud import bedrock_agent

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture(scope="module")
def endpoint():
    bedrock_agent.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


def client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="local",
                        aws_secret_access_key="local")


@pytest.fixture(scope="module")
def knowledge_base(endpoint):
    """What the AI stack's template declares, created as the local CloudFormation creates it."""
    account = client("sts", endpoint).get_caller_identity()["Account"]
    _, bucket = bedrock_agent.vector_bucket({"EncryptionConfiguration": {"SseType": "aws:kms"}}, "Vectors-X1",
                                            account, REGION)
    _, index = bedrock_agent.vector_index({"VectorBucketArn": bucket["VectorBucketArn"], "DataType": "float32",
                                           "Dimension": 1024, "DistanceMetric": "cosine"}, "Index-X1", account, REGION)
    kb_id, _ = bedrock_agent.knowledge_base({
        "Name": "kb-test", "RoleArn": f"arn:aws:iam::{account}:role/kb",
        "KnowledgeBaseConfiguration": {"Type": "VECTOR"},
        "StorageConfiguration": {"Type": "S3_VECTORS", "S3VectorsConfiguration": index}}, "Kb-X1", account, REGION)
    _, source = bedrock_agent.data_source({
        "KnowledgeBaseId": kb_id, "Name": "docs", "DataSourceConfiguration": {
            "Type": "S3", "S3Configuration": {"BucketArn": "arn:aws:s3:::documents", "InclusionPrefixes": ["runs/"]}}},
        "Docs-X1", account, REGION)
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket="documents")
    for run, r2 in (("r1", "0.71"), ("r2", "0.93")):
        s3.put_object(Bucket="documents", Key=f"runs/{run}/model_performance.md",
                      Body=f"# Model performance\n\n- Engagement: R² {r2}, RMSE 0.05.".encode())
        s3.put_object(Bucket="documents", Key=f"runs/{run}/model_performance.md.metadata.json",
                      Body=f'{{"metadataAttributes": {{"run_id": "{run}"}}}}'.encode())
        s3.put_object(Bucket="documents", Key=f"runs/{run}/run_summary.md",
                      Body=b"# Run\n\n- Rows received: 3,000; quarantined 0.\n\n- Data quality problems: none.")
        s3.put_object(Bucket="documents", Key=f"runs/{run}/run_summary.md.metadata.json",
                      Body=f'{{"metadataAttributes": {{"run_id": "{run}"}}}}'.encode())
    s3.put_object(Bucket="documents", Key="elsewhere/secret.md", Body="R² outside the data source".encode())
    return kb_id, source["DataSourceId"]


def test_an_ingestion_job_reads_the_data_source_and_retrieve_ranks_within_the_filter(endpoint, knowledge_base):
    kb_id, ds_id = knowledge_base
    agent = client("bedrock-agent", endpoint)
    job = agent.start_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id, clientToken="t" * 40)["ingestionJob"]
    assert job["status"] == "COMPLETE" and job["statistics"]["numberOfDocumentsScanned"] == 4
    assert agent.get_ingestion_job(knowledgeBaseId=kb_id, dataSourceId=ds_id,
                                   ingestionJobId=job["ingestionJobId"])["ingestionJob"] == job
    runtime = client("bedrock-agent-runtime", endpoint)
    found = runtime.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "What is the R² of the model?"},
                             retrievalConfiguration={"vectorSearchConfiguration": {
                                 "numberOfResults": 5, "filter": {"equals": {"key": "run_id", "value": "r2"}}}})
    results = found["retrievalResults"]
    assert [r["location"]["s3Location"]["uri"] for r in results] == ["s3://documents/runs/r2/model_performance.md"]
    assert "R² 0.93" in results[0]["content"]["text"] and results[0]["metadata"] == {"run_id": "r2"}
    assert results[0]["score"] > 0


def test_retrieve_refuses_what_it_cannot_do_by_name(endpoint, knowledge_base):
    runtime = client("bedrock-agent-runtime", endpoint)
    with pytest.raises(runtime.exceptions.ResourceNotFoundException, match="no knowledge base NOSUCHKB00"):
        runtime.retrieve(knowledgeBaseId="NOSUCHKB00", retrievalQuery={"text": "x"})
    with pytest.raises(runtime.exceptions.ValidationException, match="equals and andAll filters only"):
        runtime.retrieve(knowledgeBaseId=knowledge_base[0], retrievalQuery={"text": "quality"},
                         retrievalConfiguration={"vectorSearchConfiguration": {
                             "filter": {"greaterThan": {"key": "run_id", "value": "r1"}}}})
