"""The local stack: both regional API gateways, the bank simulator, an embedded DynamoDB and a
Route 53 stand-in on localhost, serving the very Lambda handlers that deploy to AWS.

`python -m local_gateway --help` (or `make run`) starts it; docs/local.md describes the interface.
"""
