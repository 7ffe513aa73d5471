"""python/README.md's example runs as written (the first python block)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    exec(compile(blocks[0], str(README), "exec"), {"__name__": "readme"})
