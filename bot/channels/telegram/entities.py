"""A message's text and entities (Telegram's JSON) back to the HTML parse mode, framework-free.

The same algorithm as aiogram's `html_decoration.unparse` (offsets are UTF-16 code units; nested
entities recurse), so a pressed question's text reads as it did when it was fetched through aiogram.
Entities that do not change the text (commands, URLs, mentions, ...) stay plain text.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

TAGS = {"bold": "b", "italic": "i", "underline": "u", "strikethrough": "s", "spoiler": "tg-spoiler",
        "code": "code", "blockquote": "blockquote"}


def _plain(units: bytes) -> str:
    return html.escape(units.decode("utf-16-le", errors="replace"), quote=False)


def _apply(entity: dict[str, Any], inner: str) -> str:
    kind = entity.get("type")
    if kind in TAGS:
        return f"<{TAGS[kind]}>{inner}</{TAGS[kind]}>"
    if kind == "expandable_blockquote":
        return f"<blockquote expandable>{inner}</blockquote>"
    if kind == "pre":
        language = entity.get("language")
        return f'<pre><code language="language-{language}">{inner}</code></pre>' if language else f"<pre>{inner}</pre>"
    if kind == "text_link":
        return f'<a href="{entity.get("url")}">{inner}</a>'
    if kind == "text_mention":
        return f'<a href="tg://user?id={(entity.get("user") or {}).get("id")}">{inner}</a>'
    if kind == "custom_emoji":
        return f'<tg-emoji emoji-id="{entity.get("custom_emoji_id")}">{inner}</tg-emoji>'
    return inner


def _unparse(text: bytes, entities: list[dict[str, Any]], offset: int, length: int) -> Iterator[str]:
    for index, entity in enumerate(entities):
        if entity["offset"] * 2 < offset:
            continue
        if entity["offset"] * 2 > offset:
            yield _plain(text[offset:entity["offset"] * 2])
        start = entity["offset"] * 2
        offset = start + entity["length"] * 2
        inner = [e for e in entities[index + 1:] if e["offset"] * 2 < offset]
        yield _apply(entity, "".join(_unparse(text, inner, start, offset)))
    if offset < length:
        yield _plain(text[offset:length])


def html_of(text: str, entities: list[dict[str, Any]]) -> str:
    """`text` with its `entities` as HTML; malformed entities are skipped."""
    usable = sorted((e for e in entities if isinstance(e, dict) and isinstance(e.get("offset"), int)
                     and isinstance(e.get("length"), int) and e["offset"] >= 0 and e["length"] >= 0),
                    key=lambda e: e["offset"])
    units = text.encode("utf-16-le", errors="surrogatepass")
    return "".join(_unparse(units, usable, 0, len(units)))
