"""Read a certificate's notAfter from DER with the standard library only.

``SSLSocket.getpeercert()`` returns ``{}`` when verification is off, and the only stdlib
decoder (``ssl._ssl._test_decode_cert``) is private, while ``cryptography`` is not a
runtime dependency. The validity field sits at a fixed place in every X.509 certificate,
so a few lines of DER walking get it in both verification modes.
"""

from __future__ import annotations

import calendar


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    end = pos + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, pos, end


def cert_not_after(der: bytes) -> float | None:
    """Epoch seconds of the certificate's notAfter, or None if it cannot be read."""
    try:
        _, cert, _ = _tlv(der, 0)  # Certificate ::= SEQUENCE
        _, pos, _ = _tlv(der, cert)  # tbsCertificate ::= SEQUENCE
        tag, _, end = _tlv(der, pos)
        if tag == 0xA0:  # [0] EXPLICIT version
            pos = end
        for _field in ("serialNumber", "signature", "issuer"):
            pos = _tlv(der, pos)[2]
        tag, validity, _ = _tlv(der, pos)
        if tag != 0x30:
            return None
        after = _tlv(der, validity)[2]  # skip notBefore
        tag, start, end = _tlv(der, after)
        text = der[start:end].decode("ascii").rstrip("Z")
        if tag == 0x17:  # UTCTime YYMMDDHHMM[SS]Z
            year = int(text[:2])
            text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
        elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMM[SS]Z
            return None
        seconds = int(text[12:14]) if len(text) >= 14 else 0
        return float(
            calendar.timegm(
                (
                    int(text[:4]),
                    int(text[4:6]),
                    int(text[6:8]),
                    int(text[8:10]),
                    int(text[10:12]),
                    seconds,
                )
            )
        )
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
