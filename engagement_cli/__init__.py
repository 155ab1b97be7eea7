"""The product's own command line on the embedded local cloud (`python -m engagement_cli`)."""
