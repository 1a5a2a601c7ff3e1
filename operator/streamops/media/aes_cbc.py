"""AES-128-CBC with PKCS7 padding, whole buffers: HLS's METHOD=AES-128 (RFC 8216bis §4.4.4.4). The
ingest encrypts segments and parts with it as it serves them (media/ingest/encrypted_hls.py); the
clipper decrypts what it reads (media/clipper). libcrypto through ctypes: the same OpenSSL the
interpreter's ssl and hashlib link, no new dependency, AES-NI where the CPU has it, and the GIL
released during each call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

KEY_BYTES = 16


@cache
def _libcrypto() -> ctypes.CDLL:
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if name:
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
    else:
        raise OSError("libcrypto (OpenSSL) not found: needed to encrypt HLS")
    lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
    lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
    lib.EVP_aes_128_cbc.restype = ctypes.c_void_p
    lib.EVP_CipherInit_ex.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    lib.EVP_CipherUpdate.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    lib.EVP_CipherFinal_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    return lib


def aes_128_cbc(data: bytes, key: bytes, iv: bytes, *, decrypt: bool = False) -> bytes:
    """`data` encrypted (or decrypted) whole: AES-128, CBC, PKCS7 padding, as HLS's METHOD=AES-128."""
    if len(key) != KEY_BYTES or len(iv) != KEY_BYTES:
        raise ValueError("AES-128 needs a 16-byte key and IV")
    lib = _libcrypto()
    ctx = lib.EVP_CIPHER_CTX_new()
    if not ctx:
        raise MemoryError("EVP_CIPHER_CTX_new")
    try:
        if lib.EVP_CipherInit_ex(ctx, lib.EVP_aes_128_cbc(), None, key, iv, 0 if decrypt else 1) != 1:
            raise ValueError("EVP_CipherInit_ex failed")
        out = ctypes.create_string_buffer(len(data) + KEY_BYTES)
        written, final = ctypes.c_int(0), ctypes.c_int(0)
        if lib.EVP_CipherUpdate(ctx, out, ctypes.byref(written), data, len(data)) != 1:
            raise ValueError("EVP_CipherUpdate failed")
        tail = ctypes.byref(out, written.value)
        if lib.EVP_CipherFinal_ex(ctx, tail, ctypes.byref(final)) != 1:
            raise ValueError("bad padding: not this key's ciphertext" if decrypt else "EVP_CipherFinal_ex failed")
        return out.raw[: written.value + final.value]
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)
