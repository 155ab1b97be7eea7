"""Columns of the predictions the inference task writes (one row per customer per run).

The inference code builds exactly these columns in this order, and the Glue table
`engagement_predictions.predictions_by_run` is declared from this list; a test ties the two.
"""

REASONS = 5

_REASON_COLUMNS = tuple(
    column
    for prefix, model in (("", "engagement"), ("churn_", "churn"))
    for i in range(1, REASONS + 1)
    for column in (
        (f"{prefix}reason_{i}_feature", "string", f"{model} reason {i}: feature"),
        (f"{prefix}reason_{i}_value", "double", f"{model} reason {i}: the customer's value of that feature"),
        (f"{prefix}reason_{i}_contribution", "double", f"{model} reason {i}: signed contribution (model margin)"),
    )
)

PREDICTION_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("customer_id", "string", "Customer identifier"),
    ("predicted_engagement_score", "double", "Predicted daily engagement (0-1)"),
    ("churn_probability", "double", "Probability of churning within 30 days"),
    ("churn_flag", "boolean", "Churn probability at or above the threshold chosen for >= 80% recall"),
    ("ltv_p10_usd", "double", "Lifetime value, 10th percentile"),
    ("ltv_p50_usd", "double", "Lifetime value, median"),
    ("ltv_p90_usd", "double", "Lifetime value, 90th percentile"),
    ("content_interest_1", "string", "Most likely content category"),
    ("content_interest_2", "string", "Second most likely content category"),
    ("content_interest_3", "string", "Third most likely content category"),
    ("content_interest_1_probability", "double", "Probability of the most likely category"),
    ("anomaly_score", "double", "Isolation Forest anomaly score (0-1, higher is more anomalous)"),
    ("anomaly_flag", "boolean", "Anomaly score at or above the threshold fitted in training (about the top 1%)"),
    ("segment_id", "bigint", "K-Means cluster"),
    ("segment_name", "string", "Persona of the cluster"),
    *_REASON_COLUMNS,
    ("model_version", "string", "Model version (the training run)"),
    ("scored_at", "timestamp", "When the row was scored (UTC)"),
)
PREDICTION_COLUMN_NAMES = tuple(name for name, _, _ in PREDICTION_COLUMNS)

# Columns sql/final_results.sql derives from the predictions (name, type, what it is).
DERIVED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("predicted_engagement_category", "string", "Predicted engagement band: high (>= 0.66), medium (>= 0.33), low"),
    ("prediction_quality", "string", "How close the predicted engagement was to the actual: accurate (< 0.05 apart), "
                                     "acceptable (< 0.15), poor"),
    ("churn_risk_tier", "string", "Churn probability band: high (>= 0.6), medium (>= 0.3), low"),
)

# The prediction outputs the assistant reads beside the features (no PII) (its view,
# sql/view_assistant_customers.sql, holds no customer id).
ASSISTANT_PREDICTIONS = ("predicted_engagement_score", "predicted_engagement_category", "prediction_quality",
                         "churn_probability", "churn_flag", "churn_risk_tier", "ltv_p10_usd", "ltv_p50_usd",
                         "ltv_p90_usd", "content_interest_1", "content_interest_2", "content_interest_3",
                         "anomaly_score", "anomaly_flag", "segment_name", "reason_1_feature", "churn_reason_1_feature")
