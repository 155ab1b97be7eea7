-- DataPreparation: the 20% test split (never used to fit or tune a model).
CREATE TABLE engagement_raw.test_{run_id}
WITH (
    format = 'PARQUET',
    write_compression = 'SNAPPY',
    external_location = 's3://{processed_bucket}/runs/{run_id}/test/'
) AS
SELECT *
FROM engagement_raw.customers_bronze
WHERE run_id = '{run_id}'
  AND crc32(to_utf8(customer_id)) % 10 >= 8
