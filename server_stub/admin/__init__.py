"""The coordinator's pages beyond the overview (registered on the dashboard app by `site.py`):
auxiliaries, processes and the audit log (`admin`, `auxiliaries`), the roll, enrollment codes
and devices (`fleet`), search and trends (`search`)."""
