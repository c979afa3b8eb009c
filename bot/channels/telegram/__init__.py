"""The Telegram channel on aiogram 3: rendering, handlers, polling and webhook runtime.

Thin by design: every answer goes to `bot.services.intake.IntakeService`; no dialogue logic here.
"""
