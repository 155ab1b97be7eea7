-- Publish (last): the stable name now reads this run's QA sample.
CREATE OR REPLACE VIEW engagement_qa.human_review AS
SELECT * FROM engagement_qa.human_review_{run_id}
