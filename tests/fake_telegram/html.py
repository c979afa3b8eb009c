"""Telegram's HTML parse mode, as the Bot API reads it: plain text and entities, or the error it gives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]


class HtmlParseError(ValueError):
    """Raised by :func:`parse_html` for text Telegram would reject with "can't parse entities"."""


_ALLOWED_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}
_HTML_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _utf16_len(text: str) -> int:
    if not text or max(text) < "\U00010000":  # no character outside the BMP: one UTF-16 unit each
        return len(text)
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    offset: int
    attrs: dict[str, str]
    language: str | None = None
    skip: bool = False


def _decode_attr_value(value: str) -> str:
    def repl(match: re.Match[str]) -> str:
        return _decode_entity(match) or match.group(0)

    return _HTML_ENTITY_RE.sub(repl, value)


def _decode_entity(match: re.Match[str]) -> str | None:
    decimal, hexadecimal, named = match.groups()
    if named:
        return _NAMED_ENTITIES[named]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def parse_html(source: str) -> tuple[str, list[JsonDict]]:
    """Parse Telegram's HTML parse mode into ``(plain_text, entities)`` like the Bot API does.

    Entity offsets and lengths are in UTF-16 code units.  Raises :class:`HtmlParseError` with a message in
    the style of Telegram's for unsupported/unbalanced tags, a ``<`` that does not start a tag and a ``&``
    that does not start one of the supported character entities (``&lt; &gt; &amp; &quot;`` and numeric).
    """
    return _Parser(source).run()


class _Parser:
    """One pass over the source: text and character entities go out, tags open and close entities."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.out: list[str] = []
        self.pos16 = 0  # where the plain text is, in UTF-16 units
        self.stack: list[_OpenTag] = []
        self.entities: list[JsonDict] = []

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode("utf-8"))

    def run(self) -> tuple[str, list[JsonDict]]:
        i, n = 0, len(self.source)
        while i < n:
            char = self.source[i]
            if char == "&":
                i = self._character_entity(i)
            elif char != "<":
                self._emit(char)
                i += 1
            elif i + 1 < n and self.source[i + 1] == "/":
                i = self._end_tag(i)
            else:
                i = self._start_tag(i)
        if self.stack:
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.pos16 += _utf16_len(text)

    def _character_entity(self, i: int) -> int:
        match = _HTML_ENTITY_RE.match(self.source, i)
        decoded = _decode_entity(match) if match else None
        if match is None or decoded is None:
            raise HtmlParseError(f'Unsupported character entity or unescaped "&" at byte offset {self.byte_offset(i)}')
        self._emit(decoded)
        return match.end()

    def _end_tag(self, i: int) -> int:
        end = self.source.find(">", i + 2)
        if end == -1:
            raise HtmlParseError(f"Unclosed end tag at byte offset {self.byte_offset(i)}")
        name = self.source[i + 2 : end].strip().lower()
        if not self.stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {self.byte_offset(i)}")
        top = self.stack.pop()
        if name != top.name:
            raise HtmlParseError(
                f"Unmatched end tag at byte offset {self.byte_offset(i)}, "
                f'expected "</{top.name}>", found "</{name}>"'
            )
        entity = _make_entity(top, self.pos16)
        if entity is not None:
            self.entities.append(entity)
        return end + 1

    def _start_tag(self, i: int) -> int:
        source, n = self.source, len(self.source)
        j = i + 1
        while j < n and (source[j].isascii() and (source[j].isalnum() or source[j] == "-")):
            j += 1
        name = source[i + 1 : j].lower()
        if name not in _ALLOWED_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {self.byte_offset(i)}')
        attrs, j = _parse_attributes(source, j, name, self.byte_offset(i))
        tag = _OpenTag(name=name, offset=self.pos16, attrs=attrs)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(i)}')
        if name == "code" and self.stack and self.stack[-1].name == "pre":
            css_class = attrs.get("class", "")
            if css_class.startswith("language-"):
                self.stack[-1].language = css_class.removeprefix("language-")
                tag.skip = True
        self.stack.append(tag)
        return j


def _skip_space(source: str, j: int) -> int:
    while j < len(source) and source[j].isspace():
        j += 1
    return j


def _parse_attributes(source: str, j: int, tag: str, tag_offset: int) -> tuple[dict[str, str], int]:
    attrs: dict[str, str] = {}
    n = len(source)
    while True:
        j = _skip_space(source, j)
        if j >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {tag_offset}")
        if source[j] == ">":
            return attrs, j + 1
        start = j
        while j < n and not source[j].isspace() and source[j] not in "=>/":
            j += 1
        attr_name = source[start:j].lower()
        if not attr_name:
            raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {tag_offset}')
        j = _skip_space(source, j)
        if j < n and source[j] == "=":
            value, j = _attribute_value(source, _skip_space(source, j + 1), tag_offset)
            attrs[attr_name] = _decode_attr_value(value)
        else:
            attrs[attr_name] = ""


def _attribute_value(source: str, j: int, tag_offset: int) -> tuple[str, int]:
    """The value that starts at `j` (quoted or bare), and where the source goes on after it."""
    n = len(source)
    if j >= n:
        raise HtmlParseError(f"Unclosed start tag at byte offset {tag_offset}")
    if source[j] in "'\"":
        end = source.find(source[j], j + 1)
        if end == -1:
            raise HtmlParseError(f"Unclosed start tag at byte offset {tag_offset}")
        return source[j + 1 : end], end + 1
    start = j
    while j < n and not source[j].isspace() and source[j] != ">":
        j += 1
    return source[start:j], j


def _make_entity(tag: _OpenTag, end16: int) -> JsonDict | None:
    length = end16 - tag.offset
    if tag.skip or length <= 0:
        return None
    kind = _ALLOWED_TAGS[tag.name]
    entity: JsonDict = {"type": kind, "offset": tag.offset, "length": length}
    if tag.name == "a":
        href = tag.attrs.get("href", "")
        if not href:
            return None
        entity["url"] = href
    elif tag.name == "pre" and tag.language:
        entity["language"] = tag.language
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    return entity
