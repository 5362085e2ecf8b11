"""Print the commands of the first code block under README's '## Quickstart', one per line."""

import sys
from pathlib import Path


def quickstart_commands(readme: str) -> list[str]:
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "## Quickstart")
    fence = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
    return [line.strip() for line in lines[fence + 1 : end] if line.strip()]


if __name__ == "__main__":
    print("\n".join(quickstart_commands(Path(sys.argv[1]).read_text())))
