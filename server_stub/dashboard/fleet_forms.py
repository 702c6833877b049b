"""The overview's device-name form: `POST /devices/label` (device_id, label), coordinators only.

The app checks the session, its CSRF token and the same-origin rule before this runs
(`DashboardApp.handle`). A saved name redirects to `/?msg=nombrado&device=<id>`; the page
shows the message only when the store holds a label for that device, and shows the label
from the store, never from the URL. A refused name answers with the page and its error.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from server_stub.core.store import Store
from server_stub.fleet import tables as fleet

log = logging.getLogger("fieldkit.server.dashboard")

LABEL_SAVED = "nombrado"


def post_label(store: Store, form: dict[str, str], username: str) -> tuple[str | None, str]:
    """(None, where to redirect) when saved; (the Spanish error, "") when refused."""
    dev = form.get("device_id", "")
    try:
        label = fleet.set_device_label(store, dev, form.get("label", ""))
    except fleet.FleetError as e:
        return f"No se guardó el nombre: {e}", ""
    log.info("device %s named %r from the dashboard by %s", dev, label, username)
    return None, f"/?msg={LABEL_SAVED}&device={quote(dev)}"


def label_flash(store: Store, device_id: str) -> str | None:
    """The message after a saved name, if the store holds one for `device_id`."""
    label = fleet.device_labels(store).get(device_id) if device_id else None
    return f"Nombre guardado: el dispositivo {device_id} se muestra como «{label}»." if label else None
