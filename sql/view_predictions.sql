-- The published run's predictions (see view_final_results.sql).
CREATE OR REPLACE VIEW engagement_predictions.predictions AS
SELECT r.*
FROM engagement_predictions.predictions_by_run AS r
JOIN engagement_analytics.published_run AS p ON r.run_id = p.run_id
