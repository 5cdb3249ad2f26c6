"""Pure parsers: bytes in, typed records out, each record with its source line. No Django here."""
