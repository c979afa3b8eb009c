"""A candidate filling in the web form from start to result, answering from a plan."""

from __future__ import annotations

from typing import Any

from tests.channels.web.client import Page, WebUser
from tests.support.walk import TYPICAL

PLAN: dict[str, Any] = {**TYPICAL, "q.contact": "phone", "q.municipality": "Vejle"}


async def answer_page(user: WebUser, plan: dict[str, Any], score: str = "1") -> Page:
    """Answer the page shown, as planned; a questionnaire page with `score` for every item (or the plan's)."""
    page = user.page
    assert page is not None
    form = page.answer
    if form.radios:  # a questionnaire: every item on one page
        return await user.fill({name: str(plan.get(name, score)) for name in form.radios})
    step = page.step.partition("@")[0]
    wanted = plan.get(step)
    values = [v for n, v, _ in form.buttons if n == "b"]
    if isinstance(wanted, list):  # a multiple choice: each option, then done
        for option in wanted:
            await user.press(option)
        return await user.press("done")
    if wanted is not None and str(wanted) in values:
        return await user.press(str(wanted))
    if form.fields:
        return await user.type(str(wanted) if wanted is not None else "Ja")
    choices = [v for v in values if v not in ("back", "skip")]
    return await user.press(choices[0])


async def walk_to(user: WebUser, stop: str, plan: dict[str, Any] | None = None, limit: int = 80) -> Page:
    """Answer pages until the one asking `stop` (a step, or an instrument id) is shown."""
    plan = plan or PLAN
    for _ in range(limit):
        page = user.page
        assert page is not None and page.status == 200, page and page.text[:500]
        if not any(f.action == "/answer" for f in page.forms):
            raise AssertionError(f"the intake ended before {stop}: {page.text[:300]}")
        if page.step == stop or page.step.startswith(stop + "."):
            return page
        await answer_page(user, plan)
    raise AssertionError(f"never reached {stop}")


async def finish(user: WebUser, plan: dict[str, Any] | None = None, limit: int = 80) -> Page:
    plan = plan or PLAN
    for _ in range(limit):
        page = user.page
        assert page is not None and page.status == 200, page and page.text[:500]
        if not any(f.action == "/answer" for f in page.forms):
            return page
        await answer_page(user, plan)
    raise AssertionError("the intake did not end")
