-- Real (non-anomalous) customers at high risk of churning, latest run, with the top reasons.
CREATE OR REPLACE VIEW engagement_analytics.at_risk_customers AS
SELECT
    customer_id, segment_name, account_type, churn_probability, churn_risk_tier, ltv_p50_usd,
    predicted_engagement_score, churn_reason_1_feature, churn_reason_2_feature, churn_reason_3_feature
FROM engagement_analytics.final_results
WHERE churn_risk_tier = 'high' AND NOT anomaly_flag
