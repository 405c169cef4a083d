"""``python -m ganstudio``: the command line interface."""

import sys

from ganstudio.cli import main

sys.exit(main())
