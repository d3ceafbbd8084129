"""The README's Python API example runs as written."""
from __future__ import annotations

import re

from conftest import REPO


def python_api_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python API section has no ```python example"
    return blocks[0]


def test_readme_python_api_example_runs(capsys):
    code = python_api_example()
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md (Python API)", "exec"), namespace)
    faces = namespace["faces"]
    assert isinstance(faces, list) and faces and set(faces[0]) == {"box", "gender", "probability"}
    assert "'gender'" in capsys.readouterr().out
