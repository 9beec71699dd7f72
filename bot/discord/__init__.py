"""The Discord side: the Bot, the command tree, the connection, the UI pieces."""
