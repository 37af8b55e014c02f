"""API Gateway's REST API (v1) Lambda proxy integration, in-process: routing by resource path, the
REQUEST authorizer step and its cache, the proxy event and the result -> HTTP response mapping.

Shared by the local stack (local_gateway, in front of the Lambda handlers) and the container
compute option (container.app, behind the ALB), so both serve the handlers exactly as API Gateway
does. Production code: it ships in the container image; nothing here is a test helper.
"""
