"""MarkdownToPlainText: Markdown streamed as readable plain text, the same for every chunking.

Examples pin each rendering rule; properties check, for generated texts, that the output
never depends on where the chunks were cut, that a newline releases everything before
it, and that no letter or digit is lost or invented outside what the rules drop.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lexstream_runtime.plain_text import MarkdownToPlainText, markdown_to_plain_text

from tests.functions.stream_helpers import NodeHelper


def render_in(chunks: list[str]) -> str:
    renderer = MarkdownToPlainText()
    return "".join(renderer.feed(chunk) for chunk in chunks) + renderer.finish()


def alnum(text: str) -> str:
    return "".join(c for c in text if c.isalnum())


def cases(*pairs: tuple[str, str]):
    """Parametrize (markdown, plain) pairs, each test case named by its Markdown."""
    return pytest.mark.parametrize(("markdown", "plain"), pairs, ids=[m for m, _ in pairs])


# Line starts ---------------------------------------------------------------------------


@cases(
    ("# Title", "Title"),
    ("###### Six", "Six"),
    ("  ## Indented", "  Indented"),
    ("#", ""),
    ("## Title\nText", "Title\nText"),
)
def test_heading_markers_are_dropped_and_the_heading_text_kept(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(("#hashtag", "#hashtag"), ("####### seven", "####### seven"), ("a # b", "a # b"))
def test_hashes_without_a_space_beyond_six_or_mid_line_stay(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(("- one", "• one"), ("* one", "• one"), ("+ one", "• one"), ("- **Bold**: x", "• Bold: x"))
def test_unordered_list_markers_become_bullets(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


def test_nested_list_items_keep_their_indentation():
    markdown = "- a\n  - b\n    - c\n\t* d\n1. e\n   - f"
    assert markdown_to_plain_text(markdown) == "• a\n  • b\n    • c\n\t• d\n1. e\n   • f"


@cases(("1. one\n2) two", "1. one\n2) two"), ("10. **ten**", "10. ten"))
def test_ordered_list_items_are_kept_as_written(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(("-5 degrees", "-5 degrees"), ("+1 vote", "+1 vote"), ("*not a list*", "not a list"))
def test_a_marker_without_a_space_after_it_starts_no_list_item(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("# Heading\nParagraph", "Heading\nParagraph"),
    ("- one\n- two\nafter", "• one\n• two\nafter"),
    ("> quoted\nplain", "quoted\nplain"),
    ("**bold**\nnext", "bold\nnext"),
)
def test_headings_and_list_items_never_run_into_the_next_line(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("> quote", "quote"),
    (">quote", "quote"),
    ("> > nested", "nested"),
    (">> nested", "nested"),
    ("> - item", "• item"),
    ("> # Heading", "Heading"),
    ("a > b", "a > b"),
)
def test_blockquote_markers_are_dropped_and_what_follows_rendered(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("above\n---\nbelow", "above\n\nbelow"),
    ("* * *", ""),
    ("___\nx", "\nx"),
    (" - - - ", ""),
    ("> ***", ""),
    ("--", "--"),
    ("- -", "• -"),
)
def test_thematic_breaks_keep_only_their_newline(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


def test_fence_lines_are_dropped_and_the_code_kept_verbatim():
    code = "x = *y* + [a](b) `z`\n  # not a heading\n"
    assert markdown_to_plain_text(f"Run:\n```python\n{code}```\nDone.") == f"Run:\n{code}Done."


def test_a_fence_closes_only_on_its_own_character_at_least_as_long():
    markdown = "````\n```\n~~~~\n````` \nafter"
    assert markdown_to_plain_text(markdown) == "```\n~~~~\nafter"


def test_tilde_fences_and_indented_fences_are_recognised():
    assert markdown_to_plain_text("~~~ text\n*a*\n~~~\n*b*") == "*a*\nb"
    assert markdown_to_plain_text("1. Step\n   ```sh\n   ls *\n   ```\n2. Next") == (
        "1. Step\n   ls *\n2. Next"
    )


def test_a_line_with_text_after_the_fence_characters_does_not_close_it():
    assert markdown_to_plain_text("```\n``` not yet\n```\nx") == "``` not yet\nx"


def test_an_unclosed_fence_keeps_its_lines_to_the_end():
    assert markdown_to_plain_text("```\n**a**\n- b") == "**a**\n- b"


def test_backticks_with_a_backtick_after_them_open_a_code_span_not_a_fence():
    assert markdown_to_plain_text("```a``` b\n*c*") == "a b\nc"


def test_a_fence_inside_a_quote_is_not_recognised():
    assert markdown_to_plain_text("> ```\n> *x*") == "```\nx"


# Inline --------------------------------------------------------------------------------


@cases(
    ("**bold**", "bold"),
    ("*it* and _it_", "it and it"),
    ("__strong__", "strong"),
    ("***both***", "both"),
    ("~~gone~~ kept", "gone kept"),
    ("(**a**)", "(a)"),
    ("**_nested_**", "nested"),
)
def test_emphasis_and_strikethrough_delimiters_are_dropped(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("snake_case_name", "snake_case_name"),
    ("5*3=15", "5*3=15"),
    ("2 * 3 = 6", "2 * 3 = 6"),
    ("a _ b", "a _ b"),
    ("~single~", "~single~"),
    ("a ~~~x~~~ y", "a ~~~x~~~ y"),
)
def test_intraword_and_space_surrounded_delimiters_stay_literal(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(("**unfinished", "unfinished"), ("end**", "end"), ("a *b", "a b"))
def test_an_unmatched_delimiter_that_qualifies_is_dropped_too(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("`a*b*`", "a*b*"),
    ("call `f([x](y))` now", "call f([x](y)) now"),
    ("``a ` b``", "a ` b"),
    ("`\\*`", "\\*"),
)
def test_code_span_content_is_kept_literally(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("`open", "`open"),
    ("``a`", "``a`"),
    ("`a\nb`", "`a\nb`"),
    ("`*x*", "`x"),
)
def test_unclosed_backticks_stay_literal_and_scanning_goes_on_after_them(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("[docs](https://example.com)", "docs"),
    ("see [the **docs**](u) now", "see the docs now"),
    ("[wiki](https://w.org/A_(b)) end", "wiki end"),
    ('[t](u "a title")', "t"),
    ("[a [b](c) d](e)", "a b d"),
    ("[![badge](b.svg)](https://ci)", "badge"),
)
def test_links_keep_their_text_and_drop_their_target(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


def test_images_keep_their_alt_text():
    assert markdown_to_plain_text("![a *cat*](cat.png)!") == "a cat!"


@cases(
    ("see [1], [2]", "see [1], [2]"),
    ("[x] (y)", "[x] (y)"),
    ("- [ ] task", "• [ ] task"),
    ("Wow! [a]", "Wow! [a]"),
)
def test_brackets_without_a_target_stay_literal(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(("[a](b\nc)", "[a](b\nc)"), ("[a", "[a"), ("[*a*](b", "[a](b"), ("![a]", "![a]"))
def test_a_link_unresolved_at_its_line_end_leaves_the_bracket_literal(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("<https://e.com/a_b>", "https://e.com/a_b"),
    ("<http://x.org>!", "http://x.org!"),
    ("<mailto:a@b.c>", "mailto:a@b.c"),
)
def test_autolinks_lose_their_angle_brackets(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("a < b", "a < b"),
    ("<b>bold</b>", "<b>bold</b>"),
    ("<ftp://x>", "<ftp://x>"),
    ("<https://a b>", "<https://a b>"),
    ("<https://a", "<https://a"),
)
def test_other_angle_brackets_and_html_stay_literal(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


@cases(
    ("\\*not em\\*", "*not em*"),
    ("\\[1\\](x)", "[1](x)"),
    ("\\# not a heading", "# not a heading"),
    ("\\\\", "\\"),
    ("C:\\Users\\é", "C:\\Users\\é"),
    ("end\\", "end\\"),
)
def test_a_backslash_escapes_ascii_punctuation_only(markdown, plain):
    assert markdown_to_plain_text(markdown) == plain


# Streaming -----------------------------------------------------------------------------

SPLIT_EXAMPLES = [
    "Some **bold** text",
    "see [docs](https://e.com/x_y) end",
    "```py\ncode *x*\n```\nafter",
    "- item with `code` and <https://x.org>\n> ~~old~~ \\*new\\*",
    "![alt](a.png) and [1]\n---\n# Done",
]


@pytest.mark.parametrize("markdown", SPLIT_EXAMPLES)
def test_markup_cut_at_any_point_renders_as_if_whole(markdown):
    whole = markdown_to_plain_text(markdown)
    for cut in range(len(markdown) + 1):
        assert render_in([markdown[:cut], markdown[cut:]]) == whole, cut
    assert render_in(list(markdown)) == whole


def test_a_double_asterisk_cut_in_two_is_held_until_it_is_decided():
    renderer = MarkdownToPlainText()
    assert renderer.feed("Some *") == "Some "
    assert renderer.feed("*bold*") == "bold"
    assert renderer.feed("* now") == " now"
    assert renderer.finish() == ""


def test_a_link_cut_inside_its_target_is_held_then_rendered():
    renderer = MarkdownToPlainText()
    assert renderer.feed("see [docs](https://e") == "see "
    assert renderer.feed(".com/a_(b)") == ""
    assert renderer.feed(") now") == "docs now"


def test_a_fence_cut_mid_line_is_held_until_its_line_ends():
    renderer = MarkdownToPlainText()
    assert renderer.feed("``") == ""
    assert renderer.feed("`pyth") == ""
    assert renderer.feed("on\nx = 1\n``") == "x = 1\n"
    assert renderer.feed("`\nafter") == "after"


def test_plain_words_are_released_as_soon_as_they_are_fed():
    renderer = MarkdownToPlainText()
    assert [renderer.feed(c) for c in ["Hello", " wor", "ld.", "\nNext"]] == [
        "Hello",
        " wor",
        "ld.",
        "\nNext",
    ]


def test_a_newline_releases_a_pending_link_or_code_span_as_literal_text():
    renderer = MarkdownToPlainText()
    assert renderer.feed("[a](b `c") == ""
    assert renderer.feed("\n") == "[a](b `c\n"


def test_an_open_fence_holds_nothing_after_a_newline():
    renderer = MarkdownToPlainText()
    assert renderer.feed("```\n*a*\n") == "*a*\n"
    assert renderer.finish() == ""


def test_finish_renders_what_was_held_with_the_end_known():
    renderer = MarkdownToPlainText()
    assert renderer.feed("**") == ""
    assert renderer.finish() == "**"


def test_feed_rejects_anything_but_text_naming_its_type():
    with pytest.raises(TypeError, match="bytes"):
        MarkdownToPlainText().feed(b"**x**")


def test_feed_and_finish_after_finish_raise():
    renderer = MarkdownToPlainText()
    renderer.finish()
    with pytest.raises(ValueError, match="after finish"):
        renderer.feed("x")
    with pytest.raises(ValueError, match="after finish"):
        renderer.finish()


# Properties ----------------------------------------------------------------------------

# Single characters and fragments that together build most constructs, plus any text.
SNIPPETS = [
    *"*_~`[]()!#>-+.: \n\t\\<a1Z",
    "é",
    "**",
    "__",
    "~~",
    "```",
    "~~~",
    "<https://",
    "<http://",
    "<mailto:",
    "](",
    "- ",
    "# ",
    "> ",
    "1. ",
    "    ",
    "![",
    "\r\n",
]
markdown_texts = st.lists(
    st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=4)), max_size=40
).map("".join)
# Letters, digits and punctuation that no rule reads (ordered-list markers stay as written).
PLAIN = "abcXYZ0123456789 \n.,;:?'\"()/=|&%$@{}^é流🚀"
PROPERTY = settings(max_examples=150, deadline=None)


@st.composite
def chunked(draw, texts=markdown_texts):
    """(text, the text cut at a few drawn positions)."""
    text = draw(texts)
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=8))
    bounds = [0, *sorted(cuts), len(text)]
    return text, [text[start:end] for start, end in pairwise(bounds)]


@PROPERTY
@given(chunked())
def test_any_chunking_renders_exactly_like_the_whole_text(text_and_chunks):
    text, chunks = text_and_chunks
    assert render_in(chunks) == markdown_to_plain_text(text)


@PROPERTY
@given(markdown_texts)
def test_feeding_one_character_at_a_time_renders_exactly_like_the_whole_text(text):
    assert render_in(list(text)) == markdown_to_plain_text(text)


@PROPERTY
@given(chunked(markdown_texts.map(lambda text: text + "\n")))
def test_after_a_newline_nothing_fed_before_it_is_held(text_and_chunks):
    # Inside an open fence too: its lines are verbatim, so none waits for the next.
    text, chunks = text_and_chunks
    renderer = MarkdownToPlainText()
    released = "".join(renderer.feed(chunk) for chunk in chunks)
    assert renderer.finish() == ""
    assert released == markdown_to_plain_text(text)


@PROPERTY
@given(markdown_texts)
def test_at_every_newline_the_stream_so_far_is_the_rendering_of_the_text_so_far(text):
    renderer = MarkdownToPlainText()
    released = ""
    for end, character in enumerate(text, 1):
        released += renderer.feed(character)
        if character == "\n":
            assert released == markdown_to_plain_text(text[:end])


@PROPERTY
@given(chunked(st.text(alphabet=PLAIN, max_size=60)))
def test_text_without_markdown_renders_as_itself(text_and_chunks):
    text, chunks = text_and_chunks
    assert render_in(chunks) == text


@PROPERTY
@given(markdown_texts)
def test_no_letter_or_digit_is_invented_or_reordered(text):
    rendered = iter(alnum(text))
    assert all(c in rendered for c in alnum(markdown_to_plain_text(text)))


def without_targets_or_fences(text: str) -> str:
    """The text with no `(` (so no link target) and no run of 3+ backticks or tildes."""
    return re.sub("~{3,}", "~~", re.sub("`{3,}", "``", text.replace("(", "")))


@PROPERTY
@given(markdown_texts.map(without_targets_or_fences))
def test_without_link_targets_or_fences_every_letter_and_digit_survives_in_order(text):
    assert alnum(markdown_to_plain_text(text)) == alnum(text)


# Markdown built from constructs whose kept words are known: each is (markdown, kept).
words = st.text(alphabet="abcxyz019éß", min_size=1, max_size=5)
dropped = st.text(alphabet="qrs78", min_size=1, max_size=5)  # link targets, info strings
constructs = st.one_of(
    words.map(lambda w: (w, w)),
    st.tuples(st.sampled_from(["**", "*", "_", "__", "~~", "`", "``"]), words).map(
        lambda d: (f"{d[0]}{d[1]}{d[0]}", d[1])
    ),
    st.tuples(words, dropped).map(lambda p: (f"[{p[0]}](https://{p[1]}/({p[1]}))", p[0])),
    st.tuples(words, dropped).map(lambda p: (f"![{p[0]}]({p[1]}.png)", p[0])),
    words.map(lambda w: (f"<https://{w}.org>", f"https{w}org")),
    words.map(lambda w: (f"\\*{w}\\_", w)),
    st.tuples(st.sampled_from(["# ", "### ", "- ", "* ", "+ ", "1. ", "> ", "> > "]), words).map(
        lambda p: (f"\n{p[0]}{p[1]}", p[0] + p[1])  # an ordered item keeps its number
    ),
    st.tuples(st.sampled_from(["```", "~~~~"]), dropped, words).map(
        lambda f: (f"\n{f[0]}{f[1]}\n{f[2]} *{f[2]}*\n{f[0]}\n", f[2] * 2)
    ),
    st.just(("\n---\n", "")),
)


@PROPERTY
@given(st.lists(constructs, max_size=12))
def test_every_letter_and_digit_outside_link_targets_and_fence_info_survives_in_order(parts):
    markdown = " ".join(text for text, _ in parts)
    assert alnum(markdown_to_plain_text(markdown)) == alnum("".join(kept for _, kept in parts))


# The Node.js helper's renderer -----------------------------------------------------------


@pytest.fixture(scope="module")
def node_renderer() -> Iterator[NodeHelper]:
    """The Node.js helper in a Node.js process, for the whole module."""
    node = NodeHelper({})
    yield node
    node.close()


@PROPERTY
@given(chunked(markdown_texts.map(lambda text: text + "\n" + text)))
def test_the_node_renderer_gives_the_same_pieces_as_this_one_for_any_chunking(
    node_renderer, text_and_chunks
):
    _text, chunks = text_and_chunks
    renderer = MarkdownToPlainText()
    pieces = [renderer.feed(chunk) for chunk in chunks] + [renderer.finish()]

    # Piece by piece, not only the whole: the frames a turn posts are these pieces.
    assert node_renderer.call("plainText", chunks=chunks)["pieces"] == pieces
