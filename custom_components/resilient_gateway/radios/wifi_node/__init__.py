"""A Wi-Fi node link: micro-controllers running micropython-iot clients as devices.

The wire format is micropython-iot's, byte for byte (``codec.py``), so its client library
works unchanged; the server adds what upstream lacks: a persistent outbox and receive
memory (exactly once across restarts of either side), ACKs that count only for a message
sent on the current connection, an optional HMAC challenge on connect, and bounds.
"""
