-- DataPreparation: the 20% test split (never used to fit or tune a model).
CREATE TABLE {test_data_table}
WITH (
    format = 'PARQUET',
    write_compression = 'SNAPPY',
    external_location = '{test_data}'
) AS
SELECT *
FROM engagement_raw.customers_bronze
WHERE run_id = '{run_id}'
  AND crc32(to_utf8(customer_id)) % 10 >= 8
