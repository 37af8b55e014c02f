"""API Gateway's REST API (v1) Lambda proxy integration, in-process: routing by resource path, the
REQUEST authorizer step and its cache, the proxy event, the result -> HTTP response mapping, and
the gateway responses API Gateway makes itself (rendered from handlers/contract/gateway_errors.py).

Shared by the local stack (local_gateway, in front of the Lambda handlers) and the container
compute option (container.app, behind the ALB), so both serve the handlers exactly as API Gateway
does. Production code: it ships in the container image; nothing here is a test helper.
"""
