"""The candidate's screens: what each step and overlay shows, in the person's language.

Pure functions of the state (and the programme registry); the step machine (``flows/intake.py``)
decides where the person is, this module only says how that looks. Channels render the screens.
"""

from __future__ import annotations

from typing import Any

from flows import instruments
from flows.programmes import Programme, Registry
from flows.questions import Kind
from flows.screens import Button, InputKind, Screen, Tone
from flows.state import State
from flows.status import IntakeStatus
from flows.steps import ButtonId, Overlay, Step, StepKind, answer_key, sequence
from flows.triage import Outcome, goes_to_consultant
from locales import LANGUAGES, Translator

# Where a person with severe symptoms outside the programme is sent, per country: the GP in Denmark,
# the vårdcentral or 1177 in Sweden.
SEVERE_HELP = {"DK": "result.severe_help.dk", "SE": "result.severe_help.se"}


REACH = ("lead", "nobody")  # an urgent case reaches no consultant now: its leads, or nobody yet


class IntakeScreens:
    """Screens for the programmes of one registry; stateless, safe to share."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def programme(self, state: State) -> Programme:
        programme = self.registry.get(state.programme)
        if programme is None:
            raise LookupError(f"unknown programme {state.programme!r}")
        return programme

    def sequence(self, state: State) -> list[str]:
        return sequence(state, self.registry.get(state.programme))

    def notice(self, state: State, msgid: str, **params: Any) -> Screen:
        return Screen(text=Translator(state.lang)(msgid, **params), tone=Tone.ERROR)

    def _nav(self, state: State, t: Translator, skip: bool = False) -> tuple[Button, ...]:
        nav = [Button(ButtonId.SKIP, t("button.skip"))] if skip else []
        if state.history:
            nav.append(Button(ButtonId.BACK, t("button.back")))
        return tuple(nav)

    def screen(self, state: State) -> Screen:
        """The screen that asks the current step (or overlay)."""
        t = Translator(state.lang)
        if state.overlay:
            return self._overlay_screen(state, t)
        step = Step.parse(state.step)
        if step is None:
            raise LookupError(f"unknown step {state.step!r}")

        def choice(text: str, buttons: list[Button], **extra: Any) -> Screen:
            return Screen(text, state.step, state.version, InputKind.CHOICE, tuple(buttons), **extra)

        match step.kind:
            case StepKind.PROGRAMME:
                offered = self.registry.for_language(state.lang)
                return choice(t("programme.ask"), [Button(p.id, p.name(state.lang)) for p in offered])
            case StepKind.LANGUAGE:
                return choice(
                    t("language.ask"),
                    [Button(code, t(f"language.{code}")) for code in self._language_order(state)],
                    nav=self._nav(state, t),
                )
            case StepKind.INFO:
                return choice(self._info_text(state, step, t), [Button(ButtonId.NEXT, t("button.next"))],
                              nav=self._nav(state, t))
            case StepKind.CONSENT:
                return choice(
                    t("consent.text"),
                    [Button(ButtonId.YES, t("consent.yes")), Button(ButtonId.NO, t("consent.no"))],
                    nav=self._nav(state, t),
                )
            case StepKind.DECLINED:
                text = self._declined_text(state, t) + "\n\n" + self.programme(state).contact_text(state.lang)
                return Screen(text, state.step, state.version, tone=Tone.RESULT)
            case StepKind.SUMMARY:
                return choice(
                    t("summary.title") + "\n\n" + self.summary(state, t),
                    [Button(ButtonId.CONFIRM, t("summary.confirm")), Button(ButtonId.CORRECT, t("summary.correct"))],
                    nav=self._nav(state, t),
                )
            case StepKind.RESULT:
                return Screen(self._result_text(state, t), state.step, state.version, tone=Tone.RESULT)
            case StepKind.ITEM:
                return self._item_screen(state, step, t)
        return self._question_screen(state, step, t)

    def _info_text(self, state: State, step: Step, t: Translator) -> str:
        """An information step; the one on help carries the crisis lines."""
        text = t(state.step, programme=self.programme(state).name(state.lang))
        if step.name == "help":
            text += "\n\n" + self.crisis_lines(state, t)
        return text

    def _item_screen(self, state: State, step: Step, t: Translator) -> Screen:
        """An instrument's item: its intro and wording, its scored options, and how far along it is."""
        instrument = instruments.load(step.instrument)
        position = [i.id for i in instrument.items].index(step.name) + 1
        buttons = tuple(Button(str(o.score), t(o.label)) for o in instrument.options_of(instrument.item(step.name)))
        return Screen(t(instrument.intro) + "\n\n" + t(instrument.item(step.name).text), state.step, state.version,
                      InputKind.CHOICE, buttons, progress=t("progress", current=position, total=len(instrument.items)),
                      nav=self._nav(state, t))

    def _question_screen(self, state: State, step: Step, t: Translator) -> Screen:
        question = step.question
        if question is None:
            raise LookupError(f"unknown step {state.step!r}")
        text = t(question.msgid)
        if question.kind is Kind.MULTI:
            chosen = state.answers.get(answer_key(state.step)) or []
            buttons = [Button(o, t("option.chosen", label=t(question.option_msgid(o))) if o in chosen
                              else t(question.option_msgid(o))) for o in question.options]
            return Screen(text, state.step, state.version, InputKind.CHOICE,
                          (*buttons, Button(ButtonId.DONE, t("button.done"))), nav=self._nav(state, t))
        if question.kind is Kind.CHOICE:
            options = question.options_for(self.programme(state).country)
            return Screen(text, state.step, state.version, InputKind.CHOICE,
                          tuple(Button(o, t(question.option_msgid(o))) for o in options), nav=self._nav(state, t),
                          needs_reach=question.needs_reach)
        kind = InputKind.NUMBER if question.kind is Kind.NUMBER else InputKind.TEXT
        nav = self._nav(state, t, skip=question.optional)
        shortcuts: tuple[Button, ...] = ()
        if question.id == "municipality":
            shortcuts = tuple(Button(m, m) for m in self.programme(state).municipalities)
        return Screen(text, state.step, state.version, kind, shortcuts, nav=nav)

    def _overlay_screen(self, state: State, t: Translator) -> Screen:
        overlay = state.overlay or ""
        step = f"{state.step}@{overlay}"
        cancel = (Button(ButtonId.BACK, t("button.back")),)
        if overlay == Overlay.LANGUAGE:
            buttons = tuple(Button(code, t(f"language.{code}")) for code in LANGUAGES)
            return Screen(t("language.ask"), step, state.version, InputKind.CHOICE, buttons, nav=cancel)
        if overlay == Overlay.CORRECT:
            fields = [Button(s, t(f"{s}.short")) for s in self.sequence(state) if correctable(s)]
            buttons = (*fields, Button(ButtonId.CANCEL, t("button.cancel")))
            return Screen(t("correct.ask"), step, state.version, InputKind.CHOICE, buttons)
        if overlay == Overlay.CONSENT:
            buttons = (Button(ButtonId.YES, t("consent.yes")), Button(ButtonId.NO, t("consent.withdraw")))
            return Screen(t("consent.text"), step, state.version, InputKind.CHOICE, buttons)
        yes_no = (Button(ButtonId.YES, t(f"{overlay}.yes")), Button(ButtonId.NO, t("button.cancel")))
        ask = self._restart_ask(state) if overlay == Overlay.RESTART else f"{overlay}.ask"
        return Screen(t(ask), step, state.version, InputKind.CHOICE, yes_no)

    # --- what is kept: texts that say what really happens to the answers ---------------------

    @staticmethod
    def risk_kept(state: State) -> bool:
        """A risk answer is stored for this person: kept on /restart and on declining (the consent
        they gave covered it and promised that someone would make contact)."""
        return bool(state.risk_items) or "risk" in state.kept

    @staticmethod
    def _restart_ask(state: State) -> str:
        if state.status is IntakeStatus.COMPLETED:  # the referral is with the programme; /restart keeps it
            return "restart.ask_finished"
        return "restart.ask_risk" if IntakeScreens.risk_kept(state) else "restart.ask"

    @staticmethod
    def restart_done(state: State) -> str:
        """The notice after /restart, for the state it was given in."""
        if state.status is IntakeStatus.COMPLETED:
            return "restart.done_finished"
        return "restart.done_risk" if IntakeScreens.risk_kept(state) else "restart.done"

    def _declined_text(self, state: State, t: Translator) -> str:
        risk, referral = self.risk_kept(state), "referral" in state.kept
        if not risk and not referral:
            return t("declined.text")
        parts = [t("declined.nothing_new")]
        if risk:
            parts.append(t("declined.risk_kept"))
        if referral:
            parts.append(t("declined.referral_kept"))
        parts.append(t("declined.delete"))
        return "\n\n".join(parts)

    @staticmethod
    def _language_order(state: State) -> list[str]:
        return [state.lang, *(code for code in LANGUAGES if code != state.lang)]

    def summary(self, state: State, t: Translator) -> str:
        lines = []
        for step in self.sequence(state):
            if correctable(step):
                lines.append(f"{t(step + '.short')}: {self._answer_label(state, step, t)}")
        return "\n".join(lines)

    @staticmethod
    def _answer_label(state: State, step: str, t: Translator) -> str:
        value = state.answers.get(answer_key(step))
        parsed = Step.parse(step)
        question = parsed.question if parsed is not None else None
        if value is None or question is None:
            return t("summary.skipped")
        if question.kind is Kind.CHOICE:
            return t(question.option_msgid(str(value)))
        if question.kind is Kind.MULTI:
            return ", ".join(t(question.option_msgid(str(v))) for v in value)
        return str(value)

    def _result_text(self, state: State, t: Translator) -> str:
        programme = self.programme(state)
        triage = (state.result or {}).get("triage", {})
        outcome = triage.get("outcome", "not-in-target")
        parts = [
            t("result.thanks", name=state.answers.get("name") or ""),
            t(f"result.{outcome}"),
            t(triage.get("reason", "reason.target_group")),
        ]
        reach = (state.result or {}).get("reach")  # who will really call (set by the service, issue 20)
        if reach in REACH:
            parts.insert(2, t(f"result.reach.{reach}"))
            if reach == "nobody" and not state.flags:  # with a risk answer the crisis screen follows anyway
                parts.insert(3, self.crisis_lines(state, t))
        if programme.show_scores:
            totals = (state.result or {}).get("totals", {})
            parts += [t("result.score", name=t(instruments.load(i).name), total=v) for i, v in totals.items()]
        parts += self._severe_help(state, t, outcome)
        parts.append(programme.contact_text(state.lang))
        return "\n\n".join(parts)

    def _severe_help(self, state: State, t: Translator, outcome: str) -> list[str]:
        """Severe symptoms outside the programme (issue 20): not only "not the right offer", but their own
        doctor (in Sweden the vårdcentral or 1177), and the crisis lines with the region's psychiatric number.

        With a risk answer the crisis screen follows the result with the same lines, so they are not
        repeated here."""
        if goes_to_consultant(outcome) or not (state.result or {}).get("severe"):
            return []
        if outcome == Outcome.REFER_GP:  # the outcome's own text already sends them to their doctor
            advice = t("result.severe_now")
        else:
            advice = t(SEVERE_HELP[self.programme(state).country])
        return [advice] if state.flags else [advice, self.crisis_lines(state, t)]

    def crisis_lines(self, state: State, t: Translator) -> str:
        age = state.answers.get("age")
        return "\n".join(t(line.label, phone=line.phone) for line in self.programme(state).crisis_for(age))

    def crisis(self, state: State) -> Screen:
        t = Translator(state.lang)
        return Screen(t("crisis.text") + "\n\n" + self.crisis_lines(state, t), tone=Tone.CRISIS)

    def help(self, state: State) -> Screen:
        t = Translator(state.lang)
        text = t("help.text")
        if state.programme:
            text += "\n\n" + self.crisis_lines(state, t)
        return Screen(text)

    def my_data(self, state: State) -> Screen:
        t = Translator(state.lang)
        if not state.answers:
            return Screen(t("mydata.empty"))
        lines = [t("mydata.title")]
        if state.consent:
            lines.append(t("mydata.consent", version=state.consent["version"]))
        lines.append(self.summary(state, t))
        for raw in self.sequence(state):
            step = Step.parse(raw)
            key = answer_key(raw)
            if step is not None and step.kind is StepKind.ITEM and key in state.answers:
                instrument = instruments.load(step.instrument)
                options = instrument.options_of(instrument.item(step.name))
                option = next(o for o in options if o.score == state.answers[key])
                lines.append(f"{t(instrument.item(step.name).text)}: {t(option.label)}")
        return Screen("\n".join(lines))


def correctable(step: str) -> bool:
    """A step the person may go back to from the summary: one of the intake's own questions."""
    parsed = Step.parse(step)
    return parsed is not None and parsed.kind is StepKind.QUESTION
