"""Run the benchmark from a source checkout: ``python benchmarks/run.py [--quick] [--json PATH]``.

The same as ``tinygrad-nn bench`` (all options pass through); the harness lives in the
`tinygrad_nn.bench` subpackage, the results and how to read them in docs/performance.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # works without installing

from tinygrad_nn.bench import main

if __name__ == "__main__":
    sys.exit(main())
