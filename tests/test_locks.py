"""The locks that release builds install from agree with the dependencies in pyproject.toml."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pinned_versions(lock: Path) -> dict[str, str]:
    """Return {normalized name: version} for each `name==version` line of a lock."""
    pins = {}
    for match in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", lock.read_text(), re.MULTILINE):
        pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("requirements/runtime.txt", []), ("requirements/release.txt", ["build"])],
)
def test_lock_satisfies_pyproject(lock, extras):
    pins = pinned_versions(ROOT / lock)
    required = [*PROJECT["dependencies"]]
    for extra in extras:
        required += PROJECT["optional-dependencies"][extra]

    for text in required:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{lock} has no pin for {requirement.name}: refresh it"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {requirement}: refresh it"
        )


@pytest.mark.parametrize("lock", ["requirements/runtime.txt", "requirements/release.txt"])
def test_every_pin_has_a_hash(lock):
    lines = (ROOT / lock).read_text().splitlines()

    for number, line in enumerate(lines):
        if re.match(r"^[A-Za-z0-9_.-]+==", line):
            assert lines[number + 1].strip().startswith("--hash=sha256:"), line
