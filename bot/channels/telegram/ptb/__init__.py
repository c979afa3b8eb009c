"""The python-telegram-bot (v22) runtime: `telegram.Bot` as the `TelegramApi`, its `Application` and
handlers to dispatch, fed update by update from the shared inbox loop (no `Updater`, no
`ConversationHandler`: see `bot.channels.telegram.ptb.runtime`)."""
