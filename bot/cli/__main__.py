"""`python -m bot.cli ...`: the same as the `tokenbot` console script."""

import sys

from bot.cli import main

sys.exit(main())
