"""Whole-system tests: the demo, systemd units, the architecture rules, packaging."""
