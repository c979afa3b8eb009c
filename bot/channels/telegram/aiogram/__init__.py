"""The aiogram 3 runtime: its Bot with our JSON session, pacing and 429 middlewares, its dispatcher
with the events isolation lock, and a router that hands updates to the shared routing."""
