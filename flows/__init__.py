"""Transport-neutral intake dialogue: instruments, programmes, triage and the step machine.

Nothing here imports a channel library, storage or SQLAlchemy; a step takes a JSON-serialisable state
and an answer and returns the new state and the screens to show.
"""
