"""The device's own state: config (read, write, update by command), enrollment, the freeze
policy and what heartbeats say about the hardware."""
