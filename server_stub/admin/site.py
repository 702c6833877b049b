"""The whole coordinators' site: the dashboard app with every page of this folder registered.

The dashboard (`server_stub.dashboard.app`) knows nothing of these pages: it routes the paths
they register (`app.pages`, `app.actions`, `app.uploads`), so the folders import one way.
"""

from __future__ import annotations

from collections.abc import Callable

from server_stub.admin import admin, fleet, search
from server_stub.core.config import ServerConfig
from server_stub.core.store import Store
from server_stub.dashboard.app import DashboardApp


def dashboard_app(store: Store, *, config: ServerConfig | None = None, secure_cookie: bool = True,
                  clock: Callable[[], int] | None = None) -> DashboardApp:
    app = DashboardApp(store, secure_cookie=secure_cookie, config=config, clock=clock)
    for mod in (admin, fleet, search):
        mod.register(app)
    return app
