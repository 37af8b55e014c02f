"""The formats: merchant JSON in and out (the one cattrs converter, validation, the API Gateway
event and response mapping with the one error map) and the plain values a DynamoDB item holds.

Reads the domain and the contract; knows nothing of AWS clients or where requests come from.
"""
