"""``python -m midivae.cli``."""

import sys

from midivae.cli import main

sys.exit(main())
