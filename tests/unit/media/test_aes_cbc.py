"""AES-128-CBC with PKCS7 (HLS's METHOD=AES-128) through libcrypto: NIST's vector, padding, round trips."""

from __future__ import annotations

import os

import pytest
from streamops.media.aes_cbc import aes_128_cbc

# NIST SP 800-38A, F.2.1 CBC-AES128.Encrypt, the first block.
KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
PLAIN = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
CIPHER = bytes.fromhex("7649abac8119b246cee98e9b12e9197d")


def test_nist_vector_then_a_block_of_padding():
    out = aes_128_cbc(PLAIN, KEY, IV)
    assert out[:16] == CIPHER and len(out) == 32  # a whole block of PKCS7 padding after a full block


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 188 * 7, 100_001])
def test_round_trip_any_size_padded_to_the_next_block(size: int):
    data, key, iv = os.urandom(size), os.urandom(16), os.urandom(16)
    out = aes_128_cbc(data, key, iv)
    assert len(out) == (size // 16 + 1) * 16
    assert aes_128_cbc(out, key, iv, decrypt=True) == data


def test_another_key_does_not_decrypt():
    out = aes_128_cbc(b"x" * 1000, KEY, IV)
    try:
        wrong = aes_128_cbc(out, os.urandom(16), IV, decrypt=True)
    except ValueError:
        return  # bad padding: the usual outcome
    assert wrong != b"x" * 1000


def test_key_and_iv_must_be_16_bytes():
    with pytest.raises(ValueError, match="16-byte"):
        aes_128_cbc(b"data", b"short", IV)
    with pytest.raises(ValueError, match="16-byte"):
        aes_128_cbc(b"data", KEY, b"short")
