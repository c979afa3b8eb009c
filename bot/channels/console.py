"""The console channel: the same intake in a terminal, buttons shown as numbered choices.

Works interactively and with piped input (one answer per line), so tests and newcomers can
script it. The state is saved after every answer, so a closed terminal resumes next time.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import TextIO

from bot.output import private_text_file, terminal_safe
from bot.services.intake import IntakeResult, IntakeService, Person
from flows.answers import Text
from flows.screens import InputKind, Screen, Tone
from locales import Translator

RULE = {Tone.CRISIS: "!" * 60, Tone.ERROR: "", Tone.RESULT: "=" * 60, Tone.NORMAL: "-" * 60}


def render(screen: Screen, lang: str) -> str:
    t = Translator(lang)
    lines = []
    if RULE[screen.tone]:
        lines.append(RULE[screen.tone])
    if screen.progress:
        lines.append(f"[{screen.progress}]")
    lines.append(screen.text)
    if screen.buttons:  # a choice, or shortcuts for a typed answer (e.g. the programme's municipalities)
        lines.append("")
        lines += [f"  {n}) {b.label}" for n, b in enumerate(screen.buttons, 1)]
    if screen.nav:
        commands = "  ".join(f"/{b.id} ({b.label})" for b in screen.nav)
        lines.append(t("console.nav", commands=commands))
    if screen.kind is InputKind.CHOICE:
        lines.append(t("console.choose_hint"))
    return "\n".join(lines)


class Console:
    def __init__(self, service: IntakeService, person: Person, out: TextIO = sys.stdout,
                 inp: TextIO = sys.stdin) -> None:
        self.service = service
        self.person = person
        self.out = out
        self.inp = inp
        self.echo = not inp.isatty()  # piped answers are shown, so a transcript reads like a chat

    def show(self, outcome: IntakeResult) -> None:
        lang = outcome.state.get("lang", self.person.language or "en")
        for screen in outcome.screens:
            # screens echo what was typed (the summary, /mydata): no control character reaches the terminal
            self.out.write(terminal_safe(render(screen, lang), keep_newlines=True) + "\n\n")
        if outcome.personal_data is not None:  # /mydata: the same as a file to keep, for their eyes only
            path = Path(f"ipsbot-mydata-{self.person.external_id}.json").resolve()
            with private_text_file(path) as copy:
                copy.write(json.dumps(outcome.personal_data, ensure_ascii=False, indent=2))
            self.out.write(terminal_safe(Translator(lang)("mydata.file", path=str(path))) + "\n\n")
        self.out.flush()

    async def run(self, programme: str | None = None, reset: bool = False) -> int:
        # asyncio's own Ctrl-C handler waits for the loop, which a blocking read never gives back
        signal.signal(signal.SIGINT, signal.default_int_handler)
        outcome = await self.service.start(self.person, programme, anew=reset)
        self.show(outcome)
        while not outcome.finished:
            self.out.write("> ")
            self.out.flush()
            # read in this thread: nothing else runs, and Ctrl-C must stop at once (a reader thread
            # would keep the process waiting for Enter); every answer before it is saved already
            line = self.inp.readline()
            if not line:  # end of input or Ctrl-D: everything is saved already
                self.out.write("\n" + Translator(outcome.state.get("lang", "en"))("console.bye") + "\n")
                return 0
            line = line.rstrip("\n")
            if self.echo:
                self.out.write(terminal_safe(line[:200]) + ("…" if len(line) > 200 else "") + "\n")
            if line.strip() in ("/quit", "/exit"):
                self.out.write(Translator(outcome.state.get("lang", "en"))("console.bye") + "\n")
                return 0
            outcome = await self.service.answer(self.person, Text(line))
            self.show(outcome)
        return 0
