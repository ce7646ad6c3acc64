"""constraints.txt pins what `make test` installs: every requirement, within pyproject's ranges.

A fresh clone installs whatever the package index offers unless something pins it; a new
release of the MQTT client (whose internals the bridge uses), of ruff or of mypy could then
fail a clean CI run, or a deployment, with nothing in the project changed.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def pins(text: str) -> dict[str, Version]:
    """``name==version`` lines of a constraints file, by canonical name."""
    out: dict[str, Version] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise ValueError(f"not an exact pin: {raw!r}")
        key = canonicalize_name(name.strip())
        if key in out:
            raise ValueError(f"pinned twice: {name.strip()}")
        out[key] = Version(version.strip())
    return out


def declared() -> list[Requirement]:
    """The project's own requirements: runtime, the ``test`` extra and the build backend."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    texts = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["test"],
        *project["build-system"]["requires"],
    ]
    return [Requirement(text) for text in texts]


def closure(roots: list[Requirement]) -> set[str]:
    """Every distribution that ``roots`` need here, following installed metadata.

    A requirement's marker speaks of the extras of the one who requires it, so it is
    evaluated when that one is expanded (``pwdlib[argon2]`` brings ``argon2-cffi``)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [requirement for requirement in roots if _applies(requirement, frozenset())]
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = _distribution(requirement.name)
        if dist is None:
            continue  # the build backend lives in pip's build environment, not here
        wanted = frozenset(requirement.extras)
        todo.extend(
            child
            for child in (Requirement(text) for text in dist.requires or [])
            if _applies(child, wanted)
        )
    return {name for name, _ in seen}


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether ``requirement`` holds here for a requirer asking for ``extras``."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


PINS = pins((ROOT / "constraints.txt").read_text())


def test_pins_parse_strictly() -> None:
    assert pins("a==1.0\n# comment\nB_c==2 # why\n") == {"a": Version("1.0"), "b-c": Version("2")}
    for bad in ("a>=1\n", "a\n", "a==1\nA==2\n"):
        with pytest.raises(ValueError, match="pin"):
            pins(bad)


def test_closure_follows_the_extras_a_requirer_asks_for() -> None:
    # amqtt asks for pwdlib[argon2]; argon2-cffi comes only with that extra.
    assert {"argon2-cffi", "cffi"} <= closure([Requirement("pwdlib[argon2]")])
    assert "argon2-cffi" not in closure([Requirement("pwdlib")])


@pytest.mark.parametrize("requirement", declared(), ids=str)
def test_each_declared_requirement_is_pinned_within_its_range(requirement: Requirement) -> None:
    pinned = PINS.get(canonicalize_name(requirement.name))
    assert pinned is not None, f"{requirement.name} is not in constraints.txt"
    assert requirement.specifier.contains(pinned, prereleases=True), (
        f"constraints.txt pins {requirement.name}=={pinned}, outside pyproject's {requirement}"
    )


def test_everything_the_project_needs_is_pinned_and_installed_as_pinned() -> None:
    needed = closure(declared()) | {"pip"}
    missing = sorted(needed - PINS.keys())
    assert not missing, f"needed here but not pinned in constraints.txt: {missing}"
    installed = {name: dist.version for name in needed if (dist := _distribution(name))}
    differ = {
        name: (str(PINS[name]), version)
        for name, version in sorted(installed.items())
        if Version(version) != PINS[name]
    }
    assert not differ, (
        f"installed versions differ from constraints.txt (pinned, installed): {differ}; "
        "`make clean test` installs the pins"
    )


def _distribution(name: str) -> metadata.Distribution | None:
    """The installed distribution ``name``, or ``None``."""
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
