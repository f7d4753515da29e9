"""The custom domain of the staging stack file: domain name, mapping, alias records, URLs."""

from __future__ import annotations

from lexstream_runtime import contract

from . import views as v
from .harness import StackRecord, record_stack

DOMAIN_NAME = "aws:apigatewayv2/domainName:DomainName"
API_MAPPING = "aws:apigatewayv2/apiMapping:ApiMapping"
RECORD = "aws:route53/record:Record"


def _staging() -> StackRecord:
    return record_stack("staging")


def test_the_domain_is_regional_tls_1_2_with_the_stacks_certificate() -> None:
    record = _staging()
    domain = record.one(DOMAIN_NAME)
    assert domain.inputs["domainName"] == v.setting(record, "customDomainName")
    assert domain.inputs["domainNameConfiguration"] == {
        "certificateArn": v.setting(record, "customDomainCertificateArn"),
        "endpointType": "REGIONAL",
        "securityPolicy": "TLS_1_2",
        "ipAddressType": "dualstack",
    }
    assert domain.inputs["tags"]["lexstream:component"] == "lexstream-staging"


def test_the_stage_is_mapped_at_the_domains_root() -> None:
    record = _staging()
    mapping = record.one(API_MAPPING)
    assert mapping.inputs == {
        "apiId": v.api(record).id,
        "domainName": record.one(DOMAIN_NAME).id,
        "stage": v.stage_name(record),
    }
    # No mapping key: wss://{domain}/ reaches the stage.
    assert "apiMappingKey" not in mapping.inputs


def test_alias_records_point_the_name_at_the_regional_domain() -> None:
    record = _staging()
    configuration = record.one(DOMAIN_NAME).outputs["domainNameConfiguration"]
    records = {r.inputs["type"]: r.inputs for r in record.of_type(RECORD)}
    assert set(records) == {"A", "AAAA"}
    for inputs in records.values():
        assert inputs["zoneId"] == v.setting(record, "customDomainHostedZoneId")
        assert inputs["name"] == v.setting(record, "customDomainName")
        assert inputs["aliases"] == [
            {
                "name": configuration["targetDomainName"],
                "zoneId": configuration["hostedZoneId"],
                "evaluateTargetHealth": False,
            }
        ]


def test_the_web_ui_connects_to_the_domain_and_functions_post_to_execute_api() -> None:
    record = _staging()
    domain = v.setting(record, "customDomainName")
    exports = record.exports
    assert exports["websocket_url"] == f"wss://{domain}"
    assert exports["web_ui_config"]["lex"]["streamingWebSocketEndpoint"] == f"wss://{domain}"
    host = f"{v.api(record).id}.execute-api.{v.region(record)}.{v.dns_suffix(record)}"
    assert exports["callback_url"] == f"https://{host}/{v.stage_name(record)}"
    for name in ("connect", "default"):
        variables = v.function(record, name).inputs["environment"]["variables"]
        assert variables[contract.ENV_CALLBACK_URL] == exports["callback_url"]


def test_the_example_takes_the_domains_url_for_its_callback_url() -> None:
    # The Web UI turns wss://{domain} into the streamingEndpoint https://{domain}.
    record = record_stack("staging", {"exampleFulfillment": True})
    variables = v.function(record, "bedrock_fulfillment").inputs["environment"]["variables"]
    assert (
        variables[contract.ENV_CALLBACK_ALIAS] == f"https://{v.setting(record, 'customDomainName')}"
    )
    assert variables[contract.ENV_CALLBACK_URL] == record.exports["callback_url"]


def test_without_a_hosted_zone_dns_is_left_to_the_user() -> None:
    record = record_stack("staging", {"customDomainHostedZoneId": ""})
    assert record.one(DOMAIN_NAME)
    assert record.one(API_MAPPING)
    assert not record.of_type(RECORD)


def test_stacks_without_a_domain_have_none_and_an_empty_alias(record: StackRecord) -> None:
    if v.setting(record, "customDomainName"):
        return
    assert not record.of_type(DOMAIN_NAME) + record.of_type(API_MAPPING) + record.of_type(RECORD)
    for function in record.of_type(v.FUNCTION):
        variables = function.inputs["environment"]["variables"]
        assert variables.get(contract.ENV_CALLBACK_ALIAS, "") == ""
