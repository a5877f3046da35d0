"""Reading TFRecord files without TensorFlow.

A record is ``uint64 length | uint32 masked_crc32c(length) | payload | uint32 masked_crc32c(payload)``
(little endian). The length's checksum is always verified; the payload's too when the
``google-crc32c`` package is installed (part of the ``readers`` extra), since a pure-Python CRC
of megabyte payloads would dominate the import time.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator

from redrive.errors import LogFormatError

_MASK_DELTA = 0xA282EAD8
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _make_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def _crc32c_python(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # the C implementation checks a 2 MB payload in about a millisecond
    import google_crc32c

    def _crc32c_fast(data: bytes) -> int | None:
        return google_crc32c.value(data)
except ImportError:  # pragma: no cover - depends on the installation
    def _crc32c_fast(data: bytes) -> int | None:
        return None


def masked_crc(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def iter_records(path: Path, verify: bool = True) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(index, byte offset, payload)`` for each record of the TFRecord file ``path``."""
    path = Path(path)
    if not path.is_file():
        raise LogFormatError(path, "", None, "file does not exist")
    with open(path, "rb") as f:
        index = 0
        while True:
            offset = f.tell()
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise LogFormatError(path, f"record {index} (byte {offset})", len(header), "truncated record header")
            length, length_crc = struct.unpack("<QI", header)
            if verify and masked_crc(_crc32c_python(header[:8])) != length_crc:
                raise LogFormatError(path, f"record {index} (byte {offset})", length,
                                     "length checksum mismatch: not a TFRecord file, or corrupt")
            payload = f.read(length)
            footer = f.read(4)
            if len(payload) < length or len(footer) < 4:
                raise LogFormatError(path, f"record {index} (byte {offset})", length,
                                     f"truncated record: {len(payload)} of {length} payload bytes present")
            if verify:
                crc = _crc32c_fast(payload)
                if crc is not None and masked_crc(crc) != struct.unpack("<I", footer)[0]:
                    raise LogFormatError(path, f"record {index} (byte {offset})", length,
                                         "payload checksum mismatch: the record is corrupt")
            yield index, offset, payload
            index += 1


def write_records(path: Path, payloads: list[bytes]) -> None:
    """Write payloads as a TFRecord file (used to build test inputs and by exporters)."""
    import os

    tmp = Path(path).with_name(f".{Path(path).name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        for payload in payloads:
            header = struct.pack("<Q", len(payload))
            f.write(header + struct.pack("<I", masked_crc(_crc32c_python(header))))
            crc = _crc32c_fast(payload)
            f.write(payload + struct.pack("<I", masked_crc(crc if crc is not None else _crc32c_python(payload))))
    os.replace(tmp, path)
