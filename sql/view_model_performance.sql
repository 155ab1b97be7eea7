-- Prediction quality by segment and account type, latest run.
CREATE OR REPLACE VIEW engagement_analytics.model_performance AS
SELECT
    segment_name,
    account_type,
    count(*) AS customers,
    avg(predicted_engagement_score) AS mean_predicted_engagement,
    avg(actual_engagement_score) AS mean_actual_engagement,
    avg(abs(predicted_engagement_score - actual_engagement_score)) AS engagement_mae,
    sqrt(avg(power(predicted_engagement_score - actual_engagement_score, 2))) AS engagement_rmse,
    avg(churn_probability) AS mean_churn_probability,
    avg(CASE WHEN actual_churn_30_day THEN 1.0 ELSE 0.0 END) AS actual_churn_rate,
    avg(CASE WHEN prediction_quality = 'accurate' THEN 1.0 ELSE 0.0 END) AS share_accurate
FROM engagement_analytics.final_results
GROUP BY segment_name, account_type
