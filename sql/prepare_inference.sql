-- DataPreparation: everyone is scored. Target columns ride along but never reach the model
-- (the feature function excludes them; a test proves it).
CREATE TABLE {inference_data_table}
WITH (
    format = 'PARQUET',
    write_compression = 'SNAPPY',
    external_location = '{inference_data}'
) AS
SELECT *
FROM engagement_raw.customers_bronze
WHERE run_id = '{run_id}'
