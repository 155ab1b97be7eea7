"""The embedded local cloud: runs the synthesized CDK app without an AWS account or Docker."""
