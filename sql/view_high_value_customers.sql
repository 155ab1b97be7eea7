-- Customers in the top 10% of expected (median) lifetime value, latest run.
CREATE OR REPLACE VIEW engagement_analytics.high_value_customers AS
SELECT *
FROM engagement_analytics.final_results
WHERE ltv_p50_usd >= (
    SELECT approx_percentile(ltv_p50_usd, 0.9) FROM engagement_analytics.final_results
)
