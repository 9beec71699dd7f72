"""Discord pieces the cogs share: modals (`modals`) and the status embed (`status`)."""
