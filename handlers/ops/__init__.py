"""Operator tools run from a workstation, never deployed: merchants and API keys, pending payments
(`python -m handlers.admin`). Left out of the Lambda archive (components.packaging)."""
