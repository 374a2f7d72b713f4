"""The generator is Sunbird's, value for value; it never repeats a code."""

from __future__ import annotations

import math

from plugins.dialcode import generator


def test_known_values():
    assert generator.code_for(7609876) == "N4Z7D5"
    assert generator.code_for(7610113) == "E8B7Z6"
    assert generator.code_for(7611164) == "D2E1J9"


def test_first_accepted_from_index_one_and_rejected_candidates_use_their_index():
    assert generator.next_codes(0, 3) == [(233, "E7Q6X6"), (237, "R4C1M2"), (238, "U3H8T1")]
    assert all(generator.code_for(i) is None for i in range(1, 233))
    assert [generator.code_for(i) for i in (234, 235, 236)] == [None, None, None]
    # Continuing after an index starts right after it.
    assert generator.next_codes(233, 2) == [(237, "R4C1M2"), (238, "U3H8T1")]
    assert generator.next_codes(232, 1) == [(233, "E7Q6X6")]


def test_encoding_is_base34_with_the_alphabet_unpadded():
    assert generator.ALPHABET == "123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"
    assert generator.encode(0) == "" and generator.encode(1) == "2" and generator.encode(33) == "Z"
    assert generator.encode(34) == "21" and generator.encode(34**6 - 1) == "ZZZZZZ"
    # A candidate below 34**5 is short and is rejected even if its shape would fit.
    assert len(generator.candidate(1)) <= 6


def test_fast_scan_matches_the_plain_definition():
    plain = [(i, generator.code_for(i)) for i in range(1, 80_000) if generator.code_for(i)]
    assert generator.next_codes(0, len(plain)) == plain
    # Also across a block boundary far from zero.
    start = 7_609_000
    plain = [(i, generator.code_for(i)) for i in range(start + 1, start + 20_000) if generator.code_for(i)]
    assert generator.next_codes(start, len(plain)) == plain
    assert (7609876, "N4Z7D5") in plain


def test_no_repeats_over_100000_codes():
    pairs = generator.next_codes(0, 100_000)
    codes = [code for _, code in pairs]
    assert len(codes) == 100_000 and len(set(codes)) == 100_000
    assert all(generator.PATTERN.match(code) for code in codes)
    indices = [index for index, _ in pairs]
    assert indices == sorted(set(indices))
    # Why it holds for every index: the multiplier is invertible modulo 34**6.
    assert math.gcd(generator.MULTIPLIER, generator.MODULUS) == 1
