"""The intake as a web form, driven through its HTML like a browser without JavaScript."""

from __future__ import annotations

from tests.web.client import WebUser
from tests.web.conftest import Site
from tests.web.walk import finish, walk_to


async def test_a_whole_intake_in_danish_ends_in_one_referral(site: Site) -> None:
    user = WebUser(site.client)
    page = await user.get("/p/reconnect")
    assert page.status == 200
    assert '<html lang="da">' in page.html
    await walk_to(user, "gad7")
    questionnaire = user.page
    assert questionnaire is not None
    assert len(questionnaire.answer.radios) == 7  # every GAD-7 item on one page
    page = await finish(user)
    assert "result" in page.html
    async with site.app.uow() as uow:
        referrals = [r async for r in uow.referrals.stream()]
    assert len(referrals) == 1
    contact = referrals[0].payload["candidate"]["contact"]
    assert contact["preference"] == "phone" and contact["phone"] == "+45 12 34 56 78"
