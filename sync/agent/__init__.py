"""The sync agent: sends pending envelopes, erases on verified acks, applies fleet commands,
and serves the kiosk's local channel."""
