"""The Lambda functions' entry points, each thin: the API's routes (`api`, wrapped by `http_handler`),
the authorizer, the scheduled resolver (`resolver_job`), and what they share: the settings read from
the environment, the composition root (`wiring`), logs and metrics, and the SnapStart hooks."""
