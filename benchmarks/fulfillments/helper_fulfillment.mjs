// lexstream's Node.js side of the relay benchmark: the same model loop as the reference
// and the Python helper's, with the Node.js streaming helper doing the posting.
//
// This is how a bot developer uses the helper (docs/node-helper.md): open the stream for
// the turn, write every chunk as the model yields it (write never waits on the network),
// and close the turn with the full text.
import { BedrockRuntimeClient, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { closeResponse, openStream } from "lexstream-streaming";

// Clients once per cold start, as the reference does. ConverseStream over HTTP/1.1, as
// the local model serves it (docs/node-helper.md).
const bedrock = new BedrockRuntimeClient({ requestHandler: new NodeHttpHandler() });
const MODEL_ID = process.env.LEXSTREAM_MODEL_ID;
const MAX_TOKENS = Number(process.env.LEXSTREAM_MAX_TOKENS);

export const handler = async (event) => {
  const stream = await openStream(event);
  const response = await bedrock.send(
    new ConverseStreamCommand({
      modelId: MODEL_ID,
      messages: [{ role: "user", content: [{ text: event.inputTranscript }] }],
      inferenceConfig: { maxTokens: MAX_TOKENS },
    }),
  );
  for await (const modelEvent of response.stream) {
    const text = modelEvent.contentBlockDelta?.delta?.text;
    if (text) stream.write(text);
  }
  await stream.close();
  return closeResponse(event, stream.text);
};
