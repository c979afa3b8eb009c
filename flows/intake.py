"""The candidate intake as a step machine: the transitions.

``IntakeFlow.handle(state, answer)`` takes the saved state (a dict) and one answer and returns
the new state, the screens to show and the events the caller must persist (consent given,
intake completed, ...). Split by what each part does: the steps and their order are in
``flows/steps.py``, typed answers are checked in ``flows/validation.py``, the screens are built in
``flows/intake_screens.py``, and events and replies are in ``flows/events.py``; this module decides
where an answer leads.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flows import instruments
from flows.answers import Answer, Command, PageAnswers, Tap, Text, parse_text
from flows.consent import CONSENT_VERSION
from flows.events import Event, EventKind, Reply
from flows.intake_screens import IntakeScreens
from flows.page import answer_page
from flows.programmes import Programme, Registry
from flows.questions import Kind, Question
from flows.referral import build_facts, build_partial_referral, build_referral
from flows.screens import InputKind, Screen
from flows.state import State
from flows.status import IntakeStatus
from flows.steps import ButtonId, Overlay, Step, StepKind, answer_key
from flows.triage import decide
from flows.validation import Invalid, clean_text, match_button, typed_answer
from locales import LANGUAGES, normalise

__all__ = ["Event", "IntakeFlow", "Reply"]

# Overlays and commands allowed while the person is asked to consent again to a changed text.
_BEFORE_RECONSENT_COMMANDS = ("mydata", "delete", "help", "language")
_BEFORE_RECONSENT_OVERLAYS = (Overlay.CONSENT, Overlay.DELETE, Overlay.LANGUAGE)


class IntakeFlow:
    """The dialogue for one registry of programmes; stateless, safe to share."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.screens = IntakeScreens(registry)

    # --- entry points ----------------------------------------------------------------------

    def begin(self, programme_id: str | None = None, lang: str | None = None) -> Reply:
        """A new intake; the programme from a start link, the language from the device if known."""
        programme = self.registry.get(programme_id)
        language = normalise(lang) if lang else (programme.default_language if programme else "en")
        if lang and normalise(lang) == "en" and programme and not lang.lower().startswith("en"):
            language = programme.default_language  # an unsupported device language: the programme's
        state = State(programme=programme.id if programme else None, lang=language)
        state.programme_fixed = programme is not None
        state.step = StepKind.LANGUAGE.value if programme else StepKind.PROGRAMME.value
        screens = [] if programme or not programme_id else [self.screens.notice(state, "start.unknown_programme")]
        return Reply(state.to_dict(), [*screens, self.screens.screen(state)])

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

    @staticmethod
    def with_kept(state_dict: dict[str, Any], kept: list[str]) -> dict[str, Any]:
        """The state of a new intake told what is stored about the person from before it (`State.kept`), so
        that what they read on declining or starting again is true."""
        if not kept:
            return state_dict
        state = State.from_dict(state_dict)
        state.kept += [k for k in kept if k not in state.kept]
        return state.to_dict()

    def partial(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """An urgent partial referral from an unfinished intake after a risk answer."""
        state = State.from_dict(state_dict)
        programme = self._programme(state)
        sequence = self._sequence(state)
        answered = [s for s in sequence if answer_key(s) in state.answers and s != StepKind.SUMMARY]
        return build_partial_referral(state, programme, sequence, answered)

    def show(self, state_dict: dict[str, Any]) -> list[Screen]:
        """The current question again (on resume)."""
        state = State.from_dict(state_dict)
        return [self.screens.screen(state)]

    def handle(self, state_dict: dict[str, Any], answer: Answer) -> Reply:
        if isinstance(answer, PageAnswers):
            return self.handle_page(state_dict, answer)
        state = State.from_dict(state_dict)
        if isinstance(answer, Text):
            parsed = parse_text(answer.text)
            answer = parsed if isinstance(parsed, Command) else answer
        if self._consent_outdated(state) and not self._allowed_before_reconsent(state, answer):
            # the consent text changed since they agreed: ask again before anything new is stored
            state.overlay = Overlay.CONSENT.value
            state.version += 1
            return self._reply(state, [self.screens.notice(state, "consent.changed"), self.screens.screen(state)])
        if isinstance(answer, Command):
            return self._command(state, answer)
        if state.status is not IntakeStatus.ACTIVE and not state.overlay:  # /delete, /language still work
            return self._reply(state, [self.screens.notice(state, "finished.hint"), self.screens.screen(state)])
        current = self.screens.screen(state)
        if isinstance(answer, Tap):
            if answer.step != current.step or answer.version != state.version:
                return self._stale(state, current)
            if answer.button == ButtonId.BACK:
                return self._back(state)
            if answer.button == ButtonId.SKIP and self._skippable(state):
                return self._answer(state, None)
            if answer.button not in {b.id for b in current.buttons}:
                return self._stale(state, current)
            return self._in_place(answer.step, self._choose(state, answer.button))
        return self._typed(state, current, answer.text)

    def handle_page(self, state_dict: dict[str, Any], page: PageAnswers) -> Reply:
        """A questionnaire page answered at once (a web form), as its taps one at a time (`flows/page.py`)."""
        return answer_page(self.handle, Reply(state_dict, self.show(state_dict)), page)

    @staticmethod
    def _in_place(step: str, reply: Reply) -> Reply:
        """Only the pressed question again, updated: shown in place of the pressed message."""
        if len(reply.screens) == 1 and reply.screens[0].asks and reply.screens[0].step == step:
            reply.screens[0] = dataclasses.replace(reply.screens[0], in_place=True)
        return reply

    @staticmethod
    def _consent_outdated(state: State) -> bool:
        return (state.status is IntakeStatus.ACTIVE and state.consent is not None
                and state.consent.get("version") != CONSENT_VERSION)

    @staticmethod
    def _allowed_before_reconsent(state: State, answer: Answer) -> bool:
        """While asked to consent again: that question, seeing or deleting one's data, and help."""
        if isinstance(answer, Command):
            return answer.name in _BEFORE_RECONSENT_COMMANDS
        return state.overlay in _BEFORE_RECONSENT_OVERLAYS

    # --- commands --------------------------------------------------------------------------

    def _command(self, state: State, command: Command) -> Reply:
        name = command.name
        if name == "start":
            return self._start_again(state, command.arg)
        if name == "back":
            if state.overlay:
                state.overlay = None
                state.version += 1
                return self._reply(state, [self.screens.screen(state)])
            if state.status is not IntakeStatus.ACTIVE:
                return self._reply(state, [self.screens.notice(state, "finished.hint"), self.screens.screen(state)])
            return self._back(state)
        if name == "skip" and state.status is IntakeStatus.ACTIVE and self._skippable(state):
            return self._answer(state, None)
        if name in (Overlay.LANGUAGE, Overlay.RESTART, Overlay.DELETE):
            state.overlay = Overlay(name).value
            state.version += 1
            return self._reply(state, [self.screens.screen(state)])
        if name == "help":
            return self._reply(state, [self.screens.help(state), self.screens.screen(state)])
        if name == "mydata":  # the caller adds the machine-readable copy (GDPR art. 15 and 20)
            return self._reply(state, [self.screens.my_data(state), self.screens.screen(state)],
                               [Event(EventKind.MYDATA)])
        return self._reply(state, [self.screens.notice(state, "command.unknown"), self.screens.screen(state)])

    def _start_again(self, state: State, arg: str) -> Reply:
        programme = self.registry.get(arg.strip().lower()) if arg else None
        before_consent = state.consent is None and state.status is IntakeStatus.ACTIVE
        if programme and before_consent and programme.id != state.programme:
            begun = self.begin(programme.id, state.lang)
            other = State.from_dict(begun.state)
            other.version = state.version + 1
            return self._reply(other, [self.screens.screen(other)])
        notice = "start.welcome_back" if state.status is IntakeStatus.ACTIVE else "finished.hint"
        return self._reply(state, [self.screens.notice(state, notice), self.screens.screen(state)])

    # --- answers ---------------------------------------------------------------------------

    def _typed(self, state: State, current: Screen, raw: str) -> Reply:
        text = clean_text(raw)
        if current.kind is InputKind.CHOICE:
            button = match_button(current, text)
            if button is None:
                return self._reply(state, [self.screens.notice(state, "error.choose"), current])
            return self._choose(state, button)
        step = Step.parse(state.step)
        question = step.question if step is not None else None
        if question is None:  # a typed answer where only buttons make sense
            return self._reply(state, [self.screens.notice(state, "error.choose"), current])
        shortcut = match_button(current, text) if current.buttons else None
        if shortcut is not None:  # the number or name of a shortcut (e.g. one of the programme's municipalities)
            return self._choose(state, shortcut)
        value = typed_answer(question, text)
        if isinstance(value, Invalid):
            return self._reply(state, [self.screens.notice(state, value.msgid, **dict(value.params)), current])
        return self._answer(state, value)

    def _choose(self, state: State, button: str) -> Reply:
        if state.overlay:
            return self._overlay_choice(state, button)
        step = Step.parse(state.step)
        if step is None:
            raise LookupError(f"unknown step {state.step!r}")
        match step.kind:
            case StepKind.PROGRAMME:
                state.programme = button
                return self._advance(state)
            case StepKind.LANGUAGE:
                state.lang = button
                return self._advance(state, events=[Event(EventKind.LANGUAGE, {"lang": button})])
            case StepKind.INFO:
                return self._advance(state)
            case StepKind.CONSENT:
                if button == ButtonId.YES:
                    state.consent = {"version": CONSENT_VERSION, "language": state.lang}
                    event = Event(EventKind.CONSENT, {"version": CONSENT_VERSION, "language": state.lang})
                    return self._advance(state, events=[event])
                return self._decline(state)
            case StepKind.SUMMARY:
                if button == ButtonId.CONFIRM:
                    return self._complete(state)
                state.overlay = Overlay.CORRECT.value
                state.version += 1
                return self._reply(state, [self.screens.screen(state)])
            case StepKind.ITEM:
                return self._answer(state, int(button))
        question = step.question
        if question is not None and question.kind is Kind.MULTI:
            return self._toggle(state, question, button)
        return self._answer(state, button)

    def _decline(self, state: State) -> Reply:
        """No to consent: the intake ends as declined."""
        state.status = IntakeStatus.DECLINED
        state.step = StepKind.DECLINED.value
        state.version += 1
        screens = [self.screens.screen(state)]
        if self.screens.risk_kept(state):  # they showed such thoughts before: help again
            screens.append(self.screens.crisis(state))
        return self._reply(state, screens, [Event(EventKind.DECLINED)])

    def _toggle(self, state: State, question: Question, button: str) -> Reply:
        """A multiple-choice question: a tap turns an option on or off; "done" answers it."""
        key = answer_key(state.step)
        chosen = list(state.answers.get(key) or [])
        if button == ButtonId.DONE:
            if not chosen:
                return self._reply(state, [self.screens.notice(state, "error.choose_some"),
                                           self.screens.screen(state)])
            return self._answer(state, [o for o in question.options if o in chosen])
        if button in chosen:
            chosen.remove(button)
        elif button in question.exclusive:
            chosen = [button]
        else:
            chosen = [o for o in chosen if o not in question.exclusive] + [button]
        state.answers[key] = chosen
        state.version += 1
        return self._reply(state, [self.screens.screen(state)])

    def _overlay_choice(self, state: State, button: str) -> Reply:
        overlay, state.overlay = state.overlay, None
        state.version += 1
        events: list[Event] = []
        if overlay == Overlay.LANGUAGE and button in LANGUAGES:
            state.lang = button
            events.append(Event(EventKind.LANGUAGE, {"lang": button}))
        elif overlay == Overlay.CORRECT and button != ButtonId.CANCEL:
            state.history.append(state.step)
            state.return_to = StepKind.SUMMARY.value
            state.step = button
        elif overlay == Overlay.RESTART and button == ButtonId.YES:
            restarted = self._restarted(state)
            # the answers go, a risk once shown stays (hazard H1): the next referral must be urgent
            restarted.flags, restarted.risk_items = list(state.flags), list(state.risk_items)
            # a finished intake's referral stays with the programme: the new intake must know it
            restarted.kept = [*state.kept, *(["referral"] if state.status is IntakeStatus.COMPLETED
                                             and "referral" not in state.kept else [])]
            done = self.screens.restart_done(state)
            return self._reply(restarted, [self.screens.notice(restarted, done), self.screens.screen(restarted)],
                               [Event(EventKind.RESTART)])
        elif overlay == Overlay.CONSENT and button == ButtonId.YES:
            state.consent = {"version": CONSENT_VERSION, "language": state.lang}
            events.append(Event(EventKind.CONSENT, {"version": CONSENT_VERSION, "language": state.lang}))
        elif overlay == Overlay.CONSENT and button == ButtonId.NO:  # withdrawing consent: erase, after a confirmation
            state.overlay = Overlay.DELETE.value
        elif overlay == Overlay.DELETE and button == ButtonId.YES:
            emptied = self._restarted(state)
            return self._reply(emptied, [self.screens.notice(emptied, "delete.done")], [Event(EventKind.DELETE)])
        return self._reply(state, [self.screens.screen(state)], events)

    @staticmethod
    def _restarted(state: State) -> State:
        """A new intake of the same person, programme and language, at its first step."""
        restarted = State(programme=state.programme, lang=state.lang, programme_fixed=state.programme_fixed)
        restarted.step = StepKind.LANGUAGE.value if state.programme else StepKind.PROGRAMME.value
        restarted.version = state.version + 1
        return restarted

    def _answer(self, state: State, value: Any) -> Reply:
        key = answer_key(state.step)
        state.answers[key] = value
        screens: list[Screen] = []
        events: list[Event] = []
        step = Step.parse(state.step)
        found = step.item if step is not None else None
        if found is not None and value is not None:
            instrument, item_id = found
            if instruments.risk_signal(state.step, value):
                if "risk" not in state.flags:
                    state.flags.append("risk")
                if state.step not in state.risk_items:
                    state.risk_items.append(state.step)
                screens.append(self.screens.crisis(state))
                events.append(Event(EventKind.RISK, {"instrument": instrument.id, "item": item_id,
                                                     "score": int(value)}))
        reply = self._advance(state, events=events)
        reply.screens[:0] = screens  # crisis help first, before the next question
        return reply

    def _advance(self, state: State, events: list[Event] | None = None) -> Reply:
        sequence = self._sequence(state)
        state.history.append(state.step)
        if state.return_to:
            # after a correction: ask any follow-up that the new answer needs, then the summary
            missing = [s for s in sequence if s.startswith("q.") and answer_key(s) not in state.answers]
            state.step = missing[0] if missing else state.return_to
            if not missing:
                state.return_to = None
        else:
            index = sequence.index(state.step) if state.step in sequence else -1
            state.step = sequence[index + 1] if index + 1 < len(sequence) else StepKind.SUMMARY.value
        state.version += 1
        return self._reply(state, [self.screens.screen(state)], events or [])

    def _back(self, state: State) -> Reply:
        if not state.history or state.step in (StepKind.RESULT, StepKind.DECLINED):
            return self._reply(state, [self.screens.notice(state, "back.none"), self.screens.screen(state)])
        state.step = state.history.pop()
        state.return_to = None
        state.version += 1
        return self._reply(state, [self.screens.screen(state)])

    def _complete(self, state: State) -> Reply:
        programme = self._programme(state)
        facts, scores = build_facts(state, programme, self._sequence(state))
        decision = decide(programme.rules, facts)
        referral = build_referral(state, programme, self._sequence(state), scores, decision)
        state.result = {"triage": decision.as_dict(), "totals": {k: v.total for k, v in scores.items()},
                        "severe": [iid for iid, result in scores.items() if result.severe]}
        state.status = IntakeStatus.COMPLETED
        state.history.append(state.step)
        state.step = StepKind.RESULT.value
        state.version += 1
        screens = [self.screens.screen(state)]
        if state.flags:
            screens.append(self.screens.crisis(state))
        return self._reply(state, screens, [Event(EventKind.COMPLETED, referral)])

    # --- helpers ---------------------------------------------------------------------------

    def _sequence(self, state: State) -> list[str]:
        return self.screens.sequence(state)

    def _skippable(self, state: State) -> bool:
        step = Step.parse(state.step)
        question = step.question if step is not None else None
        return bool(question and question.optional and not state.overlay)

    def _programme(self, state: State) -> Programme:
        return self.screens.programme(state)

    @staticmethod
    def _reply(state: State, screens: list[Screen], events: list[Event] | None = None) -> Reply:
        return Reply(state.to_dict(), screens, events or [])

    def _stale(self, state: State, current: Screen) -> Reply:
        return Reply(state.to_dict(), [self.screens.notice(state, "stale.tap"), current], stale=True)
