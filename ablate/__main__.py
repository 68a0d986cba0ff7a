"""`python -m ablate ...` is the same as `ablate ...`."""

import sys

from ablate.cli import main

sys.exit(main())
