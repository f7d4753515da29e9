// The Markdown renderer gives the same text however the answer is cut into chunks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MarkdownToPlainText, markdownToPlainText } from "../dist/index.js";

const ANSWER = [
  "## Streaming",
  "Text **streams** in *pieces*, with `code`, a [link](https://example.com/docs) and <https://example.com>.",
  "",
  "- first item",
  "  * nested _item_",
  "> quoted \\*literal\\*",
  "---",
  "```js",
  "const kept = **as** is;",
  "```",
  "snake_case, 5*3 and 2 * 3 stay; ~~gone~~ and 😀 **bold**流.",
].join("\n");

function rendered(text, sizes) {
  const renderer = new MarkdownToPlainText();
  let out = "";
  let start = 0;
  for (let i = 0; start < text.length; i += 1) {
    const size = sizes[i % sizes.length];
    out += renderer.feed(text.slice(start, start + size));
    start += size;
  }
  return out + renderer.finish();
}

test("markup is dropped, text and line breaks are kept", () => {
  const plain = markdownToPlainText(ANSWER);
  assert.equal(
    plain,
    [
      "Streaming",
      "Text streams in pieces, with code, a link and https://example.com.",
      "",
      "• first item",
      "  • nested item",
      "quoted *literal*",
      "",
      "const kept = **as** is;",
      "snake_case, 5*3 and 2 * 3 stay; gone and 😀 bold**流.",
    ].join("\n"),
  );
});

test("every chunking gives the rendering of the whole text", () => {
  const whole = markdownToPlainText(ANSWER);
  for (const sizes of [[1], [2], [3, 1], [7], [13, 5, 1], [ANSWER.length]]) {
    assert.equal(rendered(ANSWER, sizes), whole, `chunk sizes ${sizes}`);
  }
});

test("feeding after finish is refused", () => {
  const renderer = new MarkdownToPlainText();
  renderer.finish();
  assert.throws(() => renderer.feed("more"), /after finish\(\)/);
});
