"""mkdocs hooks: the API reference pages read `openapi/api.yaml` itself, put into the site as
`api.yaml` at build time, and the changelog page is the repository's `CHANGELOG.md`; neither
is ever copied into docs/ by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
# what the site serves, and where it comes from
GENERATED = {"api.yaml": ROOT / "openapi" / "api.yaml", "changelog.md": ROOT / "CHANGELOG.md"}


def on_files(files: Files, config: Any, **_: Any) -> Files:
    for name, source in GENERATED.items():
        files.append(File.generated(config, name, abs_src_path=str(source)))
    return files
