"""``python -m oci_attest`` runs the same CLI as the ``attest`` console script."""

from oci_attest.cli import main

if __name__ == "__main__":
    main()
