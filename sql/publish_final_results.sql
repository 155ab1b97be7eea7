-- Publish (last): the stable name now reads this run's results.
CREATE OR REPLACE VIEW engagement_analytics.final_results AS
SELECT * FROM engagement_analytics.final_results_{run_id}
