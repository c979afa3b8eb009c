"""The domain, channel-neutral: the intake's step machine, instruments, programmes, triage, the
follow-up dialogue, the escalation, the IPS case names, the statuses and the referral's content.

Nothing here imports a channel library, storage or SQLAlchemy; a step takes a JSON-serialisable
state and an answer and returns the new state and the screens to show.
"""
