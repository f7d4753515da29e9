"""lexstream's side of the relay benchmark: the same model loop as the reference, with
the fulfillment helper doing the posting.

This is how a bot developer uses the helper (docs/fulfillment-helper.md): open the
stream for the turn, write every chunk as the model yields it (the write never waits for
the network), and close the turn with the full text.
"""

import os

import boto3
from lexstream_runtime import close_response, contract, open_stream

# Clients once per cold start, as the reference does.
bedrock = boto3.client("bedrock-runtime")
dynamodb = boto3.client("dynamodb")
MODEL_ID = os.environ[contract.ENV_MODEL_ID]
MAX_TOKENS = int(os.environ[contract.ENV_MAX_TOKENS])


def handler(event, context):
    with open_stream(event, dynamodb=dynamodb) as stream:
        response = bedrock.converse_stream(
            modelId=MODEL_ID,
            messages=[{"role": "user", "content": [{"text": event["inputTranscript"]}]}],
            inferenceConfig={"maxTokens": MAX_TOKENS},
        )
        for model_event in response["stream"]:
            if "contentBlockDelta" in model_event:
                stream.write(model_event["contentBlockDelta"]["delta"]["text"])
    return close_response(event, stream.text)
