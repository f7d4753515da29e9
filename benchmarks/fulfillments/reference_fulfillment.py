"""The baseline: the public Lex Web UI reference's streaming fulfillment loop.

Written the way the reference writes it: look up the connection, then for every chunk
the model yields, one synchronous `post_to_connection` inside the model loop, so each
chunk is its own billed message and the loop waits for every post before it reads on.
Two changes only, so that it runs at all and reads the same model as lexstream: the
session attribute test is a real membership test (the reference's `hasattr` on a dict
never streams), and the model is called with `converse_stream` (the reference's Claude
Instant text completion is retired).
"""

import os

import boto3
from lexstream_runtime import contract

dynamodb = boto3.resource("dynamodb")
bedrock = boto3.client("bedrock-runtime")
MODEL_ID = os.environ[contract.ENV_MODEL_ID]
MAX_TOKENS = int(os.environ[contract.ENV_MAX_TOKENS])


def handler(event, context):
    session_attributes = event["sessionState"].get("sessionAttributes") or {}
    streaming = (
        contract.SESSION_ATTR_ENDPOINT in session_attributes
        and contract.SESSION_ATTR_TABLE in session_attributes
    )
    if streaming:
        table = dynamodb.Table(session_attributes[contract.SESSION_ATTR_TABLE])
        item = table.get_item(Key={contract.SESSION_ID: event["sessionId"]})["Item"]
        connection_id = item[contract.CONNECTION_ID]
        apigateway = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=session_attributes[contract.SESSION_ATTR_ENDPOINT],
        )

    response = bedrock.converse_stream(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": event["inputTranscript"]}]}],
        inferenceConfig={"maxTokens": MAX_TOKENS},
    )
    answer = ""
    for model_event in response["stream"]:
        if "contentBlockDelta" in model_event:
            chunk = model_event["contentBlockDelta"]["delta"]["text"]
            answer += chunk
            if streaming:
                apigateway.post_to_connection(ConnectionId=connection_id, Data=chunk)

    intent = event["sessionState"]["intent"]
    return {
        "sessionState": {
            "sessionAttributes": session_attributes,
            "dialogAction": {"type": "Close"},
            "intent": {"name": intent["name"], "state": "Fulfilled"},
        },
        "messages": [{"contentType": "CustomPayload", "content": answer}],
    }
