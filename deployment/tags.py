"""The cost-allocation tag every stack applies (stacks/platform.py) and `python -m cost --actual` filters on."""

COST_TAG = ("project", "engagement-platform")
