"""Monitoring of one region's gateway: alarms to an encrypted SNS topic, and a dashboard.

Alarms (every one with alarm AND ok actions to the topic of its region):
- what serves the API, from its metrics source (sources.py): `LambdaMetrics`, the REST API's error rates
  and p99 latency; `ContainerMetrics`, the load balancer's and the Fargate service's;
- per function: Errors, Throttles, p99 Duration near the timeout;
- per route function: the rate of its 5xx answers (EMF `Responses` by status class, from the
  handlers' entry point): handled failures are answers, not Lambda errors;
- table: ThrottledRequests and SystemErrors summed over the operations the functions use;
- ReplicationLatency from this region to every other replica region;
- payment outcomes (EMF from the handlers and the resolver): the oldest pending payment's age,
  payments whose outcome could not be stored, resolver failures, reversals, and each other
  region's replication heartbeat age (missing data breaches: a silent resolver is the failure);
- the Route 53 health check, when there is one (in us-east-1, with a topic there).

The alarms and the dashboard are plain data built by functions without Pulumi (model.py, alarms.py,
sources.py, dashboard.py; tests/infra/test_monitoring_specs.py tests them as such); `Monitoring`
(component.py) turns them into resources. Where a new alarm or graph goes: docs/infrastructure.md.
"""

from components.monitoring.component import Monitoring
from components.monitoring.model import AlarmSpec, AlarmThresholds, MetricsSource, MonitoringArgs, Widget
from components.monitoring.sources import ContainerMetrics, LambdaMetrics

__all__ = [
    "AlarmSpec",
    "AlarmThresholds",
    "ContainerMetrics",
    "LambdaMetrics",
    "MetricsSource",
    "Monitoring",
    "MonitoringArgs",
    "Widget",
]
