"""The intake as a web form, driven through its HTML like a browser without JavaScript."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.channels.web.client import WebUser
from tests.channels.web.conftest import Site
from tests.support.web_form import PLAN, finish, walk_to


async def test_a_whole_intake_in_danish_ends_in_one_referral(site: Site) -> None:
    user = WebUser(site.client)
    page = await user.get("/p/reconnect")
    assert page.status == 200
    assert '<html lang="da">' in page.html
    page = await walk_to(user, "q.contact")
    offered = [v for _, v, _ in page.answer.buttons]
    assert "phone" in offered and "chat" not in offered  # a form has no chat to write back to
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


async def test_a_whole_intake_in_swedish(site: Site) -> None:
    user = WebUser(site.client)
    page = await user.get("/p/jonkoping")
    assert '<html lang="sv">' in page.html
    swedish = {**PLAN, "language": "sv", "q.municipality": "Jönköping"}
    page = await walk_to(user, "phq9", swedish)
    assert '<html lang="sv">' in page.html and len(page.answer.radios) == 9
    page = await finish(user, swedish)
    assert '<html lang="sv">' in page.html
    async with site.app.uow() as uow:
        referrals = [r async for r in uow.referrals.stream()]
    assert [r.programme_id for r in referrals] == ["jonkoping"] and referrals[0].language == "sv"


async def test_back_and_a_correction_from_the_summary(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    await walk_to(user, "q.age")
    page = await user.press("back")
    assert page.step == "q.name"
    await walk_to(user, "summary")
    await user.press("correct")
    page = await user.press("q.name")
    assert page.step == "q.name"
    page = await user.type("Mette")
    assert page.step == "summary" and "Mette" in page.text
    # back from the first questionnaire item leaves the questionnaire page
    user2 = WebUser(site.fresh_client())
    async with user2.client:
        await user2.get("/p/reconnect")
        await walk_to(user2, "gad7")
        page = await user2.press("back")
        assert not page.answer.radios and page.step.startswith("q.")


async def test_resume_after_a_reload_and_from_the_link_in_another_browser(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    await walk_to(user, "q.age")
    page = await user.get("/f")  # a reload
    assert page.step == "q.age"
    page = await user.get("/p/reconnect")  # the programme's link again, same device: asked first, nothing shown
    assert "Ana" in page.text and not any(f.action == "/answer" for f in page.forms)
    page = await user.post("/continue", {})  # "Continue as Ana"
    assert page.step == "q.age"
    link = re.search(r'<a href="http://[^/]+(/r/[^"]+)"', page.html)
    assert link is not None
    other = WebUser(site.fresh_client())
    async with other.client:
        page = await other.get(link.group(1))  # asks before this device takes it over; sets no cookie
        assert page.status == 200 and not any(f.action == "/answer" for f in page.forms)
        page = await other.post(link.group(1), {})
        assert page.status == 200 and page.step == "q.age"
        await other.type("30")
        assert (await other.get("/f")).step != "q.age"
        # the link used, and the first device's session, stopped working: the token rotated
        assert (await WebUser(site.fresh_client()).get(link.group(1))).status == 410
        assert (await user.get("/f")).status == 410
        new_link = re.search(r'<a href="http://[^/]+(/r/[^"]+)"', other.page.html if other.page else "")
        assert new_link is not None and new_link.group(1) != link.group(1)
        site.clock.advance(days=31)  # a kept link ends 30 days after the last visit
        expired = await WebUser(other.client).get(new_link.group(1))
        assert expired.status == 410


async def test_a_risk_answer_shows_crisis_help_first_and_is_stored(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    await walk_to(user, "mdi")
    page = user.page
    assert page is not None
    risky = [(name, v) for name, options in page.answer.radios.items() for v, risk in options if risk]
    assert ("mdi.6", "3") in risky and all(name == "mdi.6" for name, _ in risky)  # for the script: data-risk
    page = await user.fill({name: "3" if name == "mdi.6" else "1" for name in page.answer.radios})
    crisis = page.html.find('class="crisis" role="alert"')
    assert page.crisis() and 0 < crisis < page.html.find('action="/answer"')  # help before the next question
    risks = await _risks(site)
    assert [(r.detail["instrument"], r.detail["item"]) for r in risks] == [("mdi", "6")]


async def _risks(site: Site) -> list[Any]:
    from sqlalchemy import select

    from storage.models import RiskEvent

    async with site.app.sessions() as session:
        return list((await session.scalars(select(RiskEvent))).all())


async def test_a_questionnaire_page_with_an_item_left_out_names_it_and_keeps_the_others(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    await walk_to(user, "gad7")
    chosen = {f"gad7.{n}": "2" for n in (1, 2, 4, 5, 6, 7)}
    page = await user.fill(chosen)
    assert page.errors() and "3" in page.errors()[0] and "Bekymret dig for meget" in page.errors()[0]
    assert len(page.answer.radios) == 7  # still the whole questionnaire
    assert page.html.count(" checked>") == 6
    page = await user.fill({**chosen, "gad7.3": "1"})
    assert page.step == "mdi.1"


async def test_a_very_long_answer_and_html_are_refused_or_shown_as_text(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    await walk_to(user, "q.name")
    long = "x" * 10_000
    page = await user.type(long)
    assert page.step == "q.name" and page.errors()
    assert long in page.html  # given back in the field: nothing lost
    page = await user.type('<script>alert("x")</script>')
    assert page.step == "q.age"
    await walk_to(user, "summary")
    assert "<script>alert" not in user.page.html if user.page else False
    assert "&lt;script&gt;alert" in (user.page.html if user.page else "")


async def test_a_form_without_its_csrf_token_changes_nothing(site: Site) -> None:
    user = WebUser(site.client)
    page = await user.get("/p/reconnect")
    form = page.answer
    response = await site.client.post("/answer", data={**form.hidden, "csrf": "forged", "b": "da"})
    assert response.status == 403
    assert await _count(site, "candidates") == 0 and await _count(site, "intakes") == 0
    assert (await user.get("/p/reconnect")).step == "language"


async def test_security_headers_and_page_weight(site: Site) -> None:
    response = await site.client.get("/p/reconnect")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors https://web.telegram.org" in policy
    assert "default-src 'none'" in policy and "telegram.org/js" not in await response.text()
    assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["Cache-Control"] == "no-store"
    weight = len(await response.read())
    for name in ("app.css", "app.js"):
        weight += len(await (await site.client.get(f"/static/{name}")).read())
    assert weight < 30_000
    tg = await site.client.get("/tg")
    assert "script-src 'self' https://telegram.org" in tg.headers["Content-Security-Policy"]


async def test_language_switch_keeps_the_place(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    await walk_to(user, "q.name")
    page = await user.post("/lang", {"lang": "sv"})
    assert '<html lang="sv">' in page.html and page.step == "q.name"


async def test_my_data_and_delete_as_pages(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    await walk_to(user, "q.age")
    assert "Ana" in (await user.get("/mydata")).text  # as a page, from a plain link
    page = await user.post("/mydata", {})
    assert "Ana" in page.text
    response = await site.client.post("/mydata.json", data=page.form("/mydata.json").hidden)
    data = json.loads(await response.text())
    assert data["intakes"][0]["answers"]["name"] == "Ana"
    link = re.search(r'<a href="http://[^/]+(/r/[^"]+)"', page.html)
    assert link is not None
    page = await user.get("/delete")  # a GET says whose answers would go, and changes nothing
    assert "Ana" in page.text and (await user.get("/f")).step == "q.age"
    page = await user.get("/delete")
    page = await user.post("/delete", {})  # the same confirmation as the chat's /delete
    assert page.step.endswith("@delete") and "Ana" in page.text
    response = await site.client.post("/answer", data={**page.answer.hidden, "b": "yes"})
    assert response.cookies["ipsbot"].value == ""  # the cookie goes
    assert "/answer" not in await response.text()
    assert await _count(site, "candidates") == 0 and await _count(site, "intakes") == 0
    assert (await WebUser(site.fresh_client()).get(link.group(1))).status == 410  # the link ended with it


async def _count(site: Site, table: str) -> int:
    from sqlalchemy import text

    async with site.app.sessions() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_a_risk_answer_after_an_item_left_out_shows_crisis_help_and_is_stored(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    page = await walk_to(user, "mdi")
    chosen = {name: "1" for name in page.answer.radios if name != "mdi.2"}
    page = await user.fill({**chosen, "mdi.6": "4"})
    assert page.crisis() and page.errors() and "2" in page.errors()[0]
    assert page.html.find('class="crisis" role="alert"') < page.html.find('class="error"')
    # stored now, though the flow takes the items in order: if the person leaves here, it is not lost (H1)
    assert [r.detail for r in await _risks(site)] == [{"instrument": "mdi", "item": "6", "score": 4}]
    assert await _flags(site) == ["risk"]
    page = await user.fill({**chosen, "mdi.6": "4", "mdi.2": "1"})
    assert not page.errors() and not page.step.startswith("mdi.")
    assert [r.detail for r in await _risks(site)] == [{"instrument": "mdi", "item": "6", "score": 4}]  # once


async def _flags(site: Site) -> list[str]:
    from sqlalchemy import select

    from storage.models import Intake

    async with site.app.sessions() as session:
        (intake,) = (await session.scalars(select(Intake))).all()
        return list(intake.state.get("flags", []))


async def test_a_risk_answer_chosen_when_back_is_pressed_is_stored_and_its_help_shown(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    page = await walk_to(user, "mdi")
    chosen = {name: "0" for name in page.answer.radios}
    page = await user.post("/answer", {**chosen, "mdi.6": "2", "b": "back"}, page.answer)
    assert page.step.startswith("gad7.")  # back it went, to the questionnaire before
    assert page.crisis() and page.html.find('class="crisis" role="alert"') < page.html.find('action="/answer"')
    assert [r.detail for r in await _risks(site)] == [{"instrument": "mdi", "item": "6", "score": 2}]
    assert await _flags(site) == ["risk"]


async def test_a_risk_answer_on_an_old_questionnaire_page_is_stored_and_its_help_shown(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    old = await walk_to(user, "mdi")
    page = await user.fill({name: "0" for name in old.answer.radios})  # the page sent in another tab
    assert not page.step.startswith("mdi.") and await _risks(site) == []
    page = await user.post("/answer", {**{name: "0" for name in old.answer.radios}, "mdi.6": "5"}, old.answer)
    assert page.errors() and page.crisis()  # an old page: refused, yet the help is shown and the answer kept
    assert [r.detail for r in await _risks(site)] == [{"instrument": "mdi", "item": "6", "score": 5}]


async def test_mansa_yes_no_items_offer_yes_and_no_and_no_is_taken(site: Site) -> None:
    from sqlalchemy import select

    from storage.models import Intake

    user = WebUser(site.client)
    await user.get("/p/jonkoping")
    swedish = {**PLAN, "language": "sv", "q.municipality": "Jönköping"}
    page = await walk_to(user, "mansa", swedish)
    assert [v for v, _ in page.answer.radios["mansa.friend"]] == ["1", "0"]  # its own answers, not the 1-7 scale
    assert [v for v, _ in page.answer.radios["mansa.1"]] == [str(n) for n in range(1, 8)]
    friend = page.html[page.html.find('id="f-mansa.friend"'):]
    friend = friend[:friend.find("</fieldset>")]
    assert "> Nej</label>" in friend and "Kunde inte vara sämre" not in friend
    answers = {name: "0" if name in ("mansa.friend", "mansa.met_friend", "mansa.accused", "mansa.victim")
               else "4" for name in page.answer.radios}
    page = await user.fill(answers)
    assert not page.errors() and not page.step.startswith("mansa.")  # "No" is taken: the person gets on
    async with site.app.sessions() as session:
        (intake,) = (await session.scalars(select(Intake))).all()
    assert intake.state["answers"]["mansa.friend"] == 0 and intake.state["answers"]["mansa.12"] == 4


async def test_rate_limits_per_session_and_per_address(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import open_app
    from bot.channels.web.server import WebChannel
    from bot.clock import ManualClock
    from tests.channels.web.conftest import settings_for

    settings = settings_for(tmp_path).model_copy(update={"web_rate_per_session": 5, "web_rate_per_address": 9})
    async with open_app(settings, ManualClock()) as app, \
            TestClient(TestServer(WebChannel(app, settings).application())) as client:
        user = WebUser(client)
        await user.get("/p/reconnect")
        await user.press("da")  # stored from here: a session of its own
        statuses = [(await user.get("/f")).status for _ in range(5)]
        assert statuses == [200] * 5
        assert (await user.get("/f")).status == 429  # the sixth request with one token in a minute
        other = WebUser(client)  # a new token from the same address: the address's limit is next
        statuses = [(await other.get("/p/reconnect")).status for _ in range(3)]
        assert 429 in statuses
