-- Results: every customer with every model output and the derived tiers. No PII: tokens stay
-- in bronze; age appears only as a band; gender is kept for fairness monitoring. The run's folder
-- becomes the run's partition of engagement_analytics.final_results_by_run (RegisterRunTables).
CREATE TABLE {final_results_table}
WITH (
    format = 'PARQUET',
    write_compression = 'SNAPPY',
    external_location = '{final_results}'
) AS
SELECT
    p.customer_id,
    b.location,
    b.gender,
    CASE
        WHEN b.age < 25 THEN '18-24'
        WHEN b.age < 35 THEN '25-34'
        WHEN b.age < 45 THEN '35-44'
        WHEN b.age < 55 THEN '45-54'
        ELSE '55+'
    END AS age_band,
    b.device_type,
    b.avg_daily_logins,
    b.avg_session_duration_min,
    b.days_since_last_login,
    b.total_connections,
    b.transaction_revenue_month,
    p.predicted_engagement_score,
    b.engagement_score AS actual_engagement_score,
    CASE
        WHEN p.predicted_engagement_score >= 0.66 THEN 'high'
        WHEN p.predicted_engagement_score >= 0.33 THEN 'medium'
        ELSE 'low'
    END AS predicted_engagement_category,
    CASE
        WHEN abs(p.predicted_engagement_score - b.engagement_score) < 0.05 THEN 'accurate'
        WHEN abs(p.predicted_engagement_score - b.engagement_score) < 0.15 THEN 'acceptable'
        ELSE 'poor'
    END AS prediction_quality,
    p.churn_probability,
    p.churn_flag,
    CASE
        WHEN p.churn_probability >= 0.6 THEN 'high'
        WHEN p.churn_probability >= 0.3 THEN 'medium'
        ELSE 'low'
    END AS churn_risk_tier,
    b.churn_30_day AS actual_churn_30_day,
    p.ltv_p10_usd,
    p.ltv_p50_usd,
    p.ltv_p90_usd,
    p.content_interest_1,
    p.content_interest_2,
    p.content_interest_3,
    p.anomaly_score,
    p.anomaly_flag,
    p.segment_id,
    p.segment_name,
    p.reason_1_feature, p.reason_1_value, p.reason_1_contribution,
    p.reason_2_feature, p.reason_2_value, p.reason_2_contribution,
    p.reason_3_feature, p.reason_3_value, p.reason_3_contribution,
    p.reason_4_feature, p.reason_4_value, p.reason_4_contribution,
    p.reason_5_feature, p.reason_5_value, p.reason_5_contribution,
    p.churn_reason_1_feature, p.churn_reason_1_contribution,
    p.churn_reason_2_feature, p.churn_reason_2_contribution,
    p.churn_reason_3_feature, p.churn_reason_3_contribution,
    p.model_version,
    p.scored_at,
    b.account_type,
    '{run_id}' AS run_id
FROM engagement_predictions.predictions_by_run AS p
JOIN engagement_raw.customers_bronze AS b
    ON b.customer_id = p.customer_id AND b.run_id = '{run_id}'
WHERE p.run_id = '{run_id}'
