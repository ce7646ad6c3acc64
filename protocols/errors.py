"""The one exception type that ``protocols/`` raises for bad input."""


class ProtocolError(ValueError):
    """Input that cannot be decoded or encoded: the message says what is wrong.

    Every decoder and encoder in ``protocols/`` raises this (and nothing else) for bad
    input, so a caller holding bytes from a radio needs exactly one ``except`` clause.
    """
