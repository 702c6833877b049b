"""Records in: the one ingest function, its HTTPS and MQTT front ends, acuses de recibo."""
