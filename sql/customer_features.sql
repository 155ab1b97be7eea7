-- The run's customers as the models saw them, pseudonymised: every model feature and every actual
-- label under the customer id, no name, email or signup date (not even as tokens), age only as a
-- band. The assistant reads it without the id (view_assistant_customers.sql). The run's folder
-- becomes the run's partition of
-- engagement_analytics.customer_features_by_run (RegisterRunTables).
CREATE TABLE {customer_features_table}
WITH (
    format = 'PARQUET',
    write_compression = 'SNAPPY',
    external_location = '{customer_features}'
) AS
SELECT
    customer_id,
    CASE
        WHEN age < 25 THEN '18-24'
        WHEN age < 35 THEN '25-34'
        WHEN age < 45 THEN '35-44'
        WHEN age < 55 THEN '45-54'
        ELSE '55+'
    END AS age_band,
    gender,
    location,
    account_type,
    avg_daily_logins,
    avg_session_duration_min,
    num_messages_sent_per_day,
    num_events_joined_month,
    num_new_connections_month,
    influencer_follow_score,
    days_since_last_login,
    churn_risk_score,
    avg_reactions_per_post,
    avg_comments_per_post,
    content_posts_per_week,
    avg_scroll_depth_pct,
    notification_click_rate,
    device_type,
    time_of_day_active,
    friend_group_participation_score,
    premium_feature_usage_rate,
    avg_ads_engagement_rate,
    social_influence_score,
    match_success_rate,
    profile_views_received_week,
    gig_applications_sent_month,
    gig_listings_active,
    transaction_revenue_month,
    content_virality_score,
    swipe_like_ratio,
    avg_job_completion_rating,
    total_connections,
    avg_sentiment_score,
    network_centrality,
    time_since_first_transaction_days,
    response_time_avg_hours,
    peak_activity_hour,
    content_diversity_score,
    referral_count,
    session_consistency_score,
    premium_features_used_count,
    last_7_day_engagement_trend,
    social_influence_tier,
    trust_score,
    engagement_score,
    churn_30_day,
    lifetime_value_usd,
    content_category_primary,
    '{run_id}' AS run_id
FROM engagement_raw.customers_bronze
WHERE run_id = '{run_id}'
