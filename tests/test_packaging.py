"""The README's install commands, .ci/run and pyproject agree: CI runs the README's test command
verbatim and before it installs any system package, pip gets the CPU torch pin from
constraints.txt, and the package itself declares a torch range instead of an exact pin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
packaging = pytest.importorskip("packaging.requirements")
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Fresh machine"):text.index("## Layout")]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def _ci_block() -> str:
    text = (ROOT / ".ci" / "run").read_text()
    m = re.search(r"# --- keep identical to the README's second command.*?\n(.*?)\n# -{10,}", text, flags=re.S)
    assert m, ".ci/run lost its README-command block markers"
    return m.group(1).strip()


def _requirements(key: str) -> list:
    from packaging.requirements import Requirement

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] if key == "" else meta["optional-dependencies"][key]
    return [Requirement(r) for r in reqs]


def _torch(key: str = ""):
    return next(r for r in _requirements(key) if r.name == "torch")


def test_ci_runs_the_readme_test_command_verbatim():
    cmds = _readme_commands()
    assert len(cmds) == 2, cmds
    assert _ci_block() == cmds[1].strip()


def test_ci_runs_the_readme_command_before_any_system_package():
    text = (ROOT / ".ci" / "run").read_text()
    first_system = min(text.index(w) for w in ("apt-get", "dpkg") if w in text)
    assert text.index(_ci_block()) < first_system


def test_readme_commands_pass_the_constraints_file():
    for cmd in _readme_commands():
        assert re.search(r"pip install \S+ -c constraints\.txt", cmd), cmd
    pins = [ln.strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    assert any(re.fullmatch(r"torch==\d+\.\d+\.\d+", p) for p in pins), pins


def test_pyproject_declares_a_torch_range_that_holds_the_tested_pin():
    from packaging.version import Version

    pin = next(ln.split("==")[1].strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()
               if ln.startswith("torch=="))
    for key in ("", "export"):
        spec = _torch(key).specifier
        ops = {s.operator for s in spec}
        assert ">=" in ops and "<" in ops, f"torch{spec} ({key or 'core'}): needs a floor and a ceiling"
        assert "==" not in ops, f"torch{spec}: an exact pin replaces the user's torch"
        assert Version(pin) in spec, f"constraints.txt torch=={pin} outside torch{spec}"
    # the core range is at least as wide as what the export extra needs
    assert _torch("").specifier.contains(min(s.version for s in _torch("export").specifier if s.operator == ">="))
