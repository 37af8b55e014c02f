"""What the handlers, the infrastructure (components/) and the local stack agree on, as plain data.

The table's key schema, the routes and the functions that serve them, the request limits, the
words of the API's answers (the handlers', API Gateway's and WAF's) and the resolver's settings.
This package is the leaf of `handlers`: it imports nothing else from it, and no AWS or Pulumi
library, so the Pulumi program can read it without loading the code that serves requests.
"""
