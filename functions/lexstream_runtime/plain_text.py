"""Markdown rendered as plain text while it streams, for the Lex Web UI's WebSocket frames.

    renderer = MarkdownToPlainText()
    for piece in generate_answer(question):       # Markdown pieces, as the model writes
        answer.append(piece)
        stream.write(renderer.feed(piece))
    stream.write(renderer.finish())
    return close_response(event, "".join(answer))  # the final message keeps the Markdown

The stock Web UI shows each streamed frame as escaped text in which HTML collapses
whitespace, so a model answering in Markdown would stream raw `**`, `##`, list markers
and backticks. This renders the subset of CommonMark/GFM that models emit:

- at a line start, after any indentation: ATX headings (`#`..`######` and a space) lose
  their marker and that space; `- `, `* `, `+ ` items become `• ` with the indentation
  kept, so nesting survives (any indentation, not CommonMark's 3 spaces: nested items
  are often 4 deep, and indented code blocks are not recognised); ordered items stay as
  they are; `>` quote markers (with the indentation before them and one space after)
  are dropped and what follows is read as a line start again; a thematic break (3+ of
  one of `-*_`, blanks between) keeps only its newline;
- fenced code blocks (3+ backticks or tildes, not inside a quote): the fence lines go,
  newline included, and the lines between are kept verbatim; a fence closes at a line of
  the same character, at least as long, with nothing but blanks after it;
- inline: a run of `*` or `_`, or exactly `~~`, is dropped when it could open (followed
  by a non-blank, not preceded by a letter or digit) or close (preceded by a non-blank,
  not followed by a letter or digit), so `snake_case`, `5*3` and `2 * 3` stay; a code
  span keeps its content literally; `[text](target)` and `![alt](src)` keep only the
  text, rendered by the same rules (brackets and parentheses match by balance);
  `<https://…>`, `<http://…>`, `<mailto:…>` lose their brackets; a backslash before
  ASCII punctuation is dropped. Code spans and links end on the line they start on;
  unresolved, their opening characters are kept;
- everything else, HTML and tables included, is kept (the Web UI escapes it).

Newlines are kept, so a heading or list item never runs into the next line's words.

The output is the same however the text is cut into chunks: one left-to-right scanner
decides from the text alone, and when a decision needs text not yet fed (is this `**`
followed by a letter? does this `[` become a link?) it stops and holds the rest rather
than guess; `finish()` decides with the end known. Every decision needs at most the rest
of its line, so a newline releases everything before it; only an open code fence is
carried across lines, and its lines are verbatim, so it holds nothing.

Emphasis delimiters are dropped without waiting for their partner (matching them would
hold whole lines), so an unmatched one that qualifies goes too: `Foo_(bar)` streams as
`Foo(bar)`. The final Lex message keeps the exact Markdown.

Markdown libraries parse whole documents: rendering a growing prefix again for every
chunk costs quadratic time and the result for a prefix is not a prefix of the final
one, so this small scanner is written here, standard library only. Its work is linear in
the text: brackets, parentheses and backtick runs are indexed once as they arrive and
every other look-ahead resumes where it stopped, so a held decision is never rescanned;
only a line with something held is copied again (at C speed) with each chunk.
"""

from __future__ import annotations

import re
from string import punctuation

_BULLET = "• "
_ESCAPABLE = frozenset(punctuation)  # CommonMark's "ASCII punctuation" is exactly this set
_SCHEMES = ("http://", "https://", "mailto:")
_LONGEST_SCHEME = max(map(len, _SCHEMES))

# Only these characters need a decision; text between them is copied in one slice.
_SPECIAL = re.compile(r"[\\`*_~\[\]!<]")
# What a line's index records: escapes, brackets, parentheses and backtick runs.
_INDEXED = re.compile(r"[\\\[\]()`]")
_CLOSER = {"]": "[", ")": "("}
# Every other look-ahead skips characters of one class (see _skip).
_RUNS = {c: re.compile(re.escape(c) + "*") for c in "*_~`#"}
_BREAK_LINE = {c: re.compile(rf"[{re.escape(c)} \t\r]*") for c in "-*_"}
_INDENT = re.compile(r"[ \t]*")
_BLANKS = re.compile(r"[ \t\r]*")
_NO_BACKTICK = re.compile(r"[^`]*")
_URL = re.compile(r"[^\s<>]*")

