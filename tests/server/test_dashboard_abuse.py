"""Abusing the dashboard's login and pages over real HTTPS: how fast one address may guess, whether
an attacker can lock a coordinator out, what an unknown user name costs the server, the security
headers, and `?msg=` links that try to make the dashboard say something.

Clients choose their source address inside 127.0.0.0/8 (the dashboard listens on 127.0.0.1), so
the server sees several distinct peers. The server runs in this process (threads), so the scrypt
calls a login costs are counted with a pass-through wrapper around `hashlib.scrypt`: the real hash
still runs, the wrapper only counts."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from server_stub.dashboard import accounts
from server_stub.verify import processes
from tests.helpers.server import IngestServer, TestDevice, with_dashboard

PASSWORD = "contraseña-larga-1"
PROC, ASP = "df-2027", "asp-1"
WAIT_RE = re.compile(r"Demasiados intentos\. Espere (\d+) (min|s)\.")
PHISH = "Llame al 555 123 4567 para reactivar su cuenta"


class Dash:
    def __init__(self, server: IngestServer, url: str) -> None:
        self.server, self.url = server, url

    def client(self, source: str = "127.0.0.1") -> requests.Session:
        """A session whose connections leave from `source` (any 127.x address is local)."""
        s = requests.Session()
        s.verify = str(self.server.ca_cert)
        s.trust_env = False
        s.mount("https://", _From(source))
        return s

    def login(self, s: requests.Session, user: str, password: str, **kw: Any) -> requests.Response:
        return s.post(self.url + "/login", data={"username": user, "password": password},
                      allow_redirects=False, timeout=30, **kw)


class _From(HTTPAdapter):
    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kw: Any) -> None:
        kw["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kw)


@pytest.fixture
def make_dash(ingest_server_factory: Callable[..., IngestServer]) -> Callable[..., Dash]:
    def make(extra: str = "") -> Dash:
        server = ingest_server_factory(start=False, mqtt=False)
        port = with_dashboard(server, extra, '[acuse]\nmode = "off"\n')
        store = server.store
        now = int(time.time() * 1000)
        processes.define_process(store, PROC, "diputacion_federal", "Diputación federal 2027",
                                 now - 86_400_000, now + 3 * 86_400_000)
        processes.add_aspirant(store, PROC, ASP, "Aspirante Uno", entidad=9, distrito_federal=1)
        accounts.add_user(store, "coord", PASSWORD)
        server.start()
        return Dash(server, f"https://127.0.0.1:{port}")

    return make


@pytest.fixture
def dash(make_dash: Callable[..., Dash]) -> Dash:
    return make_dash()


def _hammer(dash: Dash, s: requests.Session, seconds: float, user: Callable[[int], str],
            **kw: Any) -> list[tuple[float, int, requests.Response]]:
    """Wrong passwords as fast as one client goes, for `seconds`: (time, status, response)."""
    out: list[tuple[float, int, requests.Response]] = []
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < seconds:
        r = dash.login(s, user(i), f"equivocada-{i:04d}", **kw)
        out.append((time.monotonic() - t0, r.status_code, r))
        i += 1
    return out


def test_one_address_is_slowed_down_and_cannot_lock_a_coordinator_out(dash: Dash) -> None:
    # Rotating user names from one address: a few free tries, then backoff.
    rot = _hammer(dash, dash.client("127.0.0.7"), 5.0, lambda i: f"nadie-{i}")
    allowed = [at for at, st, _ in rot if st == 401]
    first_refused = next((i for i, (_, st, _) in enumerate(rot) if st == 429), None)
    print(f"\n[figures] rotating names from one address, 5 s: {len(rot)} tries, {len(allowed)} answered 401 "
          f"({len(allowed) / 5.0:.1f}/s), first refusal (429) at try {first_refused}, "
          f"401s at {[round(at, 2) for at in allowed][:40]} s")
    # Guessing one coordinator's password from one address.
    attacker = dash.client("127.0.0.2")
    tries = _hammer(dash, attacker, 3.0, lambda i: "coord")
    checked = sum(st == 401 for _, st, _ in tries)
    refused = [r for _, st, r in tries if st == 429]
    print(f"[figures] one account from one address, 3 s: {len(tries)} tries, {checked} answered 401, "
          f"{len(refused)} refused (429)")
    # Meanwhile, the attacker keeps hammering: the coordinator logs in from another address.
    stop = threading.Event()

    def keep_going() -> None:
        while not stop.is_set():
            dash.login(attacker, "coord", "equivocada-otra")

    t = threading.Thread(target=keep_going)
    t.start()
    try:
        time.sleep(0.3)
        coord = dash.login(dash.client("127.0.0.3"), "coord", PASSWORD)
    finally:
        stop.set()
        t.join()
    print(f"[figures] coordinator from another address while hammered: HTTP {coord.status_code}")

    assert first_refused is not None and first_refused <= 12, "no backoff from one address"
    assert len(allowed) <= 15, "one address keeps its speed after the free tries"
    assert checked <= 6 and refused, "the same address keeps guessing the same account"
    m = WAIT_RE.search(refused[-1].text)
    assert m, "the refusal says how long to wait"
    wait_s = int(m.group(1)) * (60 if m.group(2) == "min" else 1)
    assert abs(wait_s - int(refused[-1].headers["retry-after"])) < 60
    assert coord.status_code == 303, "an attacker on another address locked the coordinator out"


def test_unknown_and_known_user_cost_the_same_one_scrypt(dash: Dash, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kw: Any) -> bytes:
        calls.append(time.monotonic())
        return real(*args, **kw)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    n = 4
    known, unknown = dash.client("127.0.0.4"), dash.client("127.0.0.6")
    cost: dict[str, tuple[int, float]] = {}
    for label, s, user in (("known", known, lambda i: "coord"), ("unknown", unknown, lambda i: f"nadie-{i}")):
        before, t0 = len(calls), time.perf_counter()
        for i in range(n):
            assert dash.login(s, user(i), f"equivocada-{i}").status_code == 401
        cost[label] = (len(calls) - before, time.perf_counter() - t0)
    (kc, kt), (uc, ut) = cost["known"], cost["unknown"]
    print(f"\n[figures] scrypt calls per try: known {kc / n:g}, unknown {uc / n:g}; "
          f"time per try: known {kt / n * 1000:.0f} ms, unknown {ut / n * 1000:.0f} ms")
    assert uc == kc == n, "an unknown user name costs more (or less) than a known one"
    # A refused try (this pair is now over its limit) costs no hash at all.
    dash.login(known, "coord", "equivocada-5")
    before = len(calls)
    refused = [dash.login(known, "coord", "equivocada-6").status_code for _ in range(5)]
    assert refused == [429] * 5 and len(calls) == before
    # The dummy hash an unknown name is checked against costs what a real one does.
    assert accounts.DUMMY_HASH.split("$")[:4] == accounts.hash_password("x" * 10).split("$")[:4]


def test_security_headers_on_login_overview_and_csv(dash: Dash) -> None:
    s = dash.client()
    pages = {"login": s.get(dash.url + "/login", timeout=30)}
    pages["failed login"] = dash.login(s, "coord", "equivocada-1")
    assert dash.login(s, "coord", PASSWORD).status_code == 303
    pages["overview"] = s.get(dash.url + "/", timeout=30)
    pages["csv"] = s.get(dash.url + f"/export.csv?p={PROC}", timeout=30)
    pages["redirect"] = dash.client().get(dash.url + "/", timeout=30, allow_redirects=False)
    assert pages["redirect"].status_code == 303
    for name, r in pages.items():
        h = r.headers
        assert h.get("strict-transport-security") == "max-age=31536000", name
        csp = h.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and re.search(r"default-src '(none|self)'", csp), name
        assert "'unsafe-eval'" not in csp and "script-src" not in csp, name  # default-src covers scripts
        assert h.get("x-content-type-options") == "nosniff", name
        assert h.get("referrer-policy") == "no-referrer", name
    for name in ("overview", "csv"):
        assert pages[name].status_code == 200
        assert pages[name].headers.get("cache-control") == "no-store", name
    assert pages["csv"].text.startswith("folio,")
    # no-referrer makes a browser send `Origin: null` on its own forms: accepted only with
    # `Sec-Fetch-Site: same-origin`, which another site cannot make a browser send.
    csrf = re.search(r'name="csrf" value="([^"]+)"', pages["overview"].text).group(1)  # type: ignore[union-attr]
    same = "same-origin"
    for hdrs in ({"Origin": "null"}, {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                 {"Sec-Fetch-Site": "same-site"}, {"Origin": "https://evil.example", "Sec-Fetch-Site": same}):
        r = s.post(dash.url + "/logout", data={"csrf": csrf}, headers=hdrs, allow_redirects=False, timeout=30)
        assert r.status_code == 403, hdrs
    r = s.post(dash.url + "/logout", data={"csrf": csrf}, headers={"Origin": "null", "Sec-Fetch-Site": same},
               allow_redirects=False, timeout=30)
    assert r.status_code == 303


def test_msg_in_the_url_is_never_shown(dash: Dash, pki: Any) -> None:
    s = dash.client()
    assert dash.login(s, "coord", PASSWORD).status_code == 303
    asp_page = f"/aspirante?p={PROC}&a={ASP}"
    for path in ("/", asp_page + "&"):
        sep = "" if path.endswith("&") else "?"
        for msg in ("<script>alert(1)</script>", PHISH, "revocado", "notificado"):
            page = s.get(dash.url + path + sep, params={"msg": msg}, timeout=30).text
            assert 'id="flash"' not in page, (path, msg)
            assert "alert(1)" not in page and "555" not in page
    dev = TestDevice.create(pki.devices["dev-0001"], dash.server)
    page = s.get(dash.url + "/dispositivo", params={"msg": "revocado", "d": dev.id}, timeout=30).text
    assert 'id="flash"' not in page, "a revocation message for a device that is not revoked"
    # The real flows still show their messages; their redirects carry only a code.
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = s.post(dash.url + "/dispositivo/revocar", data={"device_id": dev.id, "csrf": csrf},
               allow_redirects=False)
    assert r.status_code == 303
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert re.fullmatch(r"[a-z0-9-]+", q["msg"][0]) and q.get("d") == [dev.id], r.headers["location"]
    flash = re.search(r'id="flash">([^<]*)<', s.get(dash.url + r.headers["location"], timeout=30).text)
    assert flash and "Dispositivo revocado" in flash.group(1)
    r = s.post(dash.url + "/aspirante/notificar", data={"p": PROC, "a": ASP, "csrf": csrf},
               allow_redirects=False)
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert r.status_code == 303 and re.fullmatch(r"[a-z0-9-]+", q["msg"][0]), r.headers["location"]
    flash = re.search(r'id="flash">([^<]*)<', s.get(dash.url + r.headers["location"], timeout=30).text)
    assert flash and "garantía de audiencia" in flash.group(1)


def test_forwarded_for_counts_only_from_a_configured_proxy(make_dash: Callable[..., Dash]) -> None:
    dash = make_dash('trusted_proxies = ["127.0.0.5"]\n')
    # 127.0.0.1 is not a configured proxy (uvicorn trusts it by default): rotating a spoofed
    # X-Forwarded-For does not make it a new client.
    spoofer = dash.client("127.0.0.1")
    got = [dash.login(spoofer, f"nadie-{i}", "equivocada", headers={"X-Forwarded-For": f"198.51.100.{i}"})
           .status_code for i in range(14)]
    assert 429 in got, f"a spoofed X-Forwarded-For from an untrusted peer resets the count: {got}"
    # From the configured proxy, the forwarded client is what counts.
    proxy = dash.client("127.0.0.5")

    def via(fwd: str, i: int) -> int:
        return dash.login(proxy, f"otro-{i}", "equivocada", headers={"X-Forwarded-For": fwd}).status_code

    got = [via("203.0.113.7", i) for i in range(14)]
    assert got[-1] == 429, got
    assert via("203.0.113.8", 99) == 401, "another client behind the proxy was blocked too"
    # A client behind the proxy cannot escape by prepending an address: the proxy appends the real one.
    assert via("192.0.2.1, 203.0.113.7", 100) == 429
    assert dash.login(proxy, "otro-x", "equivocada").status_code == 401  # the proxy's own address
    # IPv6 clients count by /64 (one host has a whole /64 to rotate through).
    got = [via(f"2001:db8:0:1::{i:x}", 200 + i) for i in range(14)]
    assert got[-1] == 429, got
    assert via("2001:db8:0:2::1", 300) == 401


def test_cross_site_login_posts_are_refused_and_not_counted(dash: Dash,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Any page a coordinator visits can make the browser POST /login (no-cors, no token): those
    posts must not count, or they lock the coordinator out from his own (office) address."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kw: Any) -> bytes:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    victim = "127.0.0.8"
    s = dash.client(victim)
    cross = [{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
             {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
             {"Origin": "null", "Sec-Fetch-Site": "cross-site"}, {"Origin": "null"},
             {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}]
    got = [dash.login(s, user, f"equivocada-{i}", headers=cross[i % len(cross)])
           for i in range(12) for user in ("coord", f"nadie-{i}")]
    hashed = len(calls)
    print(f"\n[figures] cross-site POST /login from the coordinator's address: "
          f"{[r.status_code for r in got]}, {hashed} scrypt calls")
    # The coordinator's own browser (no-referrer: `Origin: null` with `Sec-Fetch-Site: same-origin`)
    # logs in from the same address afterwards, and other names from it are not slowed down.
    own = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    other = dash.login(dash.client(victim), "nadie", "equivocada", headers=own).status_code
    coord = dash.login(dash.client(victim), "coord", PASSWORD, headers=own).status_code
    print(f"[figures] then from the same address: coordinator HTTP {coord}, another name HTTP {other}")
    assert coord == 303, "cross-site posts locked the coordinator out of his own address"
    assert other == 401, "cross-site posts slowed down every account from the address"
    assert {r.status_code for r in got} == {403}, "a cross-site login POST was processed"
    assert all("rechazad" in r.text for r in got)
    assert hashed == 0, "a refused cross-site login cost a hash"
    # A cross-site POST with the right password does not log in either (login CSRF).
    r = dash.login(s, "coord", PASSWORD, headers=cross[0])
    assert r.status_code == 403 and "set-cookie" not in r.headers
    # A browser that sends the real Origin (Firefox) is same-origin too.
    same = {"Origin": f"https://{urlsplit(dash.url).netloc}", "Sec-Fetch-Site": "same-origin"}
    assert dash.login(dash.client(victim), "coord", PASSWORD, headers=same).status_code == 303
    # A non-browser client (no Origin, no Sec-Fetch-Site) is still allowed, as before.
    assert dash.login(dash.client(victim), "coord", PASSWORD).status_code == 303


def test_csv_filename_keeps_only_safe_characters(dash: Dash) -> None:
    s = dash.client()
    assert dash.login(s, "coord", PASSWORD).status_code == 303
    inject = "\"; filename*=UTF-8''evil.html"
    for p, a in ((PROC + inject, None), (PROC, ASP + inject), (PROC, 'x";filename="evil.html'),
                 ("dí a/..\\x;y", "ü\tz"), ("x" * 500, "y" * 500)):
        r = s.get(dash.url + "/export.csv", params={"p": p, "a": a}, timeout=30)
        cd = r.headers.get("content-disposition", "")
        print(f"\n[figures] p={p[:40]!r} a={(a or '')[:40]!r}: HTTP {r.status_code}, {cd[:120]!r}")
        assert r.status_code == 200
        assert re.fullmatch(r'attachment; filename="dictamenes-[A-Za-z0-9._-]+\.csv"', cd), cd
        assert len(cd) < 200
    r = s.get(dash.url + "/export.csv", params={"p": PROC, "a": ASP}, timeout=30)
    assert r.headers["content-disposition"] == f'attachment; filename="dictamenes-{PROC}-{ASP}.csv"'
