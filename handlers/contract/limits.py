"""The request limits the handlers enforce and the edge in front of them (WAF, API Gateway) mirrors."""

from __future__ import annotations

# A payment is ~250 bytes. 16 KiB is also the body WAF inspects in front of API Gateway, and its
# own rule refuses larger bodies with this same answer (components.edge; in front of an ALB, which
# WAF inspects less of, the edge's limit is lower).
MAX_BODY_BYTES = 16 * 1024
