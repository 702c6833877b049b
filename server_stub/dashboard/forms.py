"""Request bodies of the dashboard's forms: url-encoded fields, or multipart with files
(the roll upload). No JavaScript on the pages, so every action is a plain HTML form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from server_stub.dashboard.accounts import Session

# Fields a multi-select or a group of checkboxes sends once per choice: joined with commas.
MULTI = ("auxiliary", "process")


# What a page or an action answers: status, body, media type, extra headers.
Response = tuple[int, bytes, str, list[tuple[bytes, bytes]]]


@dataclass
class Upload:
    filename: str
    data: bytes


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)


def parse(content_type: str | None, body: bytes) -> Form:
    """The fields (and files) of a POST body; an unreadable body gives an empty form, which
    then fails the CSRF check like any other forged request."""
    if not body:
        return Form()
    if (content_type or "").lower().startswith("multipart/form-data"):
        return _multipart(content_type or "", body)
    q = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return Form({k: ",".join(v) if k in MULTI else v[0] for k, v in q.items()})


def _multipart(content_type: str, body: bytes) -> Form:
    # The email parser reads MIME multipart as RFC 7578 sends it; the header line first.
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1")
                                              + b"\r\n\r\n" + body)
    out = Form()
    if not msg.is_multipart():
        return out
    multi: dict[str, list[str]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            out.files[name] = Upload(filename, data)
        else:
            multi.setdefault(name, []).append(data.decode("utf-8", "replace"))
    out.fields = {k: ",".join(v) if k in MULTI else v[0] for k, v in multi.items()}
    return out


Page = Callable[["Session", dict[str, str]], Response]
Action = Callable[["Session", Form], Response]
