-- Publish (last): the stable name now reads this run's predictions.
CREATE OR REPLACE VIEW engagement_predictions.predictions AS
SELECT * FROM engagement_predictions.predictions_by_run
WHERE run_id = '{run_id}'
