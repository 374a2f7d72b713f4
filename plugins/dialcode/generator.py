"""Sunbird's DIAL code generator, as a pure function of the global index.

For an index i, `n = (i * 1679979167) % 34**6` is written in base 34 with the
alphabet below (most significant digit first, no padding); the code is kept only
when it has six characters shaped letter-digit-letter-digit-letter-digit. A
rejected candidate still consumes its index, exactly as in Sunbird, so a
deployment that continues Sunbird's counter issues the same codes.

The multiplier is coprime with 34**6, so i -> n is a bijection on [0, 34**6):
two indices below 34**6 never give the same code. Uniqueness across requests
then only needs each index to be handed out once (see `services.allocate_codes`).

About 1 index in 140 yields a code. Scanning them one by one costs ~14 million
steps for 100,000 codes, so the scan skips indices whose three low digits can
never match: the low three base-34 digits of n depend only on i mod 34**3, and
only 2,025 of those 39,304 residues pass, which makes the scan ~19 times shorter.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Iterator

ALPHABET = "123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"
BASE = len(ALPHABET)  # 34
LENGTH = 6
MULTIPLIER = 1679979167
MODULUS = BASE**LENGTH
PATTERN = re.compile(r"^[A-Z][0-9][A-Z][0-9][A-Z][0-9]$")

_DIGITS = 9  # alphabet positions 0..8 are "1".."9"; 9..33 are letters
_LOW = BASE**3
_B2, _B3, _B4, _B5 = BASE**2, BASE**3, BASE**4, BASE**5


def encode(number: int) -> str:
    """`number` in base 34 with Sunbird's alphabet, most significant first, unpadded."""
    if number <= 0:
        return ""
    out: list[str] = []
    while number:
        number, digit = divmod(number, BASE)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def candidate(index: int) -> str:
    """The raw candidate for an index, before the shape check (may be short or misshapen)."""
    return encode((index * MULTIPLIER) % MODULUS)


def code_for(index: int) -> str | None:
    """The DIAL code issued for `index`, or None when Sunbird rejects the candidate."""
    code = candidate(index)
    return code if len(code) == LENGTH and PATTERN.match(code) else None


def _low_ok(n: int) -> bool:
    """The last three characters are digit, letter, digit (read from the right: digit first)."""
    return n % BASE < _DIGITS and (n // BASE) % BASE >= _DIGITS and (n // _B2) % BASE < _DIGITS


def _high_ok(n: int) -> bool:
    """First three characters: letter (which also makes the code six long), digit, letter."""
    return n // _B5 >= _DIGITS and (n // _B4) % BASE < _DIGITS and (n // _B3) % BASE >= _DIGITS


# Residues r of i mod 34**3 for which the low three digits of i*M mod 34**6 pass.
_PASSING_RESIDUES: tuple[int, ...] = tuple(r for r in range(_LOW) if _low_ok((r * MULTIPLIER) % _LOW))


def iter_codes(after: int) -> Iterator[tuple[int, str]]:
    """Every accepted (index, code) with index > `after`, in index order, forever."""
    block, offset = divmod(after, _LOW)
    start = bisect_right(_PASSING_RESIDUES, offset)
    while True:
        base = block * _LOW
        for residue in _PASSING_RESIDUES[start:]:
            index = base + residue
            n = (index * MULTIPLIER) % MODULUS
            if _high_ok(n):
                yield index, encode(n)
        block += 1
        start = 0


def next_codes(after: int, count: int) -> list[tuple[int, str]]:
    """The next `count` accepted (index, code) pairs after index `after`.

    The counter then moves to the last returned index: the rejected candidates
    in between are used up, the ones after it are not.
    """
    if count <= 0:
        return []
    out: list[tuple[int, str]] = []
    for pair in iter_codes(after):
        out.append(pair)
        if len(out) == count:
            break
    return out
