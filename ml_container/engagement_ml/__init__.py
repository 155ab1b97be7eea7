"""Training, scoring, explanations and fairness for the engagement platform (the Fargate image)."""
