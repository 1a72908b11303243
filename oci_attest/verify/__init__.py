"""Verification: judge the evidence attached to an image digest before the image moves.

One module per step, data flowing one way::

    trust.py       which Sigstore instance to trust (trusted root, trust config, offline)
    bundles.py     verify one bundle or cosign .att layer -> VerifiedEvidence (who signed what),
                   in five steps: bundle_parse.py, signature.py, tlog.py, timestamps.py,
                   certificate.py (shared types in evidence.py)
    identity.py    the signer of a certificate or key, as policies match it
    statements.py  read verified payloads: in-toto statements, provenance facts, SBOM components
    policy.py      the policy model (YAML file + flags), strictly validated; loading in
                   policy_file.py, identities in identity_rules.py, values in policy_values.py
    checks.py      one function per policy rule, each a CheckResult with its reason
    judge.py       examine every attestation, then run the checks -> Verdict
    image.py       resolve, discover (all layouts), judge; and --bundle files
    report.py      text and JSON rendering

``attest verify`` and ``attest promote`` (oci_attest/promote.py) are thin layers over ``image.py``.
"""
