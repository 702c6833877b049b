"""``python -m server_stub.cli``: the same as ``fieldkit-server``."""

from server_stub.cli.main import main

raise SystemExit(main())
