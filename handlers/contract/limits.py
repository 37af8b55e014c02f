"""The request limits the handlers enforce and the edge in front of them (WAF, API Gateway) mirrors."""

from __future__ import annotations

# A payment is ~250 bytes. 16 KiB is also the body WAF inspects in front of API Gateway, and its
# own rule refuses larger bodies with this same answer (components.edge; in front of an ALB, which
# WAF inspects less of, the edge's limit is lower).
MAX_BODY_BYTES = 16 * 1024
# How much of a body WAF sees (and inspects) in front of each kind of origin: API Gateway's default
# (16 KB, raised only for a fee, not here) and an ALB's fixed 8 KB. A larger body is "oversize", and
# the edge refuses it (components.edge.body_limit); the local stack's container mode does the same.
API_GATEWAY_BODY_INSPECTION_BYTES = 16 * 1024
LOAD_BALANCER_BODY_INSPECTION_BYTES = 8 * 1024
