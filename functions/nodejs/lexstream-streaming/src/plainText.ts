/**
 * Markdown rendered as plain text while it streams, for the Lex Web UI's WebSocket frames.
 *
 * The same renderer as the Python helper's `lexstream_runtime.plain_text`, rule for rule
 * (its module docstring lists the rules): the output is the same however the text is cut
 * into chunks, a decision that needs text not yet fed holds the rest of its line, and
 * `finish()` decides with the end known. The tests feed both renderers the same texts and
 * compare.
 *
 * Positions count UTF-16 code units; wherever a rule looks at one character (is it a
 * letter or digit? a blank?) it reads the whole code point, as Python does.
 */

const BULLET = "• ";
// CommonMark's "ASCII punctuation".
const ESCAPABLE = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
const SCHEMES = ["http://", "https://", "mailto:"];
const LONGEST_SCHEME = Math.max(...SCHEMES.map((s) => s.length));

// What Python's str.isspace() and re's \s call whitespace.
const SPACE_CLASS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const IS_SPACE = new RegExp(`^[${SPACE_CLASS}]$`, "u");
// Python's str.isalnum() for one character: letters and numbers of any script.
const IS_ALNUM = /^[\p{L}\p{N}]$/u;

// Only these characters need a decision; text between them is copied in one slice.
const SPECIAL = /[\\`*_~[\]!<]/g;
// What a line's index records: escapes, brackets, parentheses and backtick runs.
const INDEXED = /[\\[\]()`]/g;
const CLOSER: Record<string, "[" | "("> = { "]": "[", ")": "(" };

