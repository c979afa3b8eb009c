"""The channels on the services: the console (`console.py`), Telegram (`telegram/`) and the web form
(`web/`).

A channel renders screens and calls the services; it holds no dialogue logic.
"""
