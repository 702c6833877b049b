"""A deployment's files: PKI, key files, the broker's config, ``init``."""
