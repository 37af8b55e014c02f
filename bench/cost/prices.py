"""AWS list prices the cost model uses, their units and how sure each figure is, and the month.

Every price is a public list price (PRICE_NOTES: the unit, the region and how sure the figure is).
The month is 30 days (720 h): 10,000 requests/minute is then 432 million.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SECONDS_PER_MONTH = 30 * 24 * 3600
HOURS_PER_MONTH = 30 * 24
MILLION = 1_000_000
GB = 1024**3
PRICES_AS_OF = "list prices as I know them from AWS's public pricing pages, early-to-mid 2025"


@dataclass(frozen=True)
class Prices:
    """USD, us-east-1 unless noted. eu-west-1 is the same or up to ~13% higher (PRICE_NOTES)."""

    apigw_rest_tiers: tuple[tuple[float, float], ...] = ((333e6, 3.50), (667e6, 2.80), (19e9, 2.38), (math.inf, 1.51))
    apigw_http_tiers: tuple[tuple[float, float], ...] = ((300e6, 1.00), (math.inf, 0.90))
    lambda_request_per_million: float = 0.20
    lambda_gb_second: dict[str, float] = field(default_factory=lambda: {"arm64": 0.0000133334, "x86_64": 0.0000166667})
    dynamodb_wru_per_million: float = 0.625
    dynamodb_rwru_per_million: float = 0.625
    dynamodb_rru_per_million: float = 0.125
    dynamodb_wcu_hour: float = 0.00065
    dynamodb_rwcu_hour: float = 0.00065
    dynamodb_rcu_hour: float = 0.00013
    dynamodb_storage_gb_month: float = 0.25
    dynamodb_pitr_gb_month: float = 0.20
    waf_web_acl_month: float = 5.00
    waf_rule_month: float = 1.00
    waf_requests_per_million: float = 0.60
    logs_ingest_gb: float = 0.50
    logs_storage_gb_month: float = 0.03
    xray_traces_per_million: float = 5.00
    xray_free_traces: float = 100_000
    route53_health_check_month: float = 0.75
    route53_health_check_feature_month: float = 2.00
    route53_zone_month: float = 0.50
    route53_latency_queries_per_million: float = 0.60
    kms_key_month: float = 1.00
    kms_requests_per_10k: float = 0.03
    transfer_out_gb: float = 0.09
    transfer_inter_region_gb: float = 0.02
    cloudwatch_alarm_month: float = 0.10
    cloudwatch_metric_month: float = 0.30
    fargate_vcpu_hour: dict[str, float] = field(default_factory=lambda: {"arm64": 0.03238, "x86_64": 0.04048})
    fargate_gb_hour: dict[str, float] = field(default_factory=lambda: {"arm64": 0.00356, "x86_64": 0.004445})
    alb_hour: float = 0.0225
    alb_lcu_hour: float = 0.008
    nat_hour: float = 0.045
    nat_gb: float = 0.045
    interface_endpoint_hour: float = 0.01
    interface_endpoint_gb: float = 0.01
    secret_month: float = 0.40
    public_ipv4_hour: float = 0.005
    s3_gb_month: float = 0.023
    # The container option's prices that differ by region: (eu-west-1, us-east-1); other regions use us-east-1's.
    regional: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "eu-west-1": {
                "fargate_arm64_vcpu_hour": 0.03238,
                "fargate_arm64_gb_hour": 0.00356,
                "alb_hour": 0.0252,
                "nat_hour": 0.048,
                "nat_gb": 0.048,
                "interface_endpoint_hour": 0.011,
            },
            "us-east-1": {
                "fargate_arm64_vcpu_hour": 0.03238,
                "fargate_arm64_gb_hour": 0.00356,
                "alb_hour": 0.0225,
                "nat_hour": 0.045,
                "nat_gb": 0.045,
                "interface_endpoint_hour": 0.01,
            },
        }
    )


# (unit, note); a note starting with "unsure" marks a figure to check before relying on it.
PRICE_NOTES: dict[str, tuple[str, str]] = {
    "apigw_rest_tiers": ("per million requests, per region", "333M at $3.50, next 667M at $2.80; same in eu-west-1"),
    "apigw_http_tiers": ("per million requests, per region", "unsure for eu-west-1 (may be ~$1.11/M there)"),
    "lambda_request_per_million": ("per million invocations", "all regions"),
    "lambda_gb_second": ("per GB-second", "first pricing tier (6B GB-s x86, 7.5B arm64); eu-west-1 identical"),
    "dynamodb_wru_per_million": ("on-demand write request unit", "after the Nov 2024 cut; eu-west-1 ~$0.7063"),
    "dynamodb_rwru_per_million": ("replicated WRU (global tables)", "unsure: after the Nov 2024 cut (was $1.875)"),
    "dynamodb_rru_per_million": ("on-demand read request unit", "after the Nov 2024 cut; eu-west-1 ~$0.1415"),
    "dynamodb_wcu_hour": ("provisioned WCU-hour", "eu-west-1 $0.000735"),
    "dynamodb_rwcu_hour": ("provisioned replicated WCU-hour", "unsure: after the Nov 2024 cut (was $0.000975)"),
    "dynamodb_rcu_hour": ("provisioned RCU-hour", "eu-west-1 $0.000147"),
    "dynamodb_storage_gb_month": ("GB-month, Standard table class", "eu-west-1 $0.283"),
    "dynamodb_pitr_gb_month": ("GB-month of continuous backup", "eu-west-1 ~$0.226"),
    "waf_web_acl_month": ("per web ACL per month", ""),
    "waf_rule_month": ("per rule or rule group per month", "AWS free managed groups count as one rule each"),
    "waf_requests_per_million": ("per million requests inspected", "up to 1,500 WCU of rules"),
    "logs_ingest_gb": ("per GB ingested (Standard class)", "eu-west-1 ~$0.57; Lambda logs tiered since 2025"),
    "logs_storage_gb_month": ("per GB-month archived (compressed)", ""),
    "xray_traces_per_million": ("per million traces recorded", "first 100,000 a month free"),
    "xray_free_traces": ("traces per month", "free tier"),
    "route53_health_check_month": ("per health check per month", "unsure: non-AWS-endpoint price used"),
    "route53_health_check_feature_month": ("per optional feature (HTTPS, fast interval)", "unsure, as above"),
    "route53_zone_month": ("per hosted zone per month", ""),
    "route53_latency_queries_per_million": ("per million latency-based queries", ""),
    "kms_key_month": ("per customer-managed key per month", ""),
    "kms_requests_per_10k": ("per 10,000 API requests", ""),
    "transfer_out_gb": ("per GB to the internet", "first 10 TB"),
    "transfer_inter_region_gb": ("per GB between regions", "global-table replication traffic"),
    "cloudwatch_alarm_month": ("per standard-resolution alarm metric", ""),
    "cloudwatch_metric_month": ("per custom metric (EMF)", "first 10,000 metrics"),
    "fargate_vcpu_hour": ("per vCPU-hour, Linux", "arm64 / x86_64"),
    "fargate_gb_hour": ("per GB-hour, Linux", "arm64 / x86_64"),
    "alb_hour": ("per load balancer-hour", ""),
    "alb_lcu_hour": ("per LCU-hour", ""),
    "nat_hour": ("per NAT gateway-hour", "containers in private subnets reach the bank through it"),
    "nat_gb": ("per GB through a NAT gateway", ""),
    "interface_endpoint_hour": ("per interface endpoint per AZ-hour", "the alternative to the NAT for AWS APIs"),
    "interface_endpoint_gb": ("per GB through an interface endpoint", ""),
    "secret_month": ("per Secrets Manager secret per month", "FINGERPRINT_KEY, BANK_URL and CURSOR_KEY for the tasks"),
    "public_ipv4_hour": (
        "per public IPv4 address-hour, in use or idle",
        "since February 2024 (Amazon VPC pricing, Public IPv4 Address): NAT Elastic IPs, ALB addresses",
    ),
    "s3_gb_month": ("per GB-month, S3 Standard", "ALB access logs (gzip)"),
    "regional": (
        "the container option per region",
        "unsure: eu-west-1 Fargate arm64 taken equal to us-east-1; ALB and NAT eu-west-1 ~7-12% higher",
    ),
}
