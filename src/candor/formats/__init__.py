"""Record files in and out: streaming readers for the CONTRACT's CSV and JSON Lines formats.

Readers yield ``RawBatch``es of text columns; they check only what a file's structure can get
wrong (encoding, quoting, field counts, JSON syntax). What the values mean is checked by
``candor.domain.validation``.
"""
