"""A certificate-transparency log that only does what Fulcio needs: sign precertificate SCTs.

Verifiers recompute the RFC 6962 ``digitally-signed`` struct from the final certificate (its
TBS minus the SCT extension) and the issuing CA's key hash, so the SCT must be built over
exactly those bytes; ``embed`` returns the extension value to add last.
"""

from __future__ import annotations

import struct
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from devstack.sigstore import der
from devstack.sigstore.pki import key_id, new_key

PRECERT_ENTRY = 1
SHA256_ECDSA = (4, 3)  # TLS HashAlgorithm.sha256, SignatureAlgorithm.ecdsa


def _u24(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def _u16(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


class CTLog:
    def __init__(self) -> None:
        self.key = new_key()
        self.log_id = key_id(self.key.public_key())

    def sct_extension_value(self, tbs_precert: bytes, issuer: ec.EllipticCurvePublicKey) -> bytes:
        """DER extnValue of the SCT-list extension holding one precert SCT for ``tbs_precert``."""
        timestamp = int(time.time() * 1000)
        signed = (struct.pack("!BBQH", 0, 0, timestamp, PRECERT_ENTRY) + key_id(issuer)
                  + _u24(tbs_precert) + _u16(b""))
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (bytes([0]) + self.log_id + struct.pack("!Q", timestamp) + _u16(b"")
               + bytes(SHA256_ECDSA) + _u16(signature))
        sct_list = _u16(_u16(sct))
        return der.octets(sct_list)

