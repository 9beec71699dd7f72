"""The Discord-side services of songs: built once in `SingingBot.setup_hook`, held as
typed attributes of the bot."""
