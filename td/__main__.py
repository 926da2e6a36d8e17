"""Run td as `python -m td`."""

import sys

from td.cli import main

sys.exit(main())
