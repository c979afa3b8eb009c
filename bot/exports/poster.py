"""`ipsbot poster`: a printable one-page invitation with QR codes for the web form and the Telegram bot.

The words are catalogue texts (`poster.*`, the programme's own name); the codes hold the web link
(`WEB_URL/p/<programme>?lang=<lang>`) and the Telegram deep link (`https://t.me/<bot>?start=<programme>`).
A4 at 150 dots per inch, written as PNG or PDF (by the file's ending). The text needs a font with
æ, ø, å, ä and ö: DejaVu, Liberation or Noto Sans where installed (Debian's fonts-dejavu-core);
Pillow's own font has none of them and is only the last resort.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from flows.programmes import Programme
from locales import Translator

Face = ImageFont.FreeTypeFont | ImageFont.ImageFont
WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dpi
MARGIN = 100
FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
         "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf", "/Library/Fonts/Arial Unicode.ttf",
         "C:/Windows/Fonts/arial.ttf")


def font(size: int) -> Face:
    for path in FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def links(programme: Programme, lang: str, web_url: str, bot_username: str) -> tuple[str, str]:
    web = f"{web_url.rstrip('/')}/p/{programme.id}?lang={lang}"
    telegram = f"https://t.me/{bot_username.lstrip('@')}?start={programme.id}"
    return web, telegram


def _qr(data: str, size: int) -> Image.Image:
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="png", scale=10, border=4)
    buffer.seek(0)
    return Image.open(buffer).convert("L").resize((size, size), Image.Resampling.NEAREST)


def _lines(draw: ImageDraw.ImageDraw, text: str, face: Face, width: int) -> list[str]:
    """`text` wrapped to `width` pixels in `face`."""
    for chars in range(60, 10, -2):
        lines = [line for para in text.split("\n") for line in textwrap.wrap(para, chars) or [""]]
        if all(draw.textlength(line, font=face) <= width for line in lines):
            return lines
    return textwrap.wrap(text, 10)


def render(programme: Programme, lang: str, web_url: str, bot_username: str) -> Image.Image:
    t = Translator(lang)
    web, telegram = links(programme, lang, web_url, bot_username)
    page = Image.new("L", (WIDTH, HEIGHT), 255)
    draw = ImageDraw.Draw(page)
    title, body, small = font(64), font(38), font(28)
    y = MARGIN
    for line in _lines(draw, programme.name(lang), title, WIDTH - 2 * MARGIN):
        draw.text((MARGIN, y), line, font=title, fill=0)
        y += 80
    y += 40
    for line in _lines(draw, t("poster.invite"), body, WIDTH - 2 * MARGIN):
        draw.text((MARGIN, y), line, font=body, fill=0)
        y += 54
    y += 80
    size = (WIDTH - 3 * MARGIN) // 2
    for column, (data, caption) in enumerate([(web, t("poster.scan_web")), (telegram, t("poster.scan_telegram"))]):
        x = MARGIN + column * (size + MARGIN)
        page.paste(_qr(data, size), (x, y))
        line_y = y + size + 20
        for line in _lines(draw, caption, body, size):
            draw.text((x, line_y), line, font=body, fill=0)
            line_y += 50
        for line in _lines(draw, data, small, size):  # the address in writing too, for typing it in
            draw.text((x, line_y + 10), line, font=small, fill=60)
            line_y += 36
    return page


def write_poster(programme: Programme, lang: str, web_url: str, bot_username: str, out: str | Path) -> Path:
    path = Path(out)
    image = render(programme, lang, web_url, bot_username)
    if path.suffix.lower() == ".pdf":
        image.save(path, "PDF", resolution=150.0)
    else:
        image.save(path, "PNG", optimize=True)
    return path
