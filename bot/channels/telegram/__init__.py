"""The Telegram channel: rendering, routing, delivery and the update inbox loop, shared by two runtimes.

`aiogram/` (the default) and `ptb/` (python-telegram-bot) only adapt their framework to
`api.TelegramApi` and feed updates to `handlers`; `runtime.run` is the same loop for both.
Thin by design: every answer goes to `bot.services.intake.IntakeService`; no dialogue logic here.
"""
