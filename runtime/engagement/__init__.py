"""Domain code shared by the Lambda handlers, the ML container, the generator and the CDK app."""
