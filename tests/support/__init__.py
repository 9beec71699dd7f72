"""What the end-to-end tests and the benchmark share: the bot process (`process`), its
environment (`env`) and the world of stand-ins around it (`world`)."""
