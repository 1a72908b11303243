"""``python -m attest`` runs the same CLI as the ``attest`` console script."""

from attest.cli import main

if __name__ == "__main__":
    main()
