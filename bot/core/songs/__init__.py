"""A song from request to result: intake, quota, budget, blocked words, follow-ups, its texts."""