const escapeClass = (c: string): string => c.replace(/[-\\\]^*]/g, "\\$&");
const RUNS: Record<string, RegExp> = Object.fromEntries(
  [..."*_~`#"].map((c) => [c, new RegExp(`[${escapeClass(c)}]*`, "y")]),
);
const BREAK_LINE: Record<string, RegExp> = Object.fromEntries(
  [..."-*_"].map((c) => [c, new RegExp(`[${escapeClass(c)} \\t\\r]*`, "y")]),
);
const INDENT = /[ \t]*/y;
const BLANKS = /[ \t\r]*/y;
const NO_BACKTICK = /[^`]*/y;
const URL_CHARS = new RegExp(`[^${SPACE_CLASS}<>]*`, "y");

const enum Mode {
  Block,
  Inline,
  Verbatim,
  Dropped,
}

type Decision = [text: string, next: number, last: string];

function isSpace(c: string): boolean {
  return IS_SPACE.test(c);
}

function isAlnum(c: string): boolean {
  return IS_ALNUM.test(c);
}

/** The code point that starts at `i` ("" past the end). */
function charAt(line: string, i: number): string {
  const code = line.codePointAt(i);
  return code === undefined ? "" : String.fromCodePoint(code);
}

/** The code point that ends just before `i`. */
function charBefore(line: string, i: number): string {
  const low = line.charCodeAt(i - 1);
  if (low >= 0xdc00 && low <= 0xdfff && i >= 2) {
    const high = line.charCodeAt(i - 2);
    if (high >= 0xd800 && high <= 0xdbff) return line.slice(i - 2, i);
  }
  return line.slice(i - 1, i);
}

function count(line: string, c: string, from: number): number {
  let found = 0;
  for (let k = line.indexOf(c, from); k !== -1; k = line.indexOf(c, k + 1)) found += 1;
  return found;
}

/**
 * Renders one Markdown text, fed in chunks, as plain text.
 *
 * `feed(chunk)` returns the text that is final; `finish()` returns what was held. Their
 * concatenation equals `markdownToPlainText(text)` for every chunking.
 */
export class MarkdownToPlainText {
  private fence: [string, number] | null = null;
  private finished = false;
  private line = "";
  private eol = false;
  private pos = 0;
  private mode = Mode.Block;
  private quoted = false;
  private dropNewline = false;
  private prev: string | null = null;
  private ends: [number, number][] = [];
  private indexed = 0;
  private escaper = -2;
  private open: Record<"[" | "(", number[]> = { "[": [], "(": [] };
  private match = new Map<number, number>();
  private runs = new Map<number, number[]>();
  private runsSeen = new Map<number, number>();
  private skipped = new Map<RegExp, Map<number, number>>();

  constructor() {
    this.newLine();
  }

  /** Take the next chunk; return the plain text that no later chunk can change. */
  feed(chunk: string): string {
    if (typeof chunk !== "string") {
      throw new TypeError(`feed() takes a string, not ${chunk === null ? "null" : typeof chunk}`);
    }
    this.checkOpen("feed");
    const out: string[] = [];
    const lines = chunk.split("\n");
    const rest = lines.pop() as string;
    for (const line of lines) {
      this.line += line;
      this.eol = true;
      this.advance(out);
      if (!this.dropNewline) out.push("\n");
      this.newLine();
    }
    this.line += rest;
    this.advance(out);
    return out.join("");
  }

  /** End the text; return everything still held, decided with the end known. */
  finish(): string {
    this.checkOpen("finish");
    this.finished = true;
    this.eol = true;
    const out: string[] = [];
    this.advance(out);
    return out.join("");
  }

  private checkOpen(method: string): void {
    if (this.finished) {
      throw new Error(
        `${method}() after finish(): this MarkdownToPlainText has rendered its text; ` +
          "create a new one for the next",
      );
    }
  }

  private newLine(): void {
    this.line = "";
    this.eol = false;
    this.pos = 0;
    this.mode = Mode.Block;
    this.quoted = false;
    this.dropNewline = false;
    this.prev = null;
    this.ends = [];
    this.forgetPositions();
  }

  private forgetPositions(): void {
    this.indexed = 0;
    this.escaper = -2;
    this.open = { "[": [], "(": [] };
    this.match = new Map();
    this.runs = new Map();
    this.runsSeen = new Map();
    this.skipped = new Map();
  }

  /** Where the run of `chars` (a one-class sticky pattern) from `start` ends; a held
   * decision resumes where its last scan met the end of the line. */
  private skip(chars: RegExp, start: number): number {
    let memo = this.skipped.get(chars);
    if (memo === undefined) {
      memo = new Map();
      this.skipped.set(chars, memo);
    }
    const from = memo.get(start) ?? start;
    memo.delete(start);
    chars.lastIndex = from;
    chars.exec(this.line);
    const end = chars.lastIndex;
    if (end === this.line.length) memo.set(start, end);
    return end;
  }

  private advance(out: string[]): void {
    while (this.mode === Mode.Block) {
      const decided = this.fence ? this.fenceLine(...this.fence) : this.blockStart(out);
      if (!decided) return;
    }
    if (this.mode === Mode.Inline) {
      this.inline(out);
    } else {
      if (this.mode === Mode.Verbatim) out.push(this.line.slice(this.pos));
      this.pos = this.line.length;
    }
    if (this.pos === this.line.length && this.ends.length === 0) {
      this.line = "";
      this.pos = 0;
      this.forgetPositions();
    }
  }

  // Line starts ----------------------------------------------------------------------

  private blockStart(out: string[]): boolean {
    const line = this.line;
    const i = this.pos;
    const final = this.eol;
    const j = this.skip(INDENT, i);
    if (j === line.length) {
      if (final) this.mode = Mode.Inline;
      return final;
    }
    const c = line[j];
    const runEnd = "`~#".includes(c) ? this.skip(RUNS[c], j) : j;
    if (runEnd === line.length && !final) return false;
    const next = line[j + 1];
    if ((c === "`" || c === "~") && runEnd - j >= 3 && !this.quoted) {
      // A backtick fence's info string has no backtick; ```a``` is a code span.
      if (c === "~" || this.skip(NO_BACKTICK, runEnd) === line.length) {
        if (!final) return false;
        this.fence = [c, runEnd - j];
        this.mode = Mode.Dropped;
        this.dropNewline = true;
        return true;
      }
    } else if (
      c === "#" &&
      runEnd - j <= 6 &&
      (runEnd === line.length || line[runEnd] === " " || line[runEnd] === "\t")
    ) {
      out.push(line.slice(i, j));
      this.pos = Math.min(runEnd + 1, line.length);
      this.mode = Mode.Inline;
      return true;
    } else if (c === ">") {
      if (j + 1 === line.length && !final) return false;
      this.pos = j + 1 + (next === " " || next === "\t" ? 1 : 0);
      this.quoted = true;
      return true;
    } else if ("-*_+".includes(c)) {
      // `- - -` is a break and `- x` an item, so the break is ruled out first.
      if (c !== "+" && this.skip(BREAK_LINE[c], j) === line.length) {
        if (!final) return false;
        if (count(line, c, j) >= 3) {
          this.mode = Mode.Dropped;
          return true;
        }
      }
      if (j + 1 === line.length && !final) return false;
      if (c !== "_" && (next === " " || next === "\t")) {
        out.push(line.slice(i, j) + BULLET);
        this.pos = j + 2;
        this.mode = Mode.Inline;
        return true;
      }
    }
    this.mode = Mode.Inline;
    return true;
  }

  private fenceLine(char: string, length: number): boolean {
    const line = this.line;
    const final = this.eol;
    const j = this.skip(INDENT, 0);
    const runEnd = line[j] === char ? this.skip(RUNS[char], j) : j;
    if (runEnd === line.length && !final) return false;
    if (runEnd - j >= length && this.skip(BLANKS, runEnd) === line.length) {
      if (!final) return false;
      this.fence = null;
      this.mode = Mode.Dropped;
      this.dropNewline = true;
    } else {
      this.mode = Mode.Verbatim;
    }
    return true;
  }

  // Inline text ----------------------------------------------------------------------

  private inline(out: string[]): void {
    this.index();
    const line = this.line;
    let i = this.pos;
    while (i < line.length) {
      SPECIAL.lastIndex = i;
      const special = SPECIAL.exec(line);
      const k = special ? special.index : line.length;
      if (k > i) {
        out.push(line.slice(i, k));
        this.prev = charBefore(line, k);
        i = k;
        continue;
      }
      const decision = this.decide(i);
      if (decision === null) break;
      out.push(decision[0]);
      i = decision[1];
      this.prev = decision[2];
    }
    this.pos = i;
  }

  private decide(i: number): Decision | null {
    const line = this.line;
    const final = this.eol;
    const c = line[i];
    const after = line.slice(i + 1, i + 2);
    if (!after && !final && "\\!<".includes(c)) return null;
    if (c === "\\") {
      if (ESCAPABLE.has(after) && i + 1 !== this.segmentEnd()) return [after, i + 2, after];
      return [c, i + 1, c];
    }
    if (c === "*" || c === "_" || c === "~") return this.delimiterRun(i);
    if (c === "`") return this.codeSpan(i);
    if (c === "]") {
      const last = this.ends[this.ends.length - 1];
      if (last !== undefined && last[0] === i) {
        this.ends.pop();
        return ["", last[1] + 1, ")"];
      }
      return [c, i + 1, c];
    }
    if (c === "<") return this.autolink(i);
    const opener = i + (c === "!" ? 1 : 0); // c is `[` or `!`
    const link = line[opener] === "[" ? this.link(opener) : false;
    if (link === null) return null;
    if (link) {
      this.ends.push(link);
      return ["", opener + 1, "["];
    }
    return [c, i + 1, c];
  }

  private delimiterRun(i: number): Decision | null {
    const line = this.line;
    const j = this.skip(RUNS[line[i]], i);
    if (j === line.length && !this.eol) return null;
    const before = this.prev;
    const after = charAt(line, j);
    const opens = after !== "" && !isSpace(after) && !(before && isAlnum(before));
    const closes = Boolean(before) && !isSpace(before as string) && !isAlnum(after);
    const literal = !(opens || closes) || (line[i] === "~" && j - i !== 2);
    return [literal ? line.slice(i, j) : "", j, line[i]];
  }

  private codeSpan(i: number): Decision | null {
    const line = this.line;
    const j = this.skip(RUNS["`"], i);
    if (j === line.length && !this.eol) return null;
    const close = this.nextRun(j - i, j);
    if (close === null) return null;
    if (close >= 0 && close < this.segmentEnd()) return [line.slice(j, close), close + j - i, "`"];
    return [line.slice(i, j), j, "`"];
  }

  /** For the `[` at i: its link's (`]`, `)`) positions, false when it opens no link, null
   * when that is not known yet. */
  private link(i: number): [number, number] | false | null {
    const line = this.line;
    const final = this.eol;
    const textEnd = this.match.get(i);
    if (textEnd === undefined || textEnd + 1 === line.length) return final ? false : null;
    if (line[textEnd + 1] !== "(") return false;
    const targetEnd = this.match.get(textEnd + 1);
    if (targetEnd === undefined) return final ? false : null;
    return targetEnd < this.segmentEnd() ? [textEnd, targetEnd] : false;
  }

  private autolink(i: number): Decision | null {
    const line = this.line;
    const final = this.eol;
    const head = line.slice(i + 1, i + 1 + LONGEST_SCHEME);
    const scheme = SCHEMES.find((s) => head.startsWith(s));
    if (scheme === undefined) {
      if (!final && SCHEMES.some((s) => s.startsWith(head))) return null;
      return ["<", i + 1, "<"];
    }
    const end = this.skip(URL_CHARS, i + 1 + scheme.length);
    if (end === line.length && !final) return null;
    if (line[end] === ">" && end < this.segmentEnd()) return [line.slice(i + 1, end), end + 1, ">"];
    return ["<", i + 1, "<"];
  }

  private segmentEnd(): number {
    const last = this.ends[this.ends.length - 1];
    return last !== undefined ? last[0] : this.line.length;
  }

  // The line index -------------------------------------------------------------------

  private index(): void {
    const line = this.line;
    let k = this.indexed;
    let stopped = false;
    for (;;) {
      INDEXED.lastIndex = k;
      const token = INDEXED.exec(line);
      if (token === null) break;
      k = token.index;
      const c = token[0];
      if (c === "`") {
        // Backslashes are literal inside code spans, so runs are indexed raw; a run
        // touching the end of what was fed may still grow.
        const end = this.skip(RUNS[c], k);
        if (end === line.length && !this.eol) {
          stopped = true;
          break;
        }
        const starts = this.runs.get(end - k);
        if (starts === undefined) this.runs.set(end - k, [k]);
        else starts.push(k);
        k = end;
        continue;
      }
      if (k - 1 === this.escaper) {
        // escaped: not recorded
      } else if (c === "\\") {
        this.escaper = k;
      } else if (c === "[" || c === "(") {
        this.open[c].push(k);
      } else {
        const opener = this.open[CLOSER[c]].pop();
        if (opener !== undefined) this.match.set(opener, k);
      }
      k += 1;
    }
    this.indexed = stopped ? k : line.length;
  }

  /** The first backtick run of exactly `length` at or after `start`: its position, -1 when
   * the line has none, null when that is not known yet. */
  private nextRun(length: number, start: number): number | null {
    const starts = this.runs.get(length) ?? [];
    let seen = this.runsSeen.get(length) ?? 0;
    while (seen < starts.length && starts[seen] < start) seen += 1;
    this.runsSeen.set(length, seen);
    if (seen < starts.length) return starts[seen];
    return this.eol ? -1 : null;
  }
}

/** The plain-text rendering of a whole Markdown text (one feed, then finish). */
export function markdownToPlainText(text: string): string {
  const renderer = new MarkdownToPlainText();
  return renderer.feed(text) + renderer.finish();
}
