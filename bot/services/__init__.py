"""Channel-neutral services: the intake, casework, meetings, follow-ups, the escalation, the clocks,
erasure, the staff access policy and the outbox form (`notify`).

They know no channel: a person is reached at an address (channel and id), and everything sent to
someone goes through the outbox in the caller's unit of work.
"""
