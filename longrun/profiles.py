"""Configuration profiles (seed 004): ``ENV=local`` (default) or ``ENV=develop``
selects ``config/<ENV>.yaml`` (``LONGRUN_ENV``, when set, wins over ``ENV``);
its keys become Settings values.

The file's settings mean the same for every kind of job, not only inference:

| key | Settings field | meaning |
|---|---|---|
| ``inference.max_concurrent_tasks`` | ``worker_concurrency`` | jobs one worker process runs at once |
| ``inference.timeout_seconds`` | ``default_timeout_seconds`` | a job's time limit when it names none |
| ``inference.task_retention_hours`` | ``retention_seconds`` | how long finished jobs are kept; 0 keeps them |
| ``inference.max_tasks_count`` | ``max_finished_jobs`` | finished jobs kept per tenant; oldest go first; 0 no limit |

``app_name`` is accepted (shown nowhere else). Environment variables
(``LONGRUN_<FIELD>``) override the file. A missing, unreadable or invalid
file, an unknown key or a bad value raises SettingsError naming the file and
the key: start-up stops with that message.
"""

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from longrun.errors import SettingsError

DEFAULT_PROFILE = "local"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class ProfileKey:
    field: str
    minimum: int
    to_setting: Callable[[float], int] = int


KEYS = {
    "inference.max_concurrent_tasks": ProfileKey("worker_concurrency", 1),
    "inference.timeout_seconds": ProfileKey("default_timeout_seconds", 1),
    "inference.task_retention_hours": ProfileKey("retention_seconds", 0, lambda hours: int(hours * 3600)),
    "inference.max_tasks_count": ProfileKey("max_finished_jobs", 0),
}
TEXT_KEYS = {"app_name"}


def config_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("LONGRUN_CONFIG_DIR") or CONFIG_DIR)


def profile_name(environ: Mapping[str, str]) -> tuple[str, str]:
    """(variable, profile name): ``LONGRUN_ENV`` wins over the seed's ``ENV``
    (which some shells also use, for a startup file)."""
    for variable in ("LONGRUN_ENV", "ENV"):
        if (environ.get(variable) or "").strip():
            return variable, environ[variable].strip()
    return "ENV", ""


def profile_path(environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The profile file, and whether the environment named it (else the default, which may be absent)."""
    variable, name = profile_name(environ)
    if name and not PROFILE_NAME.match(name):
        raise SettingsError(f"{variable}={name!r} is not a profile name (e.g. local, develop)")
    return config_dir(environ) / f"{name or DEFAULT_PROFILE}.yaml", bool(name)


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def load(environ: Mapping[str, str] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """(Settings overrides from the profile, {field: profile key}) for error messages."""
    environ = os.environ if environ is None else environ
    path, named = profile_path(environ)
    if not path.is_file():
        if named:
            variable, name = profile_name(environ)
            raise SettingsError(f"{variable}={name}: no profile file {path}")
        return {}, {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where else ""
        raise SettingsError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: must be a mapping of settings, not {type(data).__name__}")
    values, sources = {}, {}
    for key, value in flatten(data).items():
        if key in TEXT_KEYS:
            if not isinstance(value, str):
                raise SettingsError(f"{path}: {key} must be text")
            continue
        spec = KEYS.get(key)
        if spec is None:
            raise SettingsError(
                f"{path}: unknown setting {key!r}; known: {', '.join(sorted(KEYS | dict.fromkeys(TEXT_KEYS)))}"
            )
        # bool is an int in Python; "true" for a count is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise SettingsError(f"{path}: {key} must be a number, not {value!r}")
        if value < spec.minimum:
            raise SettingsError(f"{path}: {key} must be at least {spec.minimum}, not {value!r}")
        if spec.to_setting is int and value != int(value):
            raise SettingsError(f"{path}: {key} must be a whole number, not {value!r}")
        values[spec.field] = spec.to_setting(value)
        sources[spec.field] = f"{path.name}: {key}"
    return values, sources
