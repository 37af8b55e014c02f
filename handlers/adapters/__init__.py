"""The ports' implementations over the network: DynamoDB (payments, idempotency claims, API keys,
heartbeats) and the acquiring bank's HTTP API. They turn their clients' failures into domain errors.
"""
