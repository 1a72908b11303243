"""Just enough DER to write the RFC 3161 / CMS structures and raw X.509 extension values.

cryptography builds certificates but not CMS SignedData with a TSTInfo payload, and the
structures are small and fixed, so writing them directly keeps the TSA readable.
"""

from __future__ import annotations

from datetime import datetime


def length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, *parts: bytes) -> bytes:
    content = b"".join(parts)
    return bytes([tag]) + length(len(content)) + content


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, *parts)


def set_of(*parts: bytes) -> bytes:
    return tlv(0x31, *sorted(parts))  # DER orders SET OF members by their encodings


def explicit(number: int, *parts: bytes) -> bytes:
    return tlv(0xA0 | number, *parts)


def integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True))


def octets(value: bytes) -> bytes:
    return tlv(0x04, value)


def utf8(value: str) -> bytes:
    return tlv(0x0C, value.encode())


def generalized_time(value: datetime) -> bytes:
    return tlv(0x18, value.strftime("%Y%m%d%H%M%SZ").encode())


def oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))
