"""LGIPE art. 371 threshold and dispersion math (pure)."""

from __future__ import annotations

from server_stub.verify.thresholds import RULES, Unit, ceil_share, evaluate, units_needed


def test_shares_round_up_never_down() -> None:
    assert ceil_share(1000, 200) == 20
    assert ceil_share(1001, 200) == 21  # 20.02 -> 21
    assert ceil_share(99, 100) == 1
    assert ceil_share(0, 300) == 0


def test_units_needed_half_rounds_up_and_fixed_counts() -> None:
    df = RULES["diputacion_federal"]
    assert units_needed(df, 10) == 5 and units_needed(df, 11) == 6
    assert units_needed(RULES["presidencia"], 32) == 17
    assert units_needed(RULES["revocacion"], 32) == 17


def test_federal_deputy_needs_total_and_half_the_secciones() -> None:
    rule = RULES["diputacion_federal"]
    # 4 secciones of 1000: total 2 % of 4000 = 80; each needs 1 % = 10; half = 2 secciones.
    units = [Unit("01-0001", 1000, 80), Unit("01-0002", 1000, 9), Unit("01-0003", 1000, 0),
             Unit("01-0004", 1000, 0)]
    p = evaluate(rule, units)
    assert (p.required, p.valid, p.missing) == (80, 89, 0)
    assert (p.units_needed, p.units_met, p.units_missing) == (2, 1, 1)
    assert not p.met  # enough supports, badly dispersed
    assert [u.key for u in p.cheapest_missing_units()] == ["01-0002", "01-0003", "01-0004"]
    assert p.supports_to_disperse() == 1  # one more in 01-0002
    p2 = evaluate(rule, [*units[:1], Unit("01-0002", 1000, 10), *units[2:]])
    assert p2.met


def test_empty_units_do_not_count_and_presidency_needs_17_states() -> None:
    rule = RULES["presidencia"]
    units = [Unit(f"{e:02d}", 10_000, 100) for e in range(1, 17)] + [Unit("17", 10_000, 99), Unit("33", 0, 5)]
    p = evaluate(rule, units)
    assert p.units_total == 17 and p.lista_nominal == 170_000
    assert p.required == 1700 and p.valid == 1699
    assert (p.units_met, p.units_missing, p.missing) == (16, 1, 1)
    assert not p.met
    p2 = evaluate(rule, [*units[:16], Unit("17", 10_000, 100)])
    assert p2.met


def test_senate_and_revocation_shares() -> None:
    s = evaluate(RULES["senaduria"], [Unit("09-01", 500, 5), Unit("09-02", 501, 6), Unit("09-03", 300, 15)])
    assert s.required == ceil_share(1301, 200) == 27
    assert [u.required for u in s.units] == [5, 6, 3]
    assert s.units_needed == 2 and s.units_met == 3 and not s.met  # 26 < 27
    r = evaluate(RULES["revocacion"], [Unit(f"{e:02d}", 1000, 30) for e in range(1, 18)])
    assert r.required == 510 and r.valid == 510 and r.units_met == 17 and r.met


def test_consulta_popular_and_iniciativa_ciudadana_count_only_the_national_total() -> None:
    consulta, iniciativa = RULES["consulta_popular"], RULES["iniciativa_ciudadana"]
    assert not consulta.dispersion and not iniciativa.dispersion
    assert all(RULES[k].dispersion for k in ("presidencia", "senaduria", "diputacion_federal", "revocacion"))
    # All supports from one entidad: enough for a total-only rule, whatever the others have.
    units = [Unit("09", 1_000_001, 20_001), *(Unit(f"{e:02d}", 1_000_000, 0) for e in range(10, 41))]
    c = evaluate(consulta, units)
    assert c.required == ceil_share(32_000_001, 200) == 640_001  # 2 % of 32,000,001 is 640,000.02
    assert (c.units_needed, c.units_missing) == (0, 0) and not c.met
    assert evaluate(consulta, [Unit("09", 1_000_001, 640_001), *units[1:]]).met
    i = evaluate(iniciativa, units)
    assert i.required == ceil_share(32_000_001, 13) == 41_601  # 0.13 % = 41,600.0013
    assert not i.met and evaluate(iniciativa, [Unit("09", 1_000_001, 41_601), *units[1:]]).met
    assert i.supports_to_disperse() == 0


def test_no_lista_nominal_is_never_met() -> None:
    # Before the roll is imported every share is 0 of 0: that must not read as "cumple".
    for kind in ("consulta_popular", "iniciativa_ciudadana", "senaduria", "diputacion_federal"):
        p = evaluate(RULES[kind], [])
        assert p.required == 0 and not p.met, kind
    assert not evaluate(RULES["consulta_popular"], [Unit("09", 0, 5)]).met
