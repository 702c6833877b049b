"""The machine-readable zone, pure (numpy in, data out): parsing and check digits, the
OCR-B reader, and locating the band in a whole frame."""