# What the rest of the current line is, once its start has been decided.
_BLOCK, _INLINE, _VERBATIM, _DROPPED = range(4)


class MarkdownToPlainText:
    """Renders one Markdown text, fed in chunks, as plain text (see the module docstring).

    `feed(chunk)` returns the text that is final; `finish()` returns what was held.
    Their concatenation equals `markdown_to_plain_text(text)` for every chunking.
    """

    def __init__(self) -> None:
        self._fence: tuple[str, int] | None = None  # the open fence's character and length
        self._finished = False
        self._new_line()

    def feed(self, chunk: str) -> str:
        """Take the next chunk; return the plain text that no later chunk can change."""
        if not isinstance(chunk, str):
            raise TypeError(f"feed() takes str, not {type(chunk).__name__}")
        self._check_open("feed")
        out: list[str] = []
        *lines, rest = chunk.split("\n")
        for line in lines:
            self._line += line
            self._eol = True
            self._advance(out)
            if not self._drop_newline:
                out.append("\n")
            self._new_line()
        self._line += rest
        self._advance(out)
        return "".join(out)

    def finish(self) -> str:
        """End the text; return everything still held, decided with the end known."""
        self._check_open("finish")
        self._finished = True
        self._eol = True
        out: list[str] = []
        self._advance(out)
        return "".join(out)

    def _check_open(self, method: str) -> None:
        if self._finished:
            raise ValueError(
                f"{method}() after finish(): this MarkdownToPlainText has rendered its text; "
                "create a new one for the next"
            )

    def _new_line(self) -> None:
        self._line = ""  # the current line since its start (or since all of it was decided)
        self._eol = False  # whether the line's end (newline or end of input) is known
        self._pos = 0  # the first character not yet decided
        self._mode = _BLOCK
        self._quoted = False  # inside a quote no fence opens: its lines would keep their `>`
        self._drop_newline = False
        self._prev: str | None = None  # the character before _pos; None at content start
        self._ends: list[tuple[int, int]] = []  # open links: (their `]`, their `)`)
        self._forget_positions()

    def _forget_positions(self) -> None:
        """Drop all that points into _line: its index and the look-ahead memo."""
        self._indexed = 0
        self._escaper = -2  # the last backslash that escapes the character after it
        self._open: dict[str, list[int]] = {"[": [], "(": []}
        self._match: dict[int, int] = {}  # `[` or `(` position -> its `]` or `)`
        self._runs: dict[int, list[int]] = {}  # backtick run length -> starts, in order
        self._runs_seen: dict[int, int] = {}  # how many of those starts lie behind _pos
        self._skipped: dict[tuple[re.Pattern[str], int], int] = {}

    def _skip(self, chars: re.Pattern[str], start: int) -> int:
        """Where the run of `chars` (a one-class pattern like `[ \\t]*`) from start ends.

        A held decision is retried with each chunk; resuming where its last scan met the
        end of the line keeps that linear."""
        key = (chars, start)
        end = chars.match(self._line, self._skipped.pop(key, start)).end()
        if end == len(self._line):
            self._skipped[key] = end
        return end

    def _advance(self, out: list[str]) -> None:
        while self._mode == _BLOCK:
            fence = self._fence
            decided = self._fence_line(*fence) if fence else self._block_start(out)
            if not decided:
                return
        if self._mode == _INLINE:
            self._inline(out)
        else:
            if self._mode == _VERBATIM:
                out.append(self._line[self._pos :])
            self._pos = len(self._line)
        # Nothing reads a decided line prefix again, and a bracket's or backtick run's
        # match is found from the opener onward, so once all that was fed is decided the
        # line can start afresh with every later decision unchanged; this keeps the
        # per-chunk copy of the line small.
        if self._pos == len(self._line) and not self._ends:
            self._line = ""
            self._pos = 0
            self._forget_positions()

    # Line starts --------------------------------------------------------------------

    def _block_start(self, out: list[str]) -> bool:
        """Decide the line's block markers; False when that needs more of the line."""
        line, i, final = self._line, self._pos, self._eol
        j = self._skip(_INDENT, i)
        if j == len(line):
            if final:
                self._mode = _INLINE
            return final
        c = line[j]
        run_end = self._skip(_RUNS[c], j) if c in "`~#" else j
        if run_end == len(line) and not final:
            return False
        if c in "`~" and run_end - j >= 3 and not self._quoted:
            # A backtick fence's info string has no backtick; ```a``` is a code span.
            if c == "~" or self._skip(_NO_BACKTICK, run_end) == len(line):
                if not final:
                    return False
                self._fence = (c, run_end - j)
                self._mode, self._drop_newline = _DROPPED, True
                return True
        elif c == "#" and run_end - j <= 6 and (run_end == len(line) or line[run_end] in " \t"):
            out.append(line[i:j])
            self._pos = min(run_end + 1, len(line))
            self._mode = _INLINE
            return True
        elif c == ">":
            if j + 1 == len(line) and not final:
                return False
            self._pos = j + 1 + (line[j + 1 : j + 2] in (" ", "\t"))
            self._quoted = True
            return True
        elif c in "-*_+":
            # `- - -` is a break and `- x` an item, so the break is ruled out first.
            if c != "+" and self._skip(_BREAK_LINE[c], j) == len(line):
                if not final:
                    return False
                if line.count(c, j) >= 3:
                    self._mode = _DROPPED  # a thematic break: its newline still separates
                    return True
            if j + 1 == len(line) and not final:
                return False
            if c != "_" and line[j + 1 : j + 2] in (" ", "\t"):
                out.append(line[i:j] + _BULLET)
                self._pos = j + 2
                self._mode = _INLINE
                return True
        self._mode = _INLINE
        return True

    def _fence_line(self, char: str, length: int) -> bool:
        """Inside a fence: is this line its closing fence? False when not known yet."""
        line, final = self._line, self._eol
        j = self._skip(_INDENT, 0)
        run_end = self._skip(_RUNS[char], j) if line[j : j + 1] == char else j
        if run_end == len(line) and not final:
            return False
        if run_end - j >= length and self._skip(_BLANKS, run_end) == len(line):
            if not final:
                return False
            self._fence = None
            self._mode, self._drop_newline = _DROPPED, True
        else:
            self._mode = _VERBATIM
        return True

    # Inline text --------------------------------------------------------------------

    def _inline(self, out: list[str]) -> None:
        self._index()
        line, i = self._line, self._pos
        while i < len(line):
            special = _SPECIAL.search(line, i)
            k = special.start() if special else len(line)
            if k > i:
                out.append(line[i:k])
                self._prev = line[k - 1]
                i = k
                continue
            decision = self._decide(i)
            if decision is None:
                break
            text, i, self._prev = decision
            out.append(text)
        self._pos = i

    def _decide(self, i: int) -> tuple[str, int, str] | None:
        """(output, next position, last character consumed) for the special character at
        i, or None while that depends on text not yet fed."""
        line, final, c = self._line, self._eol, self._line[i]
        after = line[i + 1 : i + 2]
        if not after and not final and c in "\\!<":
            return None
        if c == "\\":
            if after in _ESCAPABLE and i + 1 != self._segment_end():
                return after, i + 2, after
            return c, i + 1, c
        if c in "*_~":
            return self._delimiter_run(i)
        if c == "`":
            return self._code_span(i)
        if c == "]":
            if self._ends and self._ends[-1][0] == i:
                return "", self._ends.pop()[1] + 1, ")"
            return c, i + 1, c
        if c == "<":
            return self._autolink(i)
        opener = i + (c == "!")  # c is `[` or `!`
        link = self._link(opener) if line[opener : opener + 1] == "[" else False
        if link is None:
            return None
        if link:
            self._ends.append(link)
            return "", opener + 1, "["
        return c, i + 1, c

    def _delimiter_run(self, i: int) -> tuple[str, int, str] | None:
        line = self._line
        j = self._skip(_RUNS[line[i]], i)
        if j == len(line) and not self._eol:
            return None
        before, after = self._prev, line[j : j + 1]
        opens = after and not after.isspace() and not (before and before.isalnum())
        closes = before and not before.isspace() and not after.isalnum()
        literal = not (opens or closes) or (line[i] == "~" and j - i != 2)
        return line[i:j] if literal else "", j, line[i]

    def _code_span(self, i: int) -> tuple[str, int, str] | None:
        line = self._line
        j = self._skip(_RUNS["`"], i)
        if j == len(line) and not self._eol:
            return None
        close = self._next_run(j - i, j)
        if close is None:
            return None
        if 0 <= close < self._segment_end():
            return line[j:close], close + j - i, "`"
        return line[i:j], j, "`"

    def _link(self, i: int) -> tuple[int, int] | bool | None:
        """For the `[` at i: its link's (`]`, `)`) positions, False when it opens no link,
        None when that is not known yet."""
        line, final = self._line, self._eol
        text_end = self._match.get(i)
        if text_end is None or text_end + 1 == len(line):
            return None if not final else False
        if line[text_end + 1] != "(":
            return False
        target_end = self._match.get(text_end + 1)
        if target_end is None:
            return None if not final else False
        return (text_end, target_end) if target_end < self._segment_end() else False

    def _autolink(self, i: int) -> tuple[str, int, str] | None:
        line, final = self._line, self._eol
        head = line[i + 1 : i + 1 + _LONGEST_SCHEME]
        scheme = next((s for s in _SCHEMES if head.startswith(s)), None)
        if scheme is None:
            if not final and any(s.startswith(head) for s in _SCHEMES):
                return None
            return "<", i + 1, "<"
        end = self._skip(_URL, i + 1 + len(scheme))
        if end == len(line) and not final:
            return None
        if line[end : end + 1] == ">" and end < self._segment_end():
            return line[i + 1 : end], end + 1, ">"
        return "<", i + 1, "<"

    def _segment_end(self) -> int:
        """Where the innermost open link's text ends (or past the line): nothing that
        starts inside a link's text may reach beyond it."""
        return self._ends[-1][0] if self._ends else len(self._line)

    # The line index -----------------------------------------------------------------

    def _index(self) -> None:
        """Record the line's brackets, parentheses and backtick runs, each char once."""
        line, k = self._line, self._indexed
        while token := _INDEXED.search(line, k):
            k, c = token.start(), token.group()
            if c == "`":
                # Backslashes are literal inside code spans, so runs are indexed raw; a run
                # touching the end of what was fed may still grow.
                end = self._skip(_RUNS[c], k)
                if end == len(line) and not self._eol:
                    break
                self._runs.setdefault(end - k, []).append(k)
                k = end
                continue
            if k - 1 == self._escaper:
                pass
            elif c == "\\":
                self._escaper = k
            elif c in self._open:
                self._open[c].append(k)
            elif self._open[_CLOSER[c]]:
                self._match[self._open[_CLOSER[c]].pop()] = k
            k += 1
        else:
            k = len(line)
        self._indexed = k

    def _next_run(self, length: int, start: int) -> int | None:
        """The first backtick run of exactly `length` at or after `start`: its position,
        -1 when the line has none, None when that is not known yet."""
        starts = self._runs.get(length, [])
        seen = self._runs_seen.get(length, 0)
        # Scanning only moves forward, so runs behind one query are behind all later ones.
        while seen < len(starts) and starts[seen] < start:
            seen += 1
        self._runs_seen[length] = seen
        if seen < len(starts):
            return starts[seen]
        return -1 if self._eol else None


def markdown_to_plain_text(text: str) -> str:
    """The plain-text rendering of a whole Markdown text (one feed, then finish)."""
    renderer = MarkdownToPlainText()
    return renderer.feed(text) + renderer.finish()
