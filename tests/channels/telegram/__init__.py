"""The Telegram channel: rendering, sessions, both runtimes, the fake Bot API it is tested against."""
