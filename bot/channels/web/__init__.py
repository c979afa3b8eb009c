"""The web channel: the intake as a server-rendered form in a phone's browser and as a Telegram Mini App.

It renders the same screens from `flows/` and calls the same `IntakeService`; it holds no question,
rule or text of its own (its few words of chrome are catalogue entries `web.*`). `server` owns the
routes, `pages` the HTML, `tokens` the resume tokens, CSRF tokens, Telegram init data and rate limits.
"""
