"""A candidate filling in the web form from start to result, answering from a plan (tests/support/walk.py)."""

from __future__ import annotations

from typing import Any

from tests.channels.web.client import Page, WebUser
from tests.support.walk import TYPICAL, Fill, Plan, PlanAnswer, Press, Question, walk

PLAN: dict[str, Any] = {**TYPICAL, "q.contact": "phone", "q.municipality": "Vejle"}
NAV = ("back", "skip")


def web_plan(plan: dict[str, Any], score: str = "1") -> Plan:
    """The form's walker: a step not planned gets the first choice, or "Ja" typed; a questionnaire
    page gets `score` for every item the plan does not name."""
    return Plan(plan, default=None, text="Ja", unoffered="first", score=score)


class WebPort:
    """The web form as a port: the page shown, answered by its buttons, its text field, or its radios."""

    def __init__(self, user: WebUser) -> None:
        self.user = user

    def page(self) -> Page:
        page = self.user.page
        assert page is not None
        return page

    async def current(self) -> Question | None:
        page = self.page()
        assert page.status == 200, page.text[:500]
        return question(page) if any(f.action == "/answer" for f in page.forms) else None

    async def send(self, answer: PlanAnswer) -> None:
        if isinstance(answer, Fill):
            await self.user.fill(answer.values)
        elif isinstance(answer, Press):
            await self.user.press(answer.button)
        else:
            await self.user.type(answer.text)


def question(page: Page) -> Question:
    form = page.answer
    values = tuple(v for n, v, _ in form.buttons if n == "b")
    return Question(page.step.partition("@")[0], tuple(v for v in values if v not in NAV),
                    tuple(v for v in values if v in NAV), typed=bool(form.fields), items=tuple(form.radios),
                    at=page.step)


async def answer_page(user: WebUser, plan: dict[str, Any], score: str = "1") -> Page:
    """Answer the page shown, as planned; a questionnaire page with `score` for every item (or the plan's)."""
    port = WebPort(user)
    for answer in web_plan(plan, score).answer(question(port.page())):
        await port.send(answer)
    return port.page()


async def walk_to(user: WebUser, stop: str, plan: dict[str, Any] | None = None, limit: int = 80) -> Page:
    """Answer pages until the one asking `stop` (a step, or an instrument id) is shown."""
    port = WebPort(user)
    await walk(port, web_plan(plan or PLAN), until=stop, limit=limit)
    return port.page()


async def finish(user: WebUser, plan: dict[str, Any] | None = None, limit: int = 80) -> Page:
    port = WebPort(user)
    await walk(port, web_plan(plan or PLAN), limit=limit)
    return port.page()
