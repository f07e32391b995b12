"""`python -m uvshare`: the same program as the `uvshare` command."""

import sys

from uvshare.shim import main

sys.exit(main())
