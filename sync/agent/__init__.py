"""The sync agent: sends pending envelopes, erases on verified acks, applies fleet commands,
serves the kiosk's local channel; and the freeze policy the kiosk reads from its state."""
