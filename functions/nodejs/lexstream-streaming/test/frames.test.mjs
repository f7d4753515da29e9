// utf8Frames: every piece within the limit, no character cut, nothing lost or added.
import assert from "node:assert/strict";
import { test } from "node:test";
import { utf8Frames } from "../dist/index.js";

const decoder = new TextDecoder("utf-8", { fatal: true });
const ALPHABET = ["a", "é", "€", "流", "😀", "\n", " ", "\u0301"];

function randomText(random, length) {
  let text = "";
  for (let i = 0; i < length; i += 1) text += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return text;
}

// A small seeded generator, so a failure names the seed that reproduces it.
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

test("frames keep every character whole and stay within the limit", () => {
  for (let seed = 1; seed <= 300; seed += 1) {
    const random = generator(seed);
    const text = randomText(random, Math.floor(random() * 200));
    const maxBytes = 4 + Math.floor(random() * 61);
    const frames = [...utf8Frames(text, maxBytes)];
    for (const frame of frames) {
      assert.ok(frame.length > 0 && frame.length <= maxBytes, `seed ${seed}: ${frame.length} bytes`);
    }
    // fatal: throws if any frame starts or ends inside a character
    assert.equal(frames.map((frame) => decoder.decode(frame)).join(""), text, `seed ${seed}`);
  }
});

test("a lone surrogate becomes a question mark, as the Python helper sends it", () => {
  const frames = [...utf8Frames("a\ud800b\udc00😀", 4)];
  assert.equal(frames.map((frame) => decoder.decode(frame)).join(""), "a?b?😀");
});

test("a limit below one UTF-8 character is refused by name", () => {
  assert.throws(() => [...utf8Frames("abc", 3)], { name: "RangeError", message: /maxBytes.*got 3/ });
});
