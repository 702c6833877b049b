"""Verification against the electoral roll: processes, look-up keys, thresholds."""
