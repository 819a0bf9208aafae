"""Files that jobs take in (uploads) and give out (results), one folder per job.

The folder (``LONGRUN_ARTIFACTS_DIR``) must be one that every API and worker
host can reach: a shared volume in compose. Names are plain file names; any
name that could leave the job's folder is treated as absent.
"""

import os
import re
import shutil
from pathlib import Path

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ArtifactStore:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def _dir(self, job_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", job_id):
            raise FileNotFoundError(job_id)
        return self.root / job_id

    def path(self, job_id: str, name: str) -> Path:
        """The file's path; FileNotFoundError for any unsafe name."""
        if not SAFE_NAME.match(name or "") or ".." in name:
            raise FileNotFoundError(name)
        return self._dir(job_id) / name

    def internal_path(self, job_id: str, folder: str, name: str) -> Path:
        """A file Longrun keeps for the job itself (e.g. large step outputs): in a
        dot-folder of the job's folder, so it goes with the job but is never listed or served."""
        if not folder.startswith(".") or not SAFE_NAME.match(name) or "/" in folder or ".." in folder:
            raise FileNotFoundError(name)
        return self._dir(job_id) / folder / name

    def link(self, from_job: str, to_job: str, name: str) -> Path:
        """Give ``to_job`` the file ``name`` of ``from_job`` without copying it (a hard
        link: each job may be deleted alone); a copy where links are not possible."""
        source = self.open(from_job, name)
        target = self.path(to_job, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return target

    def save(self, job_id: str, name: str, data: bytes | str) -> Path:
        path = self.path(job_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.part")
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        tmp.replace(path)  # readers never see a half-written file
        return path

    def open(self, job_id: str, name: str) -> Path:
        path = self.path(job_id, name)
        if not path.is_file():
            raise FileNotFoundError(name)
        return path

    def names(self, job_id: str) -> list[str]:
        folder = self._dir(job_id)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file() and SAFE_NAME.match(p.name))

    def delete_job(self, job_id: str) -> None:
        try:
            shutil.rmtree(self._dir(job_id), ignore_errors=True)
        except FileNotFoundError:
            pass
