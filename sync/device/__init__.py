"""The device's own state: config (read, write, update by command), enrollment, and what
heartbeats say about the hardware."""
