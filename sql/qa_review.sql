-- QA table: about 400 predictions for people to review, each with the reason it was picked:
-- the 100 highest and 100 lowest predictions, the 100 largest errors on the test split (rows
-- no model saw in training), and 100 picked at random (a stable hash) as a baseline.
CREATE TABLE {human_review_table}
WITH (
    format = 'PARQUET',
    write_compression = 'SNAPPY',
    external_location = '{human_review}'
) AS
WITH scored AS (
    SELECT
        p.customer_id,
        p.predicted_engagement_score,
        b.engagement_score AS actual_engagement_score,
        abs(p.predicted_engagement_score - b.engagement_score) AS absolute_error,
        p.churn_probability,
        b.churn_30_day AS actual_churn_30_day,
        p.ltv_p50_usd,
        p.anomaly_score,
        p.segment_name,
        p.reason_1_feature,
        p.reason_1_contribution,
        p.reason_2_feature,
        p.reason_2_contribution,
        p.reason_3_feature,
        p.reason_3_contribution,
        crc32(to_utf8(p.customer_id)) % 10 >= 8 AS in_test_split,
        crc32(to_utf8(concat(p.customer_id, '{run_id}'))) AS review_order
    FROM engagement_predictions.predictions_by_run AS p
    JOIN engagement_raw.customers_bronze AS b
        ON b.customer_id = p.customer_id AND b.run_id = '{run_id}'
    WHERE p.run_id = '{run_id}'
),
picked AS (
    SELECT * FROM (
        SELECT *, 'top_prediction' AS qa_reason FROM scored ORDER BY predicted_engagement_score DESC LIMIT 100
    )
    UNION ALL
    SELECT * FROM (
        SELECT *, 'bottom_prediction' AS qa_reason FROM scored ORDER BY predicted_engagement_score ASC LIMIT 100
    )
    UNION ALL
    SELECT * FROM (
        SELECT *, 'large_error' AS qa_reason FROM scored WHERE in_test_split ORDER BY absolute_error DESC LIMIT 100
    )
    UNION ALL
    SELECT * FROM (
        SELECT *, 'random_baseline' AS qa_reason FROM scored ORDER BY review_order LIMIT 100
    )
)
SELECT
    customer_id, qa_reason, predicted_engagement_score, actual_engagement_score, absolute_error,
    churn_probability, actual_churn_30_day, ltv_p50_usd, anomaly_score, segment_name,
    reason_1_feature, reason_1_contribution, reason_2_feature, reason_2_contribution,
    reason_3_feature, reason_3_contribution, in_test_split,
    CAST(NULL AS varchar) AS reviewer_verdict,
    CAST(NULL AS varchar) AS reviewer_notes,
    '{run_id}' AS run_id
FROM picked
