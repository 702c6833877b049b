"""Fixtures and helpers the tests share (a real broker, PKI, servers, windows...)."""
