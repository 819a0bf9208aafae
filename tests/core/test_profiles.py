"""Configuration profiles (seed 004): ENV selects config/<ENV>.yaml, whose keys
apply to every kind of job; environment variables win; a bad file or value
stops start-up with a message naming the key, never a traceback."""

import subprocess
import sys

import fakeredis
import pytest

import celeryconfig
from longrun.artifacts import ArtifactStore
from longrun.errors import JobExpired, JobNotFound
from longrun.jobstore import JobStore
from longrun.settings import SettingsError, from_env
from longrun.states import JobStatus
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.processes import subprocess_env
from workers import janitor


def write_profile(tmp_path, name: str, text: str) -> dict:
    (tmp_path / f"{name}.yaml").write_text(text)
    return {"ENV": name, "LONGRUN_CONFIG_DIR": str(tmp_path)}


def test_local_is_the_default_profile_and_develop_is_selected_by_env():
    local = from_env({})
    assert (
        local.worker_concurrency,
        local.default_timeout_seconds,
        local.retention_seconds,
        local.max_finished_jobs,
    ) == (2, 3600, 24 * 3600, 0)
    develop = from_env({"ENV": "develop"})
    assert (
        develop.worker_concurrency,
        develop.default_timeout_seconds,
        develop.retention_seconds,
        develop.max_finished_jobs,
    ) == (4, 1800, 72 * 3600, 1000)


def test_the_keys_map_onto_settings_for_every_kind(tmp_path):
    env = write_profile(
        tmp_path,
        "custom",
        """
inference:
  max_concurrent_tasks: 3
  timeout_seconds: 120
  task_retention_hours: 0.5
  max_tasks_count: 7
""",
    )
    settings = from_env(env)
    assert settings.default_timeout_seconds == 120
    assert settings.retention_seconds == 1800
    assert settings.max_finished_jobs == 7
    assert celeryconfig.from_settings(settings)["worker_concurrency"] == 3
    assert celeryconfig.from_settings(settings)["result_expires"] == 1800


def test_retention_zero_keeps_finished_jobs_forever(tmp_path):
    settings = from_env(write_profile(tmp_path, "forever", "inference:\n  task_retention_hours: 0\n"))
    assert settings.retention_seconds == 0
    assert celeryconfig.from_settings(settings)["result_expires"] is None


def test_environment_variables_override_the_file():
    settings = from_env(
        {
            "ENV": "develop",
            "LONGRUN_DEFAULT_TIMEOUT_SECONDS": "99",
            "LONGRUN_RETENTION_SECONDS": "0",
            "LONGRUN_WORKER_CONCURRENCY": "1",
        }
    )
    assert (settings.default_timeout_seconds, settings.retention_seconds, settings.worker_concurrency) == (99, 0, 1)
    assert settings.max_finished_jobs == 1000  # not overridden: still the file's


@pytest.mark.parametrize(
    "text, named",
    [
        ("inference:\n  timeout_seconds: soon\n", "inference.timeout_seconds"),
        ("inference:\n  timeout_seconds: 0\n", "inference.timeout_seconds"),
        ("inference:\n  timeout_seconds: 999999\n", "inference.timeout_seconds"),  # past the 6 h maximum
        ("inference:\n  task_retention_hours: -1\n", "inference.task_retention_hours"),
        ("inference:\n  max_concurrent_tasks: 0\n", "inference.max_concurrent_tasks"),
        ("inference:\n  max_concurrent_tasks: 2.5\n", "inference.max_concurrent_tasks"),
        ("inference:\n  max_tasks_count: true\n", "inference.max_tasks_count"),
        ("inference:\n  max_concurent_tasks: 2\n", "inference.max_concurent_tasks"),
        ("app_name: [1, 2]\n", "app_name"),
        ("- just\n- a list\n", "must be a mapping"),
        ("inference: {timeout_seconds: 5\n", "not valid YAML"),
    ],
)
def test_a_bad_value_names_its_key(tmp_path, text, named):
    with pytest.raises(SettingsError, match=r"bad\.yaml") as info:
        from_env(write_profile(tmp_path, "bad", text))
    assert named in str(info.value)


def test_an_env_without_a_file_or_with_a_bad_name_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="ENV=prod: no profile file"):
        from_env({"ENV": "prod", "LONGRUN_CONFIG_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="not a profile name"):
        from_env({"ENV": "../etc/passwd"})


def test_longrun_env_wins_over_a_shells_env():
    # POSIX shells read $ENV as a startup file; LONGRUN_ENV lets such a host pick its profile.
    assert from_env({"ENV": "/home/me/.shrc", "LONGRUN_ENV": "develop"}).default_timeout_seconds == 1800


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "gunicorn", "api.wsgi:app", "-b", "127.0.0.1:{port}", "-w", "1"],
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-c", "1", "-P", "solo"],
    ],
    ids=["api", "worker"],
)
def test_a_bad_profile_stops_start_up_with_a_message_not_a_traceback(tmp_path, command):
    env = subprocess_env(**write_profile(tmp_path, "develop", "inference:\n  timeout_seconds: -5\n"))
    command = [part.format(port=free_port()) for part in command]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Longrun cannot start" in output and "inference.timeout_seconds" in output
    assert "Traceback" not in output


def test_max_tasks_count_keeps_the_newest_finished_jobs_per_tenant(tmp_path):
    store = JobStore(fakeredis.FakeRedis(decode_responses=True), from_env({}, max_finished_jobs=2))
    ids = [store.create(tenant="t1", kind="sleep", input={}, timeout_seconds=60)[0] for _ in range(5)]
    other = store.create(tenant="t2", kind="sleep", input={}, timeout_seconds=60)[0]
    for job_id, status in zip(ids, [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED, JobStatus.CANCELLED]):
        store.transition(job_id, status)
    store.transition(other, JobStatus.COMPLETED)
    artifacts = ArtifactStore(tmp_path)
    artifacts.save(ids[0], "out.txt", "x")

    done = janitor.run_once(store, artifacts)

    assert done["trimmed"] == ids[:2]  # the two oldest finished; the pending one is never counted
    assert store.counts("t1") == {
        "scheduled": 0,
        "pending": 1,
        "running": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 1,
    }
    assert store.counts("t2")["completed"] == 1  # another tenant keeps its own
    assert artifacts.names(ids[0]) == []
    with pytest.raises((JobNotFound, JobExpired)):
        store.load(ids[0])
