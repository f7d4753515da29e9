// Callback URLs: checked before any client is built, matched against the pinned one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { callbackUrlOf, callbackUrlProblem, sameEndpoint } from "../dist/index.js";

const OWN = "https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod";

test("https and loopback http URLs are accepted", () => {
  for (const url of [OWN, "http://127.0.0.1:8080/local", "http://localhost/local", "http://[::1]:80/x"]) {
    assert.equal(callbackUrlProblem(url), "", url);
  }
});

test("every other URL is refused with what is wrong", () => {
  const cases = {
    "http://169.254.169.254/latest": /plain http only to this machine/,
    "ftp://127.0.0.1/local": /must be an https URL/,
    "https://": /has no host/,
    "not a url": /must be an https URL/,
    "http://[::1/broken": /not a valid URL/,
    "http://127.0.0.1:99999/local": /not a valid URL/,
    "http://127.0.0.1:0/local": /port 0/,
    [`https://user:secret@abc123defg.execute-api.us-east-1.amazonaws.com/Prod`]: /user name or password/,
    [`${OWN}?stage=Dev`]: /query or fragment/,
    [`${OWN}#`]: /query or fragment/,
  };
  for (const [url, problem] of Object.entries(cases)) assert.match(callbackUrlProblem(url), problem, url);
});

test("the pinned URL matches whatever case, default port or trailing slash, and nothing else", () => {
  assert.ok(sameEndpoint("HTTPS://ABC123DEFG.execute-api.us-east-1.amazonaws.com:443/Prod/", OWN));
  for (const other of [
    "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
    "https://abc123defg.execute-api.us-east-1.amazonaws.com.evil.example/Prod",
    "https://abc123defg.execute-api.us-east-1.amazonaws.com:notaport/Prod",
  ]) {
    assert.equal(sameEndpoint(other, OWN), false, other);
  }
});

test("a socket URL names the callback URL of the same stage", () => {
  assert.equal(callbackUrlOf("wss://chat.example.com/Prod"), "https://chat.example.com/Prod");
  assert.equal(callbackUrlOf("ws://127.0.0.1:8080/local"), "http://127.0.0.1:8080/local");
  assert.equal(callbackUrlOf(OWN), OWN);
});
