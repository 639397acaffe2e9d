"""The README's Python examples, found by their first lines and run exactly as written."""
import contextlib
import io
import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def readme_block(first_lines):
    """The code of the README's ```python block that starts with ``first_lines``."""
    block = re.search(r"```python\n(%s.*?)```" % re.escape(first_lines), open(README).read(),
                      re.S)
    assert block, "the README example starting %r is missing" % first_lines
    return block.group(1)


def run_block(first_lines):
    """(code, what it printed) of that block, run in a fresh namespace."""
    code = readme_block(first_lines)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    return code, out.getvalue()
