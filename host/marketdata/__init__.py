"""Market data: the ITCH 5.0 feed built from engine events, and a book rebuilt from it."""
