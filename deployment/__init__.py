"""What the synthesized app is, read from its cloud assembly: the stacks in deployment order
(`assembly`), the state machine definitions (`definition`) and the cost-allocation tag every stack
carries (`tags`). `cost/`, `tools/`, `stacks/` and `localcloud/` use it; it imports none of them.
"""
