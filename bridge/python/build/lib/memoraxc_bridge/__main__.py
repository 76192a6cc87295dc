"""`python -m memoraxc_bridge ENV_ID`."""

import sys

from .adapter import main

sys.exit(main())
