"""Entry script for the single-file binary: PyInstaller freezes this file, which only calls td."""

import sys

from td.cli import main

if __name__ == "__main__":
    sys.exit(main())
