"""What every server subsystem stands on: config, the store, background rounds, ASGI helpers."""
