"""The channels on the services: the console, and Telegram (`telegram/`).

A channel renders screens and calls the services; it holds no dialogue logic.
"""
