"""``fieldkit-server``: the command line (``python -m server_stub.cli`` runs it too)."""
