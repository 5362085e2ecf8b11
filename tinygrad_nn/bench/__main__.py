"""``python -m tinygrad_nn.bench``: the same as ``tinygrad-nn bench``."""

import sys

from tinygrad_nn.bench.command import main

sys.exit(main())
