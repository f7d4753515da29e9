"""The stack program under Pulumi's mocks: what it would deploy, without the CLI or AWS."""
