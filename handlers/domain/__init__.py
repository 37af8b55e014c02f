"""The payment domain: models and their allowed moves, errors, the ports it needs, and the use cases
(process, retrieve, list, settle from the bank's record, authenticate a key).

Plain Python: no AWS SDK, no Pulumi, no environment; it knows the adapters only through
`handlers.domain.ports`. It may read `handlers.contract`.
"""
