"""The application around the domain (`flows`) and `storage`.

- `services/`: channel-neutral services (intake, casework, meetings, follow-ups, escalation, the clocks,
  erasure, the access policy, the outbox form);
- `exports/`: what coordinators take out (referrals as JSON, FHIR, CSV; the dashboard; the poster);
- `channels/`: the console, Telegram (aiogram or python-telegram-bot) and the web form;
- `cli/` (the ``ipsbot`` command), `app.py` (the wiring) and `settings.py`: the entry points.
"""
