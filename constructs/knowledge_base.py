"""The assistant's knowledge base: Bedrock over S3 Vectors, fed by the run's documents.

Vectors live in an S3 Vectors index (pay per use; no OpenSearch Serverless, whose floor is
hundreds of dollars a month), encrypted with the platform key. The data source is the documents
bucket's run folders; each run's documents carry their run id as metadata, so a retrieval can be
held to the published run. Bedrock reads the documents and writes the vectors as its own role.
"""

import aws_cdk as cdk
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3vectors as s3vectors
from constructs import Construct

from constructs.access import allow_key, allow_places
from engagement.layout import PLACES

EMBEDDING_MODEL = "amazon.titan-embed-text-v2:0"
DIMENSIONS = 1024
# Bedrock stores each chunk's text and its own metadata with the vector; kept out of the filterable
# metadata, whose size S3 Vectors limits.
BEDROCK_METADATA_KEYS = ["AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"]
DOCUMENTS_PREFIX = PLACES["knowledge_base_documents"].root  # every run's folder
VECTOR_ACTIONS = ["s3vectors:PutVectors", "s3vectors:GetVectors", "s3vectors:DeleteVectors",
                  "s3vectors:QueryVectors", "s3vectors:GetIndex"]


class KnowledgeBase(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, documents_bucket_arns: dict[str, str],
                 key_arn: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        vectors = s3vectors.CfnVectorBucket(self, "VectorBucket", encryption_configuration={
            "sseType": "aws:kms", "kmsKeyArn": key_arn})
        index = s3vectors.CfnIndex(self, "VectorIndex", vector_bucket_arn=vectors.attr_vector_bucket_arn,
                                   data_type="float32", dimension=DIMENSIONS, distance_metric="cosine",
                                   metadata_configuration={"nonFilterableMetadataKeys": BEDROCK_METADATA_KEYS})
        role = iam.Role(self, "ServiceRole", assumed_by=iam.ServicePrincipal("bedrock.amazonaws.com", conditions={
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": stack.format_arn(service="bedrock", resource="knowledge-base",
                                                          resource_name="*")}}),
            description="Bedrock reads the run documents and writes their vectors")
        embedding_model = f"arn:{stack.partition}:bedrock:{stack.region}::foundation-model/{EMBEDDING_MODEL}"
        role.add_to_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=[embedding_model]))
        role.add_to_policy(iam.PolicyStatement(actions=VECTOR_ACTIONS, resources=[index.attr_index_arn]))
        allow_places(self, role, "knowledge_base_index", documents_bucket_arns)
        allow_key(role, key_arn)
        self.knowledge_base = bedrock.CfnKnowledgeBase(
            self, "Resource", name=cdk.Names.unique_resource_name(self, max_length=100, separator="-"),
            role_arn=role.role_arn, description="Engagement platform run documents: metrics, drivers, data quality",
            knowledge_base_configuration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": embedding_model, "embeddingModelConfiguration": {
                    "bedrockEmbeddingModelConfiguration": {"dimensions": DIMENSIONS,
                                                           "embeddingDataType": "FLOAT32"}}}},
            storage_configuration={"type": "S3_VECTORS", "s3VectorsConfiguration": {
                "indexArn": index.attr_index_arn, "vectorBucketArn": vectors.attr_vector_bucket_arn}})
        self.knowledge_base.node.add_dependency(role)  # the role's policy exists before Bedrock checks it
        self.data_source = bedrock.CfnDataSource(
            self, "RunDocuments", knowledge_base_id=self.knowledge_base.attr_knowledge_base_id,
            name=cdk.Names.unique_resource_name(self, max_length=100, separator="-") + "-documents",
            data_source_configuration={"type": "S3", "s3Configuration": {
                "bucketArn": documents_bucket_arns["knowledge_base"], "inclusionPrefixes": [DOCUMENTS_PREFIX]}},
            server_side_encryption_configuration={"kmsKeyArn": key_arn}, data_deletion_policy="DELETE")
        self.arn = self.knowledge_base.attr_knowledge_base_arn
        self.knowledge_base_id = self.knowledge_base.attr_knowledge_base_id
        self.data_source_id = self.data_source.attr_data_source_id
