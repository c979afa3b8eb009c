"""Channel-neutral services: the intake, casework, meetings, erasure and the staff access policy.

They know no channel: a person is reached at an address (channel and id), and everything sent to
someone goes through the outbox in the caller's unit of work.
"""
