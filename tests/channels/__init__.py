"""Channel tests: the Telegram runtimes and the web form, each through its own port."""
