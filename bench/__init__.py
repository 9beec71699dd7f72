"""Benchmarks: `python -m bench` (`make bench`) prints every figure in one table; each figure
also runs alone with `python -m bench.<module>` (ack, forwarding, polls, delivery, bookkeeping,
upload_memory). Not collected by pytest (testpaths = ["tests"])."""
