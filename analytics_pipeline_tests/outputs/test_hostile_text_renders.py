"""Any text events can carry renders safely in the pipeline's own outputs: Markdown previews in
materialization metadata, column descriptions in the UI, alert e-mails and webhook payloads.

Each output is opened with a real reader (markdown-it for Markdown, the ``email`` package for
e-mail, ``json`` for webhooks) and must show the text as itself. Hypothesis feeds hostile text;
``ANALYTICS_TEST_HYPOTHESIS_PROFILE=large`` runs 10,000 examples per property.
"""

from __future__ import annotations

import html
import json
from email import message_from_bytes, policy

import dagster as dg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from analytics_pipeline.alerts.channels import EmailChannel, Notification, WebhookChannel
from analytics_pipeline.orchestration import markdown_table
from analytics_pipeline.safe_text import markdown_cell_text, visible
from analytics_pipeline_tests.ingestion.hostile import examples

PROPERTY = settings(max_examples=examples(200), derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
# Text as events can carry it: any Unicode (no surrogates: stored text is valid UTF-8) with the
# characters that break renderers made likely.
HOSTILE = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=["Cs"]),
        st.sampled_from(list("|`*_[]()<>&\\!~#-=+@\t\r\n\x00\x0b\x1b\x7f\x85\u2028\u202e")),
    ),
    max_size=120,
) | st.sampled_from(["<script>alert(1)</script>", "<custom event_name>", "a|b|c", "`code`", "**bold**",
                     "[x](javascript:alert(1))", "&lt;", "\\|", "=HYPERLINK(\"x\")", "<!channel>", "line\nbreak"])
MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def _table_cells(source: str) -> list[list[str]]:
    """The rendered text of every cell, row by row, as a Markdown reader sees the table."""
    rows: list[list[str]] = []
    for token in MARKDOWN.parse(source):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows is not None and token.map is not None and rows:
            kinds = {child.type for child in token.children or []}
            assert kinds <= {"text", "softbreak"}, f"markup was interpreted: {kinds} in {token.content!r}"
            rows[-1].append("".join(child.content for child in token.children or []))
    return rows


@PROPERTY
@given(values=st.lists(st.tuples(HOSTILE, HOSTILE), min_size=1, max_size=4), header=HOSTILE)
def test_a_markdown_preview_shows_every_value_in_its_own_cell(values: list[tuple[str, str]], header: str) -> None:
    rows = [{"name": a, header: b} for a, b in values]
    columns = ["name", header] if header != "name" else ["name"]
    cells = _table_cells(markdown_table(rows, columns))
    assert len(cells) == len(rows) + 1
    assert cells[0] == [markdown_cell_text(c) for c in columns]
    for row, rendered in zip(rows, cells[1:]):
        assert rendered == [markdown_cell_text(row.get(c)) for c in columns]


def test_a_markdown_cell_keeps_long_values_readable() -> None:
    cells = _table_cells(markdown_table([{"path": "/" + "a|" * 60}]))
    assert cells[1] == ["/" + "a|" * 39 + "\u2026"]
    assert markdown_cell_text("tab\there\x00nul") == "tab\u2409here\u2400nul"


def test_every_column_and_asset_description_renders_as_written() -> None:
    """No ``<word>`` that a Markdown reader takes for an HTML tag and hides (column descriptions
    everywhere; asset descriptions of the stages up to the cache)."""
    from analytics_pipeline.definitions import defs

    checked = 0
    for spec in defs.resolve_all_asset_specs():
        texts = [spec.description or ""] if spec.group_name != "reports" else []
        schema = spec.metadata.get("dagster/column_schema")
        if isinstance(schema, dg.TableSchema):
            texts += [column.description or "" for column in schema.columns]
        for text in texts:
            for token in MARKDOWN.parse(text):
                for child in token.children or []:
                    assert child.type not in ("html_inline", "html_block"), f"{spec.key}: {text!r} hides {child.content!r}"
            assert not [t for t in MARKDOWN.parse(text) if t.type == "html_block"], text
            checked += 1
    assert checked > 50


def _notification(title: str, text: str, website: str, event_name: str) -> Notification:
    return Notification(title=title, text=text, severity="critical", link="http://127.0.0.1:3000/runs/x",
                        fields={"website": website, "event": event_name})


@PROPERTY
@given(title=HOSTILE, text=HOSTILE, website=HOSTILE, event_name=HOSTILE)
def test_an_alert_email_parses_with_the_email_package_and_shows_the_text(
    title: str, text: str, website: str, event_name: str
) -> None:
    notification = _notification(title, text, website, event_name)
    message = EmailChannel("smtp://127.0.0.1:25", "alerts@example.org").message(notification, ("ops@example.org",))
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert set(parsed.keys()) == {"From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding", "MIME-Version"}
    assert parsed["Subject"] == visible(notification.subject)
    body = parsed.get_content().replace("\r\n", "\n")
    assert body == notification.plain_text()
    assert f"website: {visible(website)}\n" in body and f"event: {visible(event_name)}\n" in body


@PROPERTY
@given(title=HOSTILE, text=HOSTILE, website=HOSTILE, event_name=HOSTILE)
def test_a_webhook_payload_parses_to_the_same_text(title: str, text: str, website: str, event_name: str) -> None:
    notification = _notification(title, text, website, event_name)
    body = json.dumps(WebhookChannel.payload(notification)).encode()
    payload = json.loads(body)
    assert payload["summary"] == title and payload["fields"] == {"website": website, "event": event_name}
    assert "<" not in payload["text"] and ">" not in payload["text"]
    shown = html.unescape(payload["text"])
    assert shown.startswith(f"*{visible(notification.subject)}*\n")
    assert f"website: {visible(website)}" in shown and f"event: {visible(event_name)}" in shown


UNSAFE_ON_A_TERMINAL = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
                                         *range(0x2066, 0x206A))}


@PROPERTY
@given(sites=st.lists(st.tuples(HOSTILE, HOSTILE), min_size=1, max_size=4, unique_by=lambda s: s[0]))
def test_the_demo_summary_prints_any_website_and_page_safely_in_aligned_columns(sites: list[tuple[str, str]]) -> None:
    """``make demo``'s summary table (a terminal): no control or reordering character gets
    through, and every line's numbers end where the header's columns end."""
    from analytics_pipeline.cli.demo import summary_lines

    rows = [{"website_id": site, "total_pageviews": 1234, "total_custom_events": 5, "unique_visitors": 7,
             "sessions_started": 3, "bounce_rate": 0.5, "avg_session_duration_seconds": 12.0,
             "top_pages": [{"item": page, "count": 9}]} for site, page in sites]
    header, *lines = summary_lines(rows)

    assert len(lines) == len(sites)
    assert not UNSAFE_ON_A_TERMINAL & set("".join([header, *lines]))
    pageviews_end = header.index("pageviews") + len("pageviews")
    avg_end = header.index("avg s") + len("avg s")
    for line in lines:
        assert line[pageviews_end - 5:pageviews_end] == "1,234"
        assert line[avg_end - 4:avg_end] == "12.0"
        assert visible(line) == line
