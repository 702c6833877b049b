"""Transports to the server (MQTT, HTTPS) behind one small interface (``base``)."""
