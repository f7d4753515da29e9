"""The optional custom domain: a regional API Gateway domain name with the stage mapped
at its root, and, given a hosted zone, its Route 53 alias records.

With the stage at the root (an empty mapping key), the browser's socket URL is
`wss://{domain}` and the Lex Web UI derives `streamingEndpoint` = `https://{domain}` from
it; fulfillment functions still post to the execute-api callback URL, and the helper
treats the domain's URL as an alias of it.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .children import Children

# WebSocket APIs accept only TLS 1.2 on custom domains, and only regional endpoints.
SECURITY_POLICY = "TLS_1_2"
ENDPOINT_TYPE = "REGIONAL"
# Served over IPv4 and IPv6, so the AAAA alias has something to point at.
IP_ADDRESS_TYPE = "dualstack"
ALIAS_RECORD_TYPES = ("A", "AAAA")


def https_alias(domain_name: str | None) -> str:
    """The URL the Web UI names as `streamingEndpoint` on `domain_name` ("" without one)."""
    return f"https://{domain_name}" if domain_name else ""


class CustomDomain:
    """`domain_name` serving `stage` of `api` at its root, with its certificate."""

    def __init__(
        self,
        children: Children,
        *,
        api: aws.apigatewayv2.Api,
        stage: aws.apigatewayv2.Stage,
        domain_name: str,
        certificate_arn: str,
        hosted_zone_id: str | None,
    ) -> None:
        self.domain = children.create(
            "domain_name",
            aws.apigatewayv2.DomainName,
            "domain",
            domain_name=domain_name,
            domain_name_configuration=aws.apigatewayv2.DomainNameDomainNameConfigurationArgs(
                certificate_arn=certificate_arn,
                endpoint_type=ENDPOINT_TYPE,
                security_policy=SECURITY_POLICY,
                ip_address_type=IP_ADDRESS_TYPE,
            ),
        )
        # No mapping key: wss://{domain}/ reaches the stage, as the Web UI's URL has no path.
        self.mapping = children.create(
            "api_mapping",
            aws.apigatewayv2.ApiMapping,
            "api-mapping",
            api_id=api.id,
            domain_name=self.domain.id,
            stage=stage.name,
        )
        self.records: list[aws.route53.Record] = []
        if hosted_zone_id is not None:
            configuration = self.domain.domain_name_configuration
            target = aws.route53.RecordAliasArgs(
                name=configuration.apply(lambda c: c.target_domain_name),
                zone_id=configuration.apply(lambda c: c.hosted_zone_id),
                evaluate_target_health=False,
            )
            self.records = [
                children.create(
                    "dns_record",
                    aws.route53.Record,
                    f"domain-{record_type.lower()}",
                    zone_id=hosted_zone_id,
                    name=domain_name,
                    type=record_type,
                    aliases=[target],
                )
                for record_type in ALIAS_RECORD_TYPES
            ]
        # Known once the mapping exists, so nothing hands out the URL before it works.
        self.websocket_url: pulumi.Output[str] = pulumi.Output.concat(
            "wss://", self.mapping.domain_name
        )
