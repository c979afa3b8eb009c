"""The Telegram channel end to end: `ipsbot run` as a real process against the fake Bot API server.

One polling bot per runtime (aiogram, python-telegram-bot: the `framework` fixture) serves the module
(each test is a different person); the webhook, the crash and the bad-token tests start their own processes.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from bot.app import open_app
from bot.channels.telegram.updates import inbox_source, received
from bot.settings import Settings
from locales import Translator
from tests.e2e.console_process import process_env
from tests.e2e.telegram_bot import ROOT, TOKEN, BotProcess, Candidate, bot_env, step_of
from tests.fake_telegram import BotMessage, FakeTelegram
from tests.support.flow import Walker
from tests.support.net import free_port
from tests.support.walk import Plan, walk

pytestmark = pytest.mark.asyncio(loop_scope="module")  # async tests share the module loop

DA, SV = Translator("da"), Translator("sv")
MDI_ITEMS = ["1", "2", "3", "4", "5", "6", "7", "8a", "8b", "9", "10a", "10b"]
RECONNECT_DA = {"language": "da", **{f"mdi.{i}": "2" for i in MDI_ITEMS}, "mdi.6": "0",  # item 6 > 0: a risk
                "q.support_wanted": "<b>Følgeskab</b> & ro"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(framework: str) -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:  # a fresh Telegram for each runtime
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(server: FakeTelegram, framework: str,
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    tmp = tmp_path_factory.mktemp("telegram")
    # debug logging on, so the log test below sees everything the bot could ever write
    process = await BotProcess(server, bot_env(server, tmp, framework, LOG_LEVEL="DEBUG"), tmp).start()
    yield process
    assert await process.stop() == 0, process.log.read_text()[-3000:]  # SIGTERM: a clean stop


def texts(messages: list[BotMessage]) -> str:
    return "\n---\n".join(m.text for m in messages)


async def walk_to(person: Candidate, step: str, plan: dict[str, str]) -> None:
    await walk(person, Plan.typical(plan), until=step, limit=80)


async def test_commands_menu_is_set_in_three_languages(server: FakeTelegram, bot: BotProcess) -> None:
    for lang, t in (("", Translator("en")), ("da", DA), ("sv", SV)):
        commands = {c["command"]: c["description"] for c in server.commands(None, lang)}
        assert commands["start"] == t("telegram.cmd.start") and len(commands) == 7


async def test_the_runtime_asked_for_is_the_one_that_answers(server: FakeTelegram, bot: BotProcess,
                                                            framework: str) -> None:
    """BOT_FRAMEWORK really switches the client: each framework names itself in the User-Agent of its
    calls (runs after the commands test: the menu is set by the same client). Both send JSON bodies:
    aiogram's session as ours (`JsonSession`), python-telegram-bot's `Bot` through our aiohttp backend."""
    calls = server.calls_to("setMyCommands")
    expected = "aiogram/" if framework == "aiogram" else "python-telegram-bot v"
    assert calls and all(expected in c.user_agent for c in calls), {c.user_agent for c in calls}
    assert {c.content_type for c in calls} == {"application/json"}
    assert f"polling for updates ({framework})" in bot.log.read_text()


async def test_danish_intake_through_taps_and_typing_ends_eligible(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2001, "Ana", "da"))
    first = await person.say("/start reconnect")
    assert DA("language.ask") in texts(first)
    replies = await person.run(RECONNECT_DA, until=lambda r: any(DA("result.eligible") in m.text for m in r))
    assert DA("result.eligible") in replies[-1].text or DA("result.eligible") in texts(replies)
    # typed text comes back escaped, as typed, never as markup
    assert "<b>Følgeskab</b> & ro" in texts(replies)
    # an answered question shows the choice and loses its keyboard
    answered = [m for m in person.user.messages if "✔" in m.text]
    assert answered and all(not m.buttons for m in answered)
    assert any(m.text.endswith("✔ " + DA("button.next")) for m in answered), [m.text[-40:] for m in answered]
    # progress in italics above the question
    assert any(e["type"] == "italic" and e["offset"] == 0 for m in person.user.messages for e in m.entities)


async def test_swedish_intake_on_jonkoping(server: FakeTelegram, bot: BotProcess) -> None:
    plan = {"language": "sv", "q.age": "30", "q.municipality": "Jönköping", "phq9.9": "0"}
    expected = Walker("jonkoping", "sv").run(plan, default_score=1)
    outcome = next(e.data for e in expected.events if e.kind == "completed")["triage"]["outcome"]
    assert outcome.startswith("eligible")
    person = Candidate(server, server.user(2002, "Sara", "sv"))
    assert SV("language.ask") in texts(await person.say("/start jonkoping"))
    replies = await person.run(plan, until=lambda r: any(SV(f"result.{outcome}") in m.text for m in r))
    assert SV(f"result.{outcome}") in texts(replies)


async def test_risk_answer_shows_crisis_help_before_the_next_question(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2003, "Bo", "da"))
    await person.say("/start reconnect")
    await walk_to(person, "mdi.6", RECONNECT_DA)
    assert DA("mdi.option.3") == "Lidt over halvdelen af tiden"
    replies = await person.act(lambda: person.user.tap_button(DA("mdi.option.3")))
    assert DA("crisis.text").splitlines()[0] in replies[0].text, texts(replies)
    assert step_of(replies[-1]) == "mdi.7"


async def test_double_tap_and_old_button_change_nothing(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2004, "Cai", "da"))
    await person.say("/start vejle")
    language = person.question().snapshot()  # before the tap edits it

    async def double() -> None:
        await person.user.tap_button(lambda b: b["callback_data"].endswith("|da"), message_id=language.message_id)
        await person.user.tap(language.message_id, language.buttons[0]["callback_data"])

    replies = await person.act(double)
    assert texts(replies).count(DA("stale.tap")) == 1
    assert step_of(person.question()) == "info.ips"
    old = await person.act(lambda: person.user.tap(language.message_id, language.buttons[1]["callback_data"]))
    assert DA("stale.tap") in old[0].text and step_of(old[-1]) == "info.ips"
    answered = await person.tap("next")
    assert step_of(answered[-1]) == "info.screening"
    # every tap was answered (no spinner left)
    assert all(server.callback_answer(c.params["callback_query_id"]) is not None
               for c in server.calls_to("answerCallbackQuery"))


async def test_duplicate_update_gets_no_second_reply(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2005, "Dan", "da"))
    mark = person.mark
    update = await person.user.send_command("/start vejle")
    await server.settle()
    assert person.sent_since(mark)
    mark = person.mark
    delivered = server.delivered_update_ids.count(update["update_id"])
    server.duplicate(update["update_id"])
    await server.settle()
    assert server.delivered_update_ids.count(update["update_id"]) == delivered + 1
    assert person.sent_since(mark) == []  # fetched and confirmed again, never handled twice


async def test_an_unreadable_update_is_closed_and_the_next_one_answered(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2010, "Ib", "da"))

    async def garbled() -> None:  # not an update aiogram can read
        server.enqueue_raw({"message": {"text": ["not", "a", "message"]}})

    assert await person.act(garbled) == []
    replies = await person.say("/start vejle")  # nothing stuck: the next update is handled as usual
    assert DA("language.ask") in texts(replies)
    assert "could not be read; closed unhandled" in bot.log.read_text()


async def test_sticker_gets_text_only_notice_and_the_question_again(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2006, "Eva", "da"))
    await person.say("/start vejle")
    for send in (person.user.send_sticker, person.user.send_photo, person.user.send_location):
        replies = await person.act(send)
        assert [m.text for m in replies[:1]] == [DA("telegram.text_only")]
        assert step_of(replies[-1]) == "language"


async def test_edited_message_gets_a_notice(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2007, "Finn", "da"))
    await person.say("/start vejle")
    sent = await person.user.send_text("hej")
    await server.settle()
    replies = await person.act(lambda: person.user.edit_message(sent["message"]["message_id"], "hallo"))
    assert [m.text for m in replies] == [DA("telegram.edited_ignored")]


async def test_group_message_gets_private_only(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.group_user(2008, "Gry", chat_id=-100200300))
    replies = await person.say("/start reconnect")
    assert [m.text for m in replies] == [DA("telegram.private_only")]


async def test_rate_limit_is_waited_out(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2009, "Hans", "da"))
    since = len(server.calls)
    server.fail_next("sendMessage", 429, retry_after=1, chat_id=person.user.chat_id)
    replies = await person.say("/start vejle")
    assert DA("language.ask") in texts(replies)
    calls = [c for c in server.calls[since:] if c.method == "sendMessage"]
    assert calls[0].status == 429 and calls[-1].status == 200
    assert calls[-1].time - calls[0].time >= 0.9


async def test_burst_from_one_person_is_handled_in_order(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2010, "Ida", "da"))
    await person.say("/start vejle")
    anchor = person.question().message_id
    taps = [("language", 0, "da"), ("info.ips", 1, "next"), ("info.screening", 2, "next"),
            ("info.help", 3, "next"), ("consent", 4, "yes")]

    async def burst() -> None:
        start = time.monotonic()
        for step, version, button in taps:
            await person.user.tap(anchor, f"{step}|{version}|{button}")
        for text in ("Ida", "42", "Vejle"):
            await person.user.send_text(text)
        await person.user.tap(anchor, "q.situation|8|unemployed")
        await person.user.tap(anchor, "q.support|9|kontanthjaelp")
        assert time.monotonic() - start < 0.2

    replies = await person.act(burst)
    assert DA("stale.tap") not in texts(replies)
    assert [step_of(m) for m in replies if m.buttons] == [
        "info.ips", "info.screening", "info.help", "consent", "q.name", "q.age", "q.municipality",
        "q.situation", "q.support", "q.treatment"]


GAD7_ITEMS = [str(i) for i in range(1, 8)]
OUTCOME_PLANS = {
    "refer-gp": ("reconnect", {"language": "da", **{f"gad7.{i}": "3" for i in GAD7_ITEMS}}),
    "eligible-urgent": ("reconnect", {"language": "da", "mdi.6": "3"}),
    "refer-coping-course": ("hjorring", {"language": "da", "q.age": "35", "q.diagnoses": ["anxiety"],
                                         **{f"gad7.{i}": "2" for i in GAD7_ITEMS},
                                         **{f"mdi.{i}": "0" for i in MDI_ITEMS}}),
    "refer-tfa": ("hjorring", {"language": "da", "q.age": "35", "q.treatment": "suspected", "q.diagnoses": ["none"]}),
    "not-in-target": ("reconnect", {"language": "da", "q.age": "40"}),
}


@pytest.mark.parametrize("outcome", list(OUTCOME_PLANS))
async def test_each_triage_outcome_is_shown_with_its_next_step(
    server: FakeTelegram, bot: BotProcess, outcome: str
) -> None:
    programme, plan = OUTCOME_PLANS[outcome]
    expected = Walker(programme, "da").run(plan, default_score=1)
    triage = next(e.data for e in expected.events if e.kind == "completed")["triage"]
    assert triage["outcome"] == outcome  # the plan is what the programme's rules say it is
    person = Candidate(server, server.user(2200 + list(OUTCOME_PLANS).index(outcome), "Nor", "da"))
    await person.say(f"/start {programme}")
    replies = await person.run(plan, until=lambda r: any(DA(f"result.{outcome}") in m.text for m in r))
    result = next(m.text for m in replies if DA(f"result.{outcome}") in m.text)
    assert DA(triage["reason"]) in result


async def test_back_language_and_restart_commands(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2011, "Jens", "da"))
    await person.say("/start reconnect")
    await walk_to(person, "gad7.3", RECONNECT_DA)
    back = await person.say("/back")
    assert step_of(back[-1]) == "gad7.2" and DA("gad7.item.2") in back[-1].text
    chooser = await person.say("/language")
    assert step_of(chooser[-1]) == "gad7.2@language"
    swedish = await person.tap("sv")
    assert SV("gad7.item.2") in swedish[-1].text and step_of(swedish[-1]) == "gad7.2"
    assert SV("progress", current=2, total=7) in swedish[-1].text
    ask = await person.say("/restart")
    assert ask[-1].text == SV("restart.ask")
    restarted = await person.tap("yes")
    assert SV("restart.done") in texts(restarted) and step_of(restarted[-1]) == "language"


async def test_mydata_and_delete(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2012, "Kim", "da"))
    await person.say("/start reconnect")
    await walk_to(person, "q.municipality", {**RECONNECT_DA, "q.name": "Kim <3"})
    shown = await person.say("/mydata")
    assert "Kim <3" in texts(shown) and "19" in texts(shown)
    upload = server.uploaded_files[-1]
    assert upload.filename == "mydata.json"
    copy = json.loads(upload.content)
    assert copy["intakes"][0]["answers"]["name"] == "Kim <3" and copy["intakes"][0]["consent"]["given_at"]
    await person.say("/delete")
    gone = await person.tap("yes")
    assert DA("delete.done") in texts(gone)
    assert DA("mydata.empty") in texts(await person.say("/mydata"))


@pytest.mark.parametrize("text", [
    "x" * 10_000,  # longer than Telegram allows to send back
    "<script>alert(1)</script> **bold** _it_ [a](http://x) &amp;",
    "\u202eإجابة\u200b\u200f",  # right-to-left and zero-width characters
    "/frobnicate",
])
async def test_odd_text_gets_a_clear_answer_and_the_same_question(
    server: FakeTelegram, bot: BotProcess, text: str
) -> None:
    person = Candidate(server, server.user(2100 + len(text) % 97, "Lea", "da"))
    await person.say("/start vejle")
    replies = await person.say(text)
    expected = DA("command.unknown") if text.startswith("/") else DA("error.choose")
    assert replies[0].text == expected, texts(replies)
    assert step_of(replies[-1]) == "language"
    assert all(len(m.text) <= 4096 for m in replies)


async def test_voice_and_contact_are_not_answers(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2013, "Mo", "sv"))
    await person.say("/start jonkoping")
    for send in (person.user.send_voice, person.user.send_contact):
        replies = await person.act(send)
        assert replies[0].text == SV("telegram.text_only") and step_of(replies[-1]) == "language"


async def test_the_log_holds_no_answers_names_texts_or_user_ids(server: FakeTelegram, bot: BotProcess) -> None:
    """Runs after the tests above, which used this bot process: full intakes, /mydata, odd text."""
    log = bot.log.read_text(encoding="utf-8")
    assert "DEBUG" in log  # the level really was debug
    typed = ["Følgeskab", "Work in a bike shop", "Fixing things", "Hjørring", "Jönköping", "Kim <3", "Ana", "Sara"]
    shown = [DA("q.age"), DA("mdi.item.6"), DA("result.eligible"), DA("crisis.text").splitlines()[0], SV("q.name")]
    ids = [str(uid) for uid in (2001, 2002, 2003, 2011, 2012)]
    leaked = [s for s in typed + shown if s in log]
    # aiogram's "Duration 2011 ms" on a slow machine is not a user id; a whole number token would be
    numbers = re.sub(r"Duration \d+ ms", "", log)
    leaked += [i for i in ids if re.search(rf"(?<![\w.,-]){i}(?!\w)", numbers)]  # a token, not part of a hash
    assert not leaked, leaked


async def test_webhook_checks_the_secret(tmp_path: Path, framework: str) -> None:
    port = free_port()
    async with FakeTelegram(token=TOKEN) as server:
        env = bot_env(server, tmp_path, framework, WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/hook",
                      WEBHOOK_SECRET="s3cret-Token_1", WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port))
        process = await BotProcess(server, env, tmp_path).start(ready="setWebhook")
        try:
            await server.wait_for_call("setWebhook")
            assert server.webhook_secret == "s3cret-Token_1"
            user = server.user(3001, "Jon", "da")
            raw = {"message": {"message_id": 1, "from": user.user, "chat": user.chat, "date": int(time.time()),
                               "text": "/start vejle",
                               "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
            assert await server.post_to_webhook(dict(raw), secret="wrong") == 403
            assert await server.post_to_webhook(dict(raw), secret=None) == 403
            assert not user.messages
            assert await server.post_to_webhook(dict(raw)) == 200
            assert DA("language.ask") in (await user.wait_for_reply()).text
            # and updates queued by Telegram arrive by the webhook too
            await user.tap_button(lambda b: b["callback_data"].endswith("|da"))
            reply = await user.wait_for_reply(lambda m: bool(m.buttons) and step_of(m) == "info.ips")
            assert reply
        finally:
            assert await process.stop() == 0, process.log.read_text()[-3000:]


async def test_kill_9_at_many_points_then_one_referral_with_every_answer(tmp_path: Path, framework: str) -> None:
    async with FakeTelegram(token=TOKEN) as server:
        process = await BotProcess(server, bot_env(server, tmp_path, framework), tmp_path).start(fork=True)
        person = Candidate(server, server.user(4001, "Ana", "da"))
        await person.say("/start reconnect")
        kills = 0
        done = False
        for index in range(80):
            value, is_tap = person.planned(RECONNECT_DA)
            asked = step_of(person.question())
            mark = person.mark
            if index % 2:  # answer normally between crashes
                replies = await (person.tap(value) if is_tap else person.say(value))
                done = any(DA("result.eligible") in m.text for m in replies)
                if done:
                    break
                continue
            # the bot waits in a long poll (settled): that one, or a later one, brings the update
            since = max(i for i, c in enumerate(server.calls) if c.method == "getUpdates")
            action = (person.user.tap_button(
                lambda b, v=value: str(b.get("callback_data", "")).endswith("|" + v),
                message_id=person.question().message_id) if is_tap else person.user.send_text(value))
            update = await action
            point = kills % 3
            if point == 1:  # the bot has fetched the update and is working on it
                await server.wait_for_call(
                    "getUpdates", lambda c, u=update: any(x["update_id"] == u["update_id"] for x in c.result or []),
                    since=since)
            elif point == 2:  # the bot has replied (perhaps before confirming)
                await person.user.wait_for_reply()
            await process.kill()
            kills += 1
            await process.start(fork=True)
            await server.settle(20)
            # without writing again, the person has the next question: the update was handled after
            # the restart, or its replies were sent from the outbox
            replies = person.sent_since(mark)
            done = any(DA("result.eligible") in m.text for m in replies)
            if done:
                break
            assert step_of(person.question()) != asked, (kills, asked, texts(replies))
        assert done and kills >= 20, (done, kills)
        assert await process.stop() == 0
    export = subprocess.run([sys.executable, "-m", "bot.cli", "export", "--format", "json"], cwd=tmp_path,
                            env=process.env, capture_output=True, text=True, timeout=60, check=False)
    assert export.returncode == 0, export.stderr
    lines = export.stdout.splitlines()
    assert len(lines) == 1, "exactly one referral"
    record = json.loads(lines[0])
    assert record["candidate"]["name"] == "Ana" and record["candidate"]["age"] == 19
    assert record["instruments"]["gad7"]["items"] == [1] * 7
    assert record["instruments"]["mdi"]["total"] == 18  # 2 on each item but item 6
    assert record["motivation"]["support_wanted"] == "<b>Følgeskab</b> & ro"
    assert record["motivation"]["dream"] == "Work in a bike shop"
    assert record["triage"]["outcome"] == "eligible"


@pytest.mark.parametrize("restart_as", ["polling", "webhook"])
async def test_an_update_left_in_the_inbox_is_handled_after_the_restart(tmp_path: Path, restart_as: str,
                                                                        framework: str) -> None:
    """A crash after the bot stored and confirmed an update, before handling it: Telegram never sends
    it again, and the bot handles it from its inbox when it starts, polling or (after a switch to a
    webhook) before it serves the webhook."""
    source = inbox_source(int(TOKEN.split(":")[0]))
    async with FakeTelegram(token=TOKEN) as server:
        env = bot_env(server, tmp_path, framework)
        process = await BotProcess(server, env, tmp_path).start()
        person = Candidate(server, server.user(4101, "Bo", "da"))
        await person.say("/start reconnect")
        asked = step_of(person.question())
        assert await process.stop() == 0

        value, is_tap = person.planned(RECONNECT_DA)
        mark = person.mark
        update = await (person.user.tap_button(lambda b: str(b.get("callback_data", "")).endswith("|" + value),
                                               message_id=person.question().message_id)
                        if is_tap else person.user.send_text(value))
        settings = Settings(bot_token=TOKEN, database_url=env["DATABASE_URL"], encryption_key=env["ENCRYPTION_KEY"])
        async with open_app(settings) as app, app.uow() as uow:
            assert await uow.updates.receive(source, received([update]), app.clock.now())
        confirm = {"offset": str(update["update_id"] + 1), "timeout": "0"}  # as the crashed bot had done
        async with aiohttp.ClientSession() as http, http.post(f"{server.url}/bot{TOKEN}/getUpdates",
                                                              data=confirm) as confirmed:
            assert (await confirmed.json())["result"] == []

        if restart_as == "webhook":
            port = free_port()
            process.env.update(WEBHOOK_URL=f"http://127.0.0.1:{port}/hook", WEBHOOK_SECRET="s3cret",
                               WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port))
        await process.start(ready="setWebhook" if restart_as == "webhook" else "getUpdates")
        await server.settle(20)
        assert update["update_id"] not in server.delivered_update_ids  # Telegram did not send it again
        assert step_of(person.question()) != asked, texts(person.sent_since(mark))  # and it was answered
        assert "updates left in the inbox from before: 1" in process.log.read_text()
        assert await process.stop() == 0
        async with open_app(settings) as app, app.uow() as uow:
            assert await uow.updates.waiting(source) == []
            assert await uow.updates.seen(source, update["update_id"])


async def test_bad_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = process_env(tmp_path, PYTHONPATH=str(ROOT), BOT_TOKEN="bad")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert len(stderr.decode().strip().splitlines()) == 1 and "BOT_TOKEN" in stderr.decode()


async def test_diagnosis_areas_are_toggle_buttons_edited_in_place(server: FakeTelegram, bot: BotProcess) -> None:
    person = Candidate(server, server.user(2301, "Vera", "da"))
    await person.say("/start vejle")
    await walk_to(person, "q.diagnoses", {"language": "da", "q.age": "40"})
    question = person.question()
    assert question.button_texts[-3:] == [DA("q.diagnoses.dont_know"), DA("button.done"), DA("button.back")]
    assert await person.tap("anxiety") == []  # no new message: the same one, its buttons updated
    assert await person.tap("trauma") == []
    again = person.question()
    assert again.message_id == question.message_id and step_of(again) == "q.diagnoses"
    chosen = DA("option.chosen", label=DA("q.diagnoses.anxiety"))
    assert chosen in again.button_texts and DA("option.chosen", label=DA("q.diagnoses.trauma")) in again.button_texts
    assert DA("q.diagnoses.depression") in again.button_texts
    replies = await person.tap("done")
    assert step_of(replies[-1]) == "q.contact"
    assert person.question().message_id != question.message_id
