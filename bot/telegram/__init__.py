"""The Telegram channel on aiogram 3: rendering, handlers, polling and webhook runtime.

Thin by design: every answer goes to `bot.intake_service.IntakeService`; no dialogue logic here.
"""
