-- The published run's QA sample (see view_final_results.sql).
CREATE OR REPLACE VIEW engagement_qa.human_review AS
SELECT r.*
FROM engagement_qa.human_review_by_run AS r
JOIN engagement_analytics.published_run AS p ON r.run_id = p.run_id
