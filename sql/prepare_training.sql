-- DataPreparation: the 80% training split of this run's bronze customers, by a stable hash of
-- customer_id (the same customer lands in the same split in every run).
CREATE TABLE {training_data_table}
WITH (
    format = 'PARQUET',
    write_compression = 'SNAPPY',
    external_location = '{training_data}'
) AS
SELECT *
FROM engagement_raw.customers_bronze
WHERE run_id = '{run_id}'
  AND crc32(to_utf8(customer_id)) % 10 < 8
