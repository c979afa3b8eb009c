"""Adapters (console, aiogram, python-telegram-bot), the command line and settings."""
