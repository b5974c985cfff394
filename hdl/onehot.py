"""Gate-level helpers the window is built from: one-hot selection, decoding, sums.

Each one is written so synthesis gets the structure the window wants: a selection is
an AND-OR over a one-hot vector (no priority chain), an encoder ORs the indices of
the set bit, a sum is a balanced tree.
"""

from amaranth.hdl import Cat, Const, Mux

__all__ = ["select", "one_hot", "encode", "adder_tree"]


def select(one_hot_bits, items, layout=None):
    """The item whose bit is set in `one_hot_bits` (AND-OR: no priority chain); 0 if none.

    `items` are views of `layout`, or plain values when `layout` is None.
    """
    chosen = Const(0, layout.size if layout else len(items[0]))
    for bit, item in zip(one_hot_bits, items):
        chosen = chosen | Mux(bit, item.as_value() if layout else item, 0)
    return layout(chosen) if layout else chosen


def one_hot(value, n):
    """n bits, bit `value` set."""
    return Cat(value == i for i in range(n))


def encode(one_hot_bits, n):
    """The index of the set bit of an n-bit one-hot value (OR of the indices)."""
    width = max(1, (n - 1).bit_length())
    bits = [0] * width
    for i in range(n):
        for b in range(width):
            if (i >> b) & 1:
                bits[b] = bits[b] | one_hot_bits[i]
    return Cat(*[bit if not isinstance(bit, int) else Const(0, 1) for bit in bits])[:width]


def adder_tree(terms):
    """A balanced adder tree."""
    terms = list(terms)
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]
