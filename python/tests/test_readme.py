"""README's Python example runs as written (shortened: fewer iterations,
no window)."""

import os
import re

import pytest

from conftest import ROOT


def test_the_readme_example_trains_samples_and_plots(monkeypatch, capsys):
    if not os.environ.get("CI"):
        pytest.importorskip("matplotlib")
        pytest.importorskip("sklearn")
    import matplotlib

    matplotlib.use("Agg")
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "iters=1000" in code and "plt.show()" in code
    code = code.replace("iters=1000", "iters=20")
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert shown and shown[0].axes, "no plot"
    assert scope["h"].shape == (600, 128)
    assert len(scope["history"]) >= 1
    printed = capsys.readouterr().out
    assert len(printed.strip()) >= 250
