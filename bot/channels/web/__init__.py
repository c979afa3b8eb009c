"""The web channel: the intake as a server-rendered form in a phone's browser and as a Telegram Mini App.

It renders the same screens from `flows/` and calls the same `IntakeService`; it holds no question,
rule or text of its own (its few words of chrome are catalogue entries `web.*`). `server` builds the
application from the parts' routes (`reading`, `resume`, `answering`, `mydata`, `miniapp`), which share
a `site.Site`; `middleware` guards every request, `sessions` reads whose it is, `assembly` builds the
pages, `pages` the HTML, `tokens` the resume tokens, CSRF tokens, Telegram init data and rate limits
(docs/architecture.md, "The web channel").
"""
