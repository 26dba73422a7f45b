"""The test kits every package's tests share (one submodule per kit), and the pytest plugin (``plugin``) that marks
the end-to-end tests."""

from __future__ import annotations

from pathlib import Path


def repo_root() -> Path:
    """The repository's root: the nearest directory above this package (installed editable) that holds
    ``meltano.yml``, else above the working directory."""
    here, cwd = Path(__file__).resolve(), Path.cwd().resolve()
    for folder in (*here.parents, cwd, *cwd.parents):
        if (folder / "meltano.yml").is_file():
            return folder
    raise RuntimeError(f"no meltano.yml above {Path(__file__).resolve()} or the working directory")


ROOT = repo_root()
