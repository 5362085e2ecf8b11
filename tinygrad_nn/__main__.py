"""`python -m tinygrad_nn` runs the command line."""

import sys

from tinygrad_nn.cli import main

sys.exit(main())
