-- DataPreparation: everyone is scored. Target columns ride along but never reach the model
-- (the feature function excludes them; a test proves it).
CREATE TABLE engagement_raw.inference_{run_id}
WITH (
    format = 'PARQUET',
    write_compression = 'SNAPPY',
    external_location = 's3://{processed_bucket}/runs/{run_id}/inference/'
) AS
SELECT *
FROM engagement_raw.customers_bronze
WHERE run_id = '{run_id}'
