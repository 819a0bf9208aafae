"""Where the repository is (subprocesses run there, with it on PYTHONPATH)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
