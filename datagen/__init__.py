"""Synthetic customers for the engagement platform, with known ground truth."""
