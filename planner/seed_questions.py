"""The seed's 40 questions (requirements section 7.2), by category: what the assistant is held to."""

SEED_QUESTIONS = {
    "Engagement drivers": (
        "What are the top 5 features that predict high engagement?",
        "How does premium account status affect engagement scores?",
        "What engagement patterns separate the top 10% users from bottom 10%?",
        "Which time of day has the most engaged users?",
        "Do mobile users engage more than desktop users?",
        "What's the correlation between match success rate and overall engagement?",
        "How does content posting frequency impact engagement?",
        "What role does social influence score play in daily active usage?",
    ),
    "Low engagement improvement": (
        "What features differentiate low-engaged users from high-engaged users?",
        "If I could change one behavior in low-engagement customers, what should it be?",
        "What premium features drive the biggest engagement lift?",
        "How can we increase engagement for users with high churn risk?",
        "What interventions work best for users who haven't logged in for 7+ days?",
        "Should we target inactive users with notifications? What's the CTR correlation?",
        "How does adding new connections per month affect engagement trajectories?",
    ),
    "Segmentation and personas": (
        "Describe the typical 'high engagement' user profile.",
        "What are the key segments in our user base by engagement level?",
        "How does engagement differ across age groups?",
        "What locations have the most engaged users?",
        "Is there a 'power user' archetype? What defines them?",
    ),
    "Product and feature insights": (
        "Do gig sellers (active listings > 0) have higher engagement than buyers?",
        "What's the relationship between transaction revenue and engagement?",
        "Does content virality predict sustained engagement?",
        "How important is friend group participation to overall engagement?",
        "Do users with high job completion ratings engage more?",
    ),
    "Risk and retention": (
        "What engagement score threshold indicates churn risk?",
        "How many days of low engagement predict churn?",
        "What can we do to retain users with engagement scores below 0.3?",
        "Are there early warning signs in the first 30 days of usage?",
    ),
    "ROI and business impact": (
        "What's the predicted engagement uplift if we convert 10% of free users to premium?",
        "If we improve notification click rate by 20%, how does engagement change?",
        "What's the cost-benefit of incentivizing more content posts per week?",
    ),
    "Model performance": (
        "How accurate is the engagement prediction model?",
        "What's the RMSE and R² of the latest model?",
        "Which features does the model find least important?",
        "Are there any overfitting concerns?",
    ),
    "Data quality and exploration": (
        "Show me summary statistics for all features.",
        "Are there any missing values or data quality issues?",
        "What's the distribution of engagement scores?",
        "How many users are in each engagement quartile?",
    ),
}
