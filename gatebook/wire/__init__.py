"""Wire tables: every message layout and enum Gatebook speaks, defined once.

`layout` is the vocabulary, `enums`, `internal`, `itch50` and `moldudp64` are
the tables, and `codec` and `records` are derived from them. The table modules
import nothing outside this package.
"""
