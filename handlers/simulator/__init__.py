"""The acquiring bank's simulator, for the local stack and test deployments (`bankSimulator: true`),
and its ledgers (memory, or the table under its own prefix). No other part of `handlers` imports it,
and the Lambda archive carries it only for a stack that deploys it (components.packaging)."""
