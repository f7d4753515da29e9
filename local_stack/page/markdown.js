// A small, safe Markdown renderer for chat answers.
//
// Safety first: the whole text is HTML-escaped before any Markdown is recognised, so
// nothing a model (or an attacker who steers it) writes can become markup other than
// the few tags produced here, and links only keep http, https and mailto targets.
// Covers what chat models send: headings, paragraphs, bold, italics, inline code,
// fenced code blocks, ordered and unordered lists, block quotes, rules and links.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const SAFE_LINK = /^(https?:|mailto:)/i;
const PLACEHOLDER = /\u0000(\d+)\u0000/g;

export function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (character) => ESCAPES[character]);
}

// Inline Markdown on one escaped line: code spans are set aside first so that nothing
// inside them is treated as emphasis or links.
function renderInline(escaped) {
  const spans = [];
  let html = escaped.replace(/`([^`]+)`/g, (_, code) => {
    spans.push(code);
    return `\u0000${spans.length - 1}\u0000`;
  });
  html = html
    .replace(/\*\*(\S(?:.*?\S)?)\*\*/g, "<strong>$1</strong>")
    .replace(/__(\S(?:.*?\S)?)__/g, "<strong>$1</strong>")
    .replace(/(^|[^*\w])\*(\S(?:[^*]*?\S)?)\*(?![*\w])/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_(\S(?:[^_]*?\S)?)_(?![_\w])/g, "$1<em>$2</em>")
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label, url) =>
      SAFE_LINK.test(url)
        ? `<a href="${url}" target="_blank" rel="noopener noreferrer">${label}</a>`
        : whole,
    );
  return html.replace(PLACEHOLDER, (_, index) => `<code>${spans[Number(index)]}</code>`);
}

const BLOCK_RULES = [
  { kind: "fence", pattern: /^```/ },
  { kind: "heading", pattern: /^(#{1,6})\s+(.*)$/ },
  { kind: "rule", pattern: /^(?:-{3,}|\*{3,}|_{3,})\s*$/ },
  { kind: "ul", pattern: /^\s*[-*+]\s+(.*)$/ },
  { kind: "ol", pattern: /^\s*\d+[.)]\s+(.*)$/ },
  { kind: "quote", pattern: /^&gt;\s?(.*)$/ },
  { kind: "blank", pattern: /^\s*$/ },
];

function classify(line) {
  for (const rule of BLOCK_RULES) {
    const match = line.match(rule.pattern);
    if (match) return { kind: rule.kind, match };
  }
  return { kind: "text", match: null };
}

export function renderMarkdown(text) {
  const lines = escapeHtml(String(text).replace(/\r\n?/g, "\n")).split("\n");
  const html = [];
  let index = 0;
  while (index < lines.length) {
    const { kind, match } = classify(lines[index]);
    if (kind === "blank") {
      index += 1;
    } else if (kind === "fence") {
      const code = [];
      index += 1;
      while (index < lines.length && !/^```/.test(lines[index])) code.push(lines[index++]);
      index += 1; // the closing fence (or the end of an unfinished answer)
      html.push(`<pre><code>${code.join("\n")}</code></pre>`);
    } else if (kind === "heading") {
      const level = match[1].length;
      html.push(`<h${level}>${renderInline(match[2])}</h${level}>`);
      index += 1;
    } else if (kind === "rule") {
      html.push("<hr>");
      index += 1;
    } else if (kind === "ul" || kind === "ol" || kind === "quote") {
      const items = [];
      while (index < lines.length) {
        const next = classify(lines[index]);
        if (next.kind !== kind) break;
        items.push(renderInline(next.match[1]));
        index += 1;
      }
      if (kind === "quote") {
        html.push(`<blockquote>${items.join("<br>")}</blockquote>`);
      } else {
        html.push(`<${kind}>${items.map((item) => `<li>${item}</li>`).join("")}</${kind}>`);
      }
    } else {
      const paragraph = [];
      while (index < lines.length && classify(lines[index]).kind === "text") {
        paragraph.push(renderInline(lines[index]));
        index += 1;
      }
      // Chat answers use single newlines as line breaks, so keep them.
      html.push(`<p>${paragraph.join("<br>")}</p>`);
    }
  }
  return html.join("\n");
}
