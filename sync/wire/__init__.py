"""The wire format: exactly what device and server share (record, envelope, sealing, acks,
commands, enrollment, folios, ids, MQTT topics). Imports nothing else of ``sync``."""
