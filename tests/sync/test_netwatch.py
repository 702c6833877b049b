"""The offline agent's network-change probe: stable while nothing changes, blind to the
traffic counters in the routing tables, and moved by a route or an interface state."""

from __future__ import annotations

from pathlib import Path

from sync.agent import netwatch

V6 = ("fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000100 {ref} 00000000 00000001     eth0\n")
V4 = ("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
      "wlan0\t00000000\t{gw}\t0003\t0\t{use}\t600\t00000000\t0\t0\t0\n")


def test_fingerprint_is_stable_between_calls() -> None:
    assert netwatch.link_fingerprint() == netwatch.link_fingerprint()


def test_route_counters_do_not_count_as_a_change(tmp_path: Path) -> None:
    v6, v4 = tmp_path / "ipv6_route", tmp_path / "route"
    keep6, keep4 = netwatch._ROUTES[1][1], netwatch._ROUTES[0][1]
    v6.write_text(V6.format(ref="00000001"))
    v4.write_text(V4.format(gw="0101A8C0", use="0"))
    before = (netwatch._routes(str(v6), keep6), netwatch._routes(str(v4), keep4))
    v6.write_text(V6.format(ref="00000007"))
    v4.write_text(V4.format(gw="0101A8C0", use="129"))
    assert (netwatch._routes(str(v6), keep6), netwatch._routes(str(v4), keep4)) == before
    v4.write_text(V4.format(gw="FE01A8C0", use="129"))  # a new gateway: a new network
    assert netwatch._routes(str(v4), keep4) != before[1]


def test_interface_state_changes_the_fingerprint(tmp_path: Path, monkeypatch) -> None:
    net = tmp_path / "net"
    (net / "wwan0").mkdir(parents=True)
    (net / "wwan0" / "operstate").write_text("unknown\n")
    (net / "wwan0" / "carrier").write_text("0\n")
    monkeypatch.setattr(netwatch, "_NET", str(net))
    down = netwatch.link_fingerprint()
    (net / "wwan0" / "carrier").write_text("1\n")  # a modem link whose operstate stays "unknown"
    assert netwatch.link_fingerprint() != down
    (net / "usb0").mkdir()  # a new interface appears
    assert netwatch.link_fingerprint() != down


def test_missing_files_are_not_an_error(monkeypatch) -> None:
    monkeypatch.setattr(netwatch, "_ROUTES", (("/nonexistent/route", (0,)),))
    monkeypatch.setattr(netwatch, "_NET", "/nonexistent/net")
    assert netwatch.link_fingerprint() == netwatch.link_fingerprint()
