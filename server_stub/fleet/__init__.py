"""The fleet: devices, auxiliaries, enrollment, revocation, heartbeats and signed commands."""
