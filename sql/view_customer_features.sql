-- The published run's pseudonymised customer features and actual labels (no PII, no tokens;
-- the customer id stays).
CREATE OR REPLACE VIEW engagement_analytics.customer_features AS
SELECT r.*
FROM engagement_analytics.customer_features_by_run AS r
JOIN engagement_analytics.published_run AS p ON r.run_id = p.run_id
