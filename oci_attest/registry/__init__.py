"""OCI distribution: a registry client and the layouts attestations are stored in."""
