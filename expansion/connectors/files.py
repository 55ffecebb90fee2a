"""A folder of exports (csv, tsv, json, jsonl, xlsx): the data contract's files, as a source."""

from __future__ import annotations

from pathlib import Path

from ..ingest import read_folder
from .base import Connector, Progress, Pull


class FilesConnector(Connector):
    """Every table file in ``path``; always a full snapshot."""

    kind = "files"
    role = "files"
    options = {"path": "folder of exports: accounts.csv (required), usage.jsonl, ..."}
    required = ("path",)

    def location(self) -> str:
        return str(self.option("path"))

    def pull(self, cursor: str | None, *, progress: Progress | None = None) -> Pull:
        folder = Path(self.option("path")).expanduser()
        return Pull(tables=read_folder(folder, progress=progress, limits=self.limits))
