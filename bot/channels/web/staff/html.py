"""The staff area's HTML: one layout, forms with the CSRF token, screens as text and buttons; every text escaped.

Server-rendered and small (a page is a few KB; the dashboard's charts aside): large targets, visible
focus, a heading per page, labels on every field (WCAG 2.2 AA, as the form).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from flows.screens import Screen, Tone
from locales import LANGUAGES, Translator


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def text_block(text: str) -> str:
    parts = [p for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{esc(p).replace(chr(10), '<br>')}</p>" for p in parts)


def button_form(action: str, csrf: str, label: str, fields: dict[str, str] | None = None, *,
                cls: str = "") -> str:
    hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in (fields or {}).items())
    klass = f' class="{esc(cls)}"' if cls else ""
    return (f'<form method="post" action="{esc(action)}"><input type="hidden" name="csrf" value="{esc(csrf)}">'
            f"{hidden}<button type=\"submit\"{klass}>{esc(label)}</button></form>")


def choice_form(action: str, csrf: str, field_id: str, label: str, options: Iterable[tuple[str, str]],
                submit: str) -> str:
    """One labelled choice and one button (lighter than a form per choice)."""
    opts = "".join(f'<option value="{esc(v)}">{esc(text)}</option>' for v, text in options)
    return (f'<form method="post" action="{esc(action)}"><input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<label for="{esc(field_id)}">{esc(label)}</label><select id="{esc(field_id)}" name="button">{opts}'
            f'</select> <button type="submit">{esc(submit)}</button></form>')


def screen_card(screen: Screen, action: str, csrf: str, heading: str, *, skip: Iterable[str] = (),
                extra: str = "") -> str:
    """A service's screen (a summary, a case card) as a card: its text, and each button a POST form."""
    left_out = set(skip)
    buttons = "".join(button_form(action, csrf, b.label, {"button": b.id}) for b in screen.buttons
                      if b.id not in left_out)
    crisis = " crisis" if screen.tone is Tone.CRISIS else ""
    return (f'<article class="card{crisis}"><h2>{esc(heading)}</h2>{text_block(screen.text)}'
            f'<div class="actions">{buttons}</div>{extra}</article>')


def nav_links(t: Translator, role: str) -> list[tuple[str, str]]:
    links = {"consultant": [("/staff/referrals", "staff.web.nav.referrals"), ("/staff/cases", "staff.web.nav.cases")],
             "peer": [("/staff/slots", "staff.web.nav.slots")],
             "coordinator": [("/staff/urgent", "staff.web.nav.urgent"), ("/staff/waiting", "staff.web.nav.waiting"),
                             ("/staff/team", "staff.web.nav.team"), ("/staff/dashboard", "staff.web.nav.dashboard")],
             "operator": [("/staff/operator", "staff.web.nav.operator")]}
    return [(href, t(msgid)) for href, msgid in links.get(role, [])]


def page(lang: str, title: str, body: str, *, csrf: str = "", role: str = "", script: bool = False,
         status_line: str = "") -> str:
    """A whole page. `role` set: signed in (the menu and "Sign out"); `script`: the passkey script."""
    t = Translator(lang)
    menu = ""
    if role:
        links = "".join(f'<li><a href="{esc(h)}">{esc(label)}</a></li>' for h, label in nav_links(t, role))
        out = button_form("/staff/logout", csrf, t("staff.web.sign_out"), cls="nav")
        menu = f'<nav aria-label="{esc(t("staff.web.menu"))}"><ul>{links}</ul>{out}</nav>'
    current = ' aria-current="true"'
    langs = " ".join(f'<a href="?lang={code}" lang="{code}"{current if code == lang else ""}>{code.upper()}</a>'
                     for code in LANGUAGES)
    status = f'<p role="status">{esc(status_line)}</p>' if status_line else ""
    js = '<script src="/staff/static/staff.js" defer></script>' if script else ""
    return (f'<!DOCTYPE html>\n<html lang="{esc(lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)} · {esc(t("staff.web.area"))}</title>'
            f'<link rel="stylesheet" href="/staff/static/staff.css">{js}</head><body>'
            f'<header><p class="brand">{esc(t("staff.web.area"))}</p><p class="langs">{langs}</p>{menu}</header>'
            f"<main><h1>{esc(title)}</h1>{status}{body}</main></body></html>\n")


def table(caption: str, head: list[str], rows: list[list[str]], *, raw_last: bool = False) -> str:
    """A table of escaped cells (the last cell may be ready HTML: a button)."""
    if not rows:
        return ""
    th = "".join(f'<th scope="col">{esc(h)}</th>' for h in head)

    def cells(row: list[str]) -> str:
        out = [f"<td>{esc(c)}</td>" for c in (row[:-1] if raw_last else row)]
        if raw_last:
            out.append(f"<td>{row[-1]}</td>")
        return "".join(out)

    body = "".join(f"<tr>{cells(r)}</tr>" for r in rows)
    return f"<table><caption>{esc(caption)}</caption><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
