"""The device outbox: sealed envelopes in a SQLCipher database until the server acks them."""
