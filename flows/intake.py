"""The candidate intake as a step machine.

``IntakeFlow.handle(state, answer)`` takes the saved state (a dict) and one answer and returns
the new state, the screens to show and the events the caller must persist (consent given,
intake completed, ...). The sequence of steps is derived from the programme and the answers so
far, so nothing about "where we are" is stored twice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from flows import instruments, questions
from flows.answers import Answer, Command, Tap, Text, parse_text
from flows.consent import CONSENT_VERSION
from flows.programmes import Programme, Registry
from flows.questions import Kind, Question
from flows.referral import build_facts, build_partial_referral, build_referral
from flows.screens import Button, InputKind, Screen, Tone
from flows.state import State, Status
from flows.triage import decide
from locales import LANGUAGES, Translator, normalise

INFO_STEPS = ("info.ips", "info.screening", "info.help")
BACK, SKIP, DONE = "back", "skip", "done"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{6,18}[0-9]$")


@dataclass(frozen=True, slots=True)
class Event:
    """Something the caller must persist or act on, in the same transaction as the new state."""

    kind: str  # consent | declined | completed | risk | language | restart | delete
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Reply:
    state: dict[str, Any]
    screens: list[Screen]
    events: list[Event] = field(default_factory=list)
    stale: bool = False  # a tap on a button of another question: nothing changed

    @property
    def asking(self) -> Screen | None:
        """The screen that asks the current question, if any."""
        return next((s for s in reversed(self.screens) if s.asks), None)


def clean_text(raw: str) -> str:
    """Drop control and zero-width characters, normalise, trim; keeps line breaks."""
    text = unicodedata.normalize("NFC", raw)
    kept = [c for c in text if c == "\n" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co")]
    return "".join(kept).strip()


class IntakeFlow:
    """The dialogue for one registry of programmes; stateless, safe to share."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # --- entry points ----------------------------------------------------------------------

    def begin(self, programme_id: str | None = None, lang: str | None = None) -> Reply:
        """A new intake; the programme from a start link, the language from the device if known."""
        programme = self.registry.get(programme_id)
        language = normalise(lang) if lang else (programme.default_language if programme else "en")
        if lang and normalise(lang) == "en" and programme and not lang.lower().startswith("en"):
            language = programme.default_language  # an unsupported device language: the programme's
        state = State(programme=programme.id if programme else None, lang=language)
        state.programme_fixed = programme is not None
        state.step = "language" if programme else "programme"
        screens = [] if programme or not programme_id else [self._notice(state, "start.unknown_programme")]
        return Reply(state.to_dict(), [*screens, self._screen(state)])

    @staticmethod
    def with_risks(state_dict: dict[str, Any], risk_items: list[str]) -> dict[str, Any]:
        """The state with risk answers given earlier (e.g. in an abandoned intake) carried over.

        `risk_items` are steps such as "mdi.6"; the flag makes triage see `flags.risk`.
        """
        if not risk_items:
            return state_dict
        state = State.from_dict(state_dict)
        if "risk" not in state.flags:
            state.flags.append("risk")
        state.risk_items += [item for item in risk_items if item not in state.risk_items]
        return state.to_dict()

    def partial(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """An urgent partial referral from an unfinished intake after a risk answer."""
        state = State.from_dict(state_dict)
        programme = self._programme(state)
        sequence = self._sequence(state)
        answered = [s for s in sequence if self._answer_key(s) in state.answers and s != "summary"]
        return build_partial_referral(state, programme, sequence, answered)

    def show(self, state_dict: dict[str, Any]) -> list[Screen]:
        """The current question again (on resume)."""
        state = State.from_dict(state_dict)
        return [self._screen(state)]

    def handle(self, state_dict: dict[str, Any], answer: Answer) -> Reply:
        state = State.from_dict(state_dict)
        if isinstance(answer, Text):
            parsed = parse_text(answer.text)
            answer = parsed if isinstance(parsed, Command) else answer
        if self._consent_outdated(state) and not self._allowed_before_reconsent(state, answer):
            # the consent text changed since they agreed: ask again before anything new is stored
            state.overlay = "consent"
            state.version += 1
            return self._reply(state, [self._notice(state, "consent.changed"), self._screen(state)])
        if isinstance(answer, Command):
            return self._command(state, answer)
        if state.status is not Status.ACTIVE and not state.overlay:  # /delete, /language still work
            return self._reply(state, [self._notice(state, "finished.hint"), self._screen(state)])
        current = self._screen(state)
        if isinstance(answer, Tap):
            if answer.step != current.step or answer.version != state.version:
                return self._stale(state, current)
            if answer.button == BACK:
                return self._back(state)
            if answer.button == SKIP and self._skippable(state):
                return self._answer(state, None)
            if answer.button not in {b.id for b in current.buttons}:
                return self._stale(state, current)
            return self._choose(state, answer.button)
        return self._typed(state, current, answer.text)

    @staticmethod
    def _consent_outdated(state: State) -> bool:
        return (state.status is Status.ACTIVE and state.consent is not None
                and state.consent.get("version") != CONSENT_VERSION)

    @staticmethod
    def _allowed_before_reconsent(state: State, answer: Answer) -> bool:
        """While asked to consent again: that question, seeing or deleting one's data, and help."""
        if isinstance(answer, Command):
            return answer.name in ("mydata", "delete", "help", "language")
        return state.overlay in ("consent", "delete", "language")

    # --- commands --------------------------------------------------------------------------

    def _command(self, state: State, command: Command) -> Reply:
        name = command.name
        if name == "start":
            return self._start_again(state, command.arg)
        if name == "back":
            if state.overlay:
                state.overlay = None
                state.version += 1
                return self._reply(state, [self._screen(state)])
            if state.status is not Status.ACTIVE:
                return self._reply(state, [self._notice(state, "finished.hint"), self._screen(state)])
            return self._back(state)
        if name == "skip" and state.status is Status.ACTIVE and self._skippable(state):
            return self._answer(state, None)
        if name in ("language", "restart", "delete"):
            state.overlay = name
            state.version += 1
            return self._reply(state, [self._screen(state)])
        if name == "help":
            return self._reply(state, [self._help(state), self._screen(state)])
        if name == "mydata":  # the caller adds the machine-readable copy (GDPR art. 15 and 20)
            return self._reply(state, [self._my_data(state), self._screen(state)], [Event("mydata")])
        return self._reply(state, [self._notice(state, "command.unknown"), self._screen(state)])

    def _start_again(self, state: State, arg: str) -> Reply:
        programme = self.registry.get(arg.strip().lower()) if arg else None
        before_consent = state.consent is None and state.status is Status.ACTIVE
        if programme and before_consent and programme.id != state.programme:
            fresh = self.begin(programme.id, state.lang)
            fresh_state = State.from_dict(fresh.state)
            fresh_state.version = state.version + 1
            return self._reply(fresh_state, [self._screen(fresh_state)])
        notice = "start.welcome_back" if state.status is Status.ACTIVE else "finished.hint"
        return self._reply(state, [self._notice(state, notice), self._screen(state)])

    # --- answers ---------------------------------------------------------------------------

    def _typed(self, state: State, current: Screen, raw: str) -> Reply:
        text = clean_text(raw)
        if current.kind is InputKind.CHOICE:
            button = self._match_button(current, text)
            if button is None:
                return self._reply(state, [self._notice(state, "error.choose"), current])
            return self._choose(state, button)
        question = self._question(state.step)
        if question is None:  # a typed answer where only buttons make sense
            return self._reply(state, [self._notice(state, "error.choose"), current])
        shortcut = self._match_button(current, text) if current.buttons else None
        if shortcut is not None:  # the number or name of a shortcut (e.g. one of the programme's municipalities)
            return self._choose(state, shortcut)
        if not text:
            return self._reply(state, [self._notice(state, "error.empty"), current])
        if len(text) > question.max_length and question.kind is not Kind.NUMBER:
            return self._reply(
                state, [self._notice(state, "error.too_long", max=question.max_length), current]
            )
        value: Any = text
        if question.kind is Kind.NUMBER:
            digits = text.replace(" ", "")
            if not digits.isdecimal() or not question.minimum <= int(digits) <= question.maximum:
                return self._reply(state, [self._notice(state, "error.age"), current])
            value = int(digits)
        elif question.kind is Kind.PHONE and not PHONE_RE.match(text):
            return self._reply(state, [self._notice(state, "error.phone"), current])
        elif question.kind is Kind.EMAIL and not EMAIL_RE.match(text):
            return self._reply(state, [self._notice(state, "error.email"), current])
        return self._answer(state, value)

    @staticmethod
    def _match_button(screen: Screen, text: str) -> str | None:
        if text.isdecimal() and 1 <= int(text) <= len(screen.buttons):
            return screen.buttons[int(text) - 1].id
        folded = text.casefold()
        for button in screen.buttons:
            if button.label.casefold() == folded:
                return button.id
        return None

    def _choose(self, state: State, button: str) -> Reply:
        if state.overlay:
            return self._overlay_choice(state, button)
        step = state.step
        if step == "programme":
            state.programme = button
            return self._advance(state)
        if step == "language":
            state.lang = button
            return self._advance(state, events=[Event("language", {"lang": button})])
        if step in INFO_STEPS:
            return self._advance(state)
        if step == "consent":
            if button == "yes":
                state.consent = {"version": CONSENT_VERSION, "language": state.lang}
                event = Event("consent", {"version": CONSENT_VERSION, "language": state.lang})
                return self._advance(state, events=[event])
            state.status = Status.DECLINED
            state.step = "declined"
            state.version += 1
            return self._reply(state, [self._screen(state)], [Event("declined")])
        if step == "summary":
            if button == "confirm":
                return self._complete(state)
            state.overlay = "correct"
            state.version += 1
            return self._reply(state, [self._screen(state)])
        if self._instrument_item(step) is not None:
            return self._answer(state, int(button))
        question = self._question(step)
        if question is not None and question.kind is Kind.MULTI:
            return self._toggle(state, question, button)
        return self._answer(state, button)

    def _toggle(self, state: State, question: Question, button: str) -> Reply:
        """A multiple-choice question: a tap turns an option on or off; "done" answers it."""
        key = self._answer_key(state.step)
        chosen = list(state.answers.get(key) or [])
        if button == DONE:
            if not chosen:
                return self._reply(state, [self._notice(state, "error.choose_some"), self._screen(state)])
            return self._answer(state, [o for o in question.options if o in chosen])
        if button in chosen:
            chosen.remove(button)
        elif button in question.exclusive:
            chosen = [button]
        else:
            chosen = [o for o in chosen if o not in question.exclusive] + [button]
        state.answers[key] = chosen
        state.version += 1
        return self._reply(state, [self._screen(state)])

    def _overlay_choice(self, state: State, button: str) -> Reply:
        overlay, state.overlay = state.overlay, None
        state.version += 1
        events: list[Event] = []
        if overlay == "language" and button in LANGUAGES:
            state.lang = button
            events.append(Event("language", {"lang": button}))
        elif overlay == "correct" and button != "cancel":
            state.history.append(state.step)
            state.return_to = "summary"
            state.step = button
        elif overlay == "restart" and button == "yes":
            fresh = State(programme=state.programme, lang=state.lang, programme_fixed=state.programme_fixed)
            # the answers go, a risk once shown stays (hazard H1): the next referral must be urgent
            fresh.flags, fresh.risk_items = list(state.flags), list(state.risk_items)
            fresh.step = "language" if state.programme else "programme"
            fresh.version = state.version + 1
            return self._reply(fresh, [self._notice(fresh, "restart.done"), self._screen(fresh)],
                               [Event("restart")])
        elif overlay == "consent" and button == "yes":
            state.consent = {"version": CONSENT_VERSION, "language": state.lang}
            events.append(Event("consent", {"version": CONSENT_VERSION, "language": state.lang}))
        elif overlay == "consent" and button == "no":  # withdrawing consent: erase, after a confirmation
            state.overlay = "delete"
        elif overlay == "delete" and button == "yes":
            fresh = State(programme=state.programme, lang=state.lang, programme_fixed=state.programme_fixed)
            fresh.step = "language" if state.programme else "programme"
            fresh.version = state.version + 1
            return self._reply(fresh, [self._notice(fresh, "delete.done")], [Event("delete")])
        return self._reply(state, [self._screen(state)], events)

    def _answer(self, state: State, value: Any) -> Reply:
        step = state.step
        key = self._answer_key(step)
        state.answers[key] = value
        screens: list[Screen] = []
        events: list[Event] = []
        found = self._instrument_item(step)
        if found is not None and value is not None:
            instrument, item_id = found
            if instruments.risk_flags(instrument, item_id, int(value)):
                if "risk" not in state.flags:
                    state.flags.append("risk")
                if step not in state.risk_items:
                    state.risk_items.append(step)
                screens.append(self._crisis(state))
                events.append(Event("risk", {"instrument": instrument.id, "item": item_id, "score": int(value)}))
        reply = self._advance(state, events=events)
        reply.screens[:0] = screens  # crisis help first, before the next question
        return reply

    def _advance(self, state: State, events: list[Event] | None = None) -> Reply:
        sequence = self._sequence(state)
        state.history.append(state.step)
        if state.return_to:
            # after a correction: ask any follow-up that the new answer needs, then the summary
            missing = [s for s in sequence if s.startswith("q.") and self._answer_key(s) not in state.answers]
            state.step = missing[0] if missing else state.return_to
            if not missing:
                state.return_to = None
        else:
            index = sequence.index(state.step) if state.step in sequence else -1
            state.step = sequence[index + 1] if index + 1 < len(sequence) else "summary"
        state.version += 1
        return self._reply(state, [self._screen(state)], events or [])

    def _back(self, state: State) -> Reply:
        if not state.history or state.step in ("result", "declined"):
            return self._reply(state, [self._notice(state, "back.none"), self._screen(state)])
        state.step = state.history.pop()
        state.return_to = None
        state.version += 1
        return self._reply(state, [self._screen(state)])

    def _complete(self, state: State) -> Reply:
        programme = self._programme(state)
        facts, scores = build_facts(state, programme, self._sequence(state))
        decision = decide(programme.rules, facts)
        referral = build_referral(state, programme, self._sequence(state), scores, decision)
        state.result = {"triage": decision.as_dict(), "totals": {k: v.total for k, v in scores.items()}}
        state.status = Status.COMPLETED
        state.history.append(state.step)
        state.step = "result"
        state.version += 1
        screens = [self._screen(state)]
        if state.flags:
            screens.append(self._crisis(state))
        return self._reply(state, screens, [Event("completed", referral)])

    # --- the sequence ----------------------------------------------------------------------

    def _sequence(self, state: State) -> list[str]:
        steps = [] if state.programme_fixed else ["programme"]
        steps += ["language", *INFO_STEPS, "consent"]
        programme = self.registry.get(state.programme)
        if programme is None:
            return steps
        for q in questions.FACTS:
            if self._applies(q, state):
                steps.append(f"q.{q.id}")
            if q.id == "treatment" and programme.diagnoses:
                steps.append(f"q.{questions.DIAGNOSES.id}")
        for iid in programme.instruments:
            steps += [f"{iid}.{item.id}" for item in instruments.load(iid).items]
        if programme.substance:
            steps += [f"q.{q.id}" for q in questions.SUBSTANCE if self._applies(q, state)]
        steps += [f"q.{q.id}" for q in questions.MOTIVATION if self._applies(q, state)]
        steps.append("summary")
        return steps

    @staticmethod
    def _applies(question: Question, state: State) -> bool:
        if question.only_if is None:
            return True
        other, values = question.only_if
        return state.answers.get(other) in values

    @staticmethod
    def _answer_key(step: str) -> str:
        return step.removeprefix("q.")

    @staticmethod
    def _question(step: str) -> Question | None:
        return questions.ALL.get(step.removeprefix("q.")) if step.startswith("q.") else None

    def _instrument_item(self, step: str) -> tuple[instruments.Instrument, str] | None:
        iid, _, item = step.partition(".")
        if iid in instruments.available() and item:
            return instruments.load(iid), item
        return None

    def _skippable(self, state: State) -> bool:
        question = self._question(state.step)
        return bool(question and question.optional and not state.overlay)

    def _programme(self, state: State) -> Programme:
        programme = self.registry.get(state.programme)
        if programme is None:
            raise LookupError(f"unknown programme {state.programme!r}")
        return programme

    # --- screens ---------------------------------------------------------------------------

    def _reply(self, state: State, screens: list[Screen], events: list[Event] | None = None) -> Reply:
        return Reply(state.to_dict(), screens, events or [])

    def _stale(self, state: State, current: Screen) -> Reply:
        return Reply(state.to_dict(), [self._notice(state, "stale.tap"), current], stale=True)

    def _notice(self, state: State, msgid: str, **params: Any) -> Screen:
        return Screen(text=Translator(state.lang)(msgid, **params), tone=Tone.ERROR)

    def _nav(self, state: State, t: Translator, skip: bool = False) -> tuple[Button, ...]:
        nav = [Button(SKIP, t("button.skip"))] if skip else []
        if state.history:
            nav.append(Button(BACK, t("button.back")))
        return tuple(nav)

    def _screen(self, state: State) -> Screen:
        t = Translator(state.lang)
        if state.overlay:
            return self._overlay_screen(state, t)
        step = state.step

        def choice(text: str, buttons: list[Button], **extra: Any) -> Screen:
            return Screen(text, step, state.version, InputKind.CHOICE, tuple(buttons), **extra)

        if step == "programme":
            offered = self.registry.for_language(state.lang)
            return choice(t("programme.ask"), [Button(p.id, p.name(state.lang)) for p in offered])
        if step == "language":
            return choice(
                t("language.ask"),
                [Button(code, t(f"language.{code}")) for code in self._language_order(state)],
                nav=self._nav(state, t),
            )
        if step in INFO_STEPS:
            text = t(step, programme=self._programme(state).name(state.lang))
            if step == "info.help":
                text += "\n\n" + self._crisis_lines(state, t)
            return choice(text, [Button("next", t("button.next"))], nav=self._nav(state, t))
        if step == "consent":
            return choice(
                t("consent.text"),
                [Button("yes", t("consent.yes")), Button("no", t("consent.no"))],
                nav=self._nav(state, t),
            )
        if step == "declined":
            text = t("declined.text") + "\n\n" + self._programme(state).contact_text(state.lang)
            return Screen(text, step, state.version, tone=Tone.RESULT)
        if step == "summary":
            return choice(
                t("summary.title") + "\n\n" + self._summary(state, t),
                [Button("confirm", t("summary.confirm")), Button("correct", t("summary.correct"))],
                nav=self._nav(state, t),
            )
        if step == "result":
            return Screen(self._result_text(state, t), step, state.version, tone=Tone.RESULT)
        found = self._instrument_item(step)
        if found is not None:
            instrument, item_id = found
            position = [i.id for i in instrument.items].index(item_id) + 1
            return choice(
                t(instrument.intro) + "\n\n" + t(instrument.item(item_id).text),
                [Button(str(o.score), t(o.label)) for o in instrument.options_of(instrument.item(item_id))],
                progress=t("progress", current=position, total=len(instrument.items)),
                nav=self._nav(state, t),
            )
        question = self._question(step)
        if question is None:
            raise LookupError(f"unknown step {step!r}")
        text = t(question.msgid)
        if question.kind is Kind.MULTI:
            chosen = state.answers.get(self._answer_key(step)) or []
            buttons = [Button(o, t("option.chosen", label=t(question.option_msgid(o))) if o in chosen
                              else t(question.option_msgid(o))) for o in question.options]
            return choice(text, [*buttons, Button(DONE, t("button.done"))], nav=self._nav(state, t))
        if question.kind is Kind.CHOICE:
            country = self._programme(state).country
            options = question.options_for(country)
            return choice(
                text, [Button(o, t(question.option_msgid(o))) for o in options], nav=self._nav(state, t)
            )
        kind = InputKind.NUMBER if question.kind is Kind.NUMBER else InputKind.TEXT
        nav = self._nav(state, t, skip=question.optional)
        shortcuts: tuple[Button, ...] = ()
        if question.id == "municipality":
            shortcuts = tuple(Button(m, m) for m in self._programme(state).municipalities)
        return Screen(text, step, state.version, kind, shortcuts, nav=nav)

    def _overlay_screen(self, state: State, t: Translator) -> Screen:
        overlay = state.overlay or ""
        step = f"{state.step}@{overlay}"
        cancel = (Button(BACK, t("button.back")),)
        if overlay == "language":
            buttons = tuple(Button(code, t(f"language.{code}")) for code in LANGUAGES)
            return Screen(t("language.ask"), step, state.version, InputKind.CHOICE, buttons, nav=cancel)
        if overlay == "correct":
            fields = [Button(s, t(f"{s}.short")) for s in self._sequence(state) if self._correctable(s)]
            buttons = (*fields, Button("cancel", t("button.cancel")))
            return Screen(t("correct.ask"), step, state.version, InputKind.CHOICE, buttons)
        if overlay == "consent":
            buttons = (Button("yes", t("consent.yes")), Button("no", t("consent.withdraw")))
            return Screen(t("consent.text"), step, state.version, InputKind.CHOICE, buttons)
        yes_no = (Button("yes", t(f"{overlay}.yes")), Button("no", t("button.cancel")))
        return Screen(t(f"{overlay}.ask"), step, state.version, InputKind.CHOICE, yes_no)

    @staticmethod
    def _correctable(step: str) -> bool:
        question = IntakeFlow._question(step)
        return question is not None

    def _language_order(self, state: State) -> list[str]:
        return [state.lang, *(code for code in LANGUAGES if code != state.lang)]

    def _summary(self, state: State, t: Translator) -> str:
        lines = []
        for step in self._sequence(state):
            if self._correctable(step):
                lines.append(f"{t(step + '.short')}: {self._answer_label(state, step, t)}")
        return "\n".join(lines)

    def _answer_label(self, state: State, step: str, t: Translator) -> str:
        key = self._answer_key(step)
        value = state.answers.get(key)
        question = self._question(step)
        if value is None or question is None:
            return t("summary.skipped")
        if question.kind is Kind.CHOICE:
            return t(question.option_msgid(str(value)))
        if question.kind is Kind.MULTI:
            return ", ".join(t(question.option_msgid(str(v))) for v in value)
        return str(value)

    def _result_text(self, state: State, t: Translator) -> str:
        programme = self._programme(state)
        triage = (state.result or {}).get("triage", {})
        outcome = triage.get("outcome", "not-in-target")
        parts = [
            t("result.thanks", name=state.answers.get("name") or ""),
            t(f"result.{outcome}"),
            t(triage.get("reason", "reason.target_group")),
        ]
        if programme.show_scores:
            totals = (state.result or {}).get("totals", {})
            parts += [t("result.score", name=t(instruments.load(i).name), total=v) for i, v in totals.items()]
        parts.append(programme.contact_text(state.lang))
        return "\n\n".join(parts)

    def _crisis_lines(self, state: State, t: Translator) -> str:
        age = state.answers.get("age")
        return "\n".join(
            t(line.label, phone=line.phone) for line in self._programme(state).crisis_for(age)
        )

    def _crisis(self, state: State) -> Screen:
        t = Translator(state.lang)
        return Screen(t("crisis.text") + "\n\n" + self._crisis_lines(state, t), tone=Tone.CRISIS)

    def _help(self, state: State) -> Screen:
        t = Translator(state.lang)
        text = t("help.text")
        if state.programme:
            text += "\n\n" + self._crisis_lines(state, t)
        return Screen(text)

    def _my_data(self, state: State) -> Screen:
        t = Translator(state.lang)
        if not state.answers:
            return Screen(t("mydata.empty"))
        lines = [t("mydata.title")]
        if state.consent:
            lines.append(t("mydata.consent", version=state.consent["version"]))
        lines.append(self._summary(state, t))
        for step in self._sequence(state):
            found = self._instrument_item(step)
            key = self._answer_key(step)
            if found is not None and key in state.answers:
                instrument, item_id = found
                options = instrument.options_of(instrument.item(item_id))
                option = next(o for o in options if o.score == state.answers[key])
                lines.append(f"{t(instrument.item(item_id).text)}: {t(option.label)}")
        return Screen("\n".join(lines))

