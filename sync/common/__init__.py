"""What device and server both use that is not the wire format: the strict TOML loader,
PIN hashing, TCP_NODELAY, the package version."""
