"""Settings come from the environment; bad values name the variable."""

import pytest

from longrun.settings import SettingsError, from_env


def test_defaults_point_everything_at_one_redis():
    settings = from_env({})

    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.broker_url == settings.result_backend_url == settings.redis_url
    assert settings.visibility_timeout_seconds > settings.max_timeout_seconds


def test_separate_urls_and_numbers_are_read():
    settings = from_env(
        {
            "REDIS_URL": "redis://a/1",
            "CELERY_BROKER_URL": "redis://b/2",
            "LONGRUN_RETENTION_SECONDS": "60",
            "LONGRUN_HEARTBEAT_SECONDS": "0.5",
        }
    )

    assert (settings.broker_url, settings.result_backend_url) == ("redis://b/2", "redis://a/1")
    assert settings.retention_seconds == 60
    assert settings.heartbeat_seconds == 0.5


@pytest.mark.parametrize(
    "env, name",
    [
        ({"LONGRUN_RETENTION_SECONDS": "a day"}, "LONGRUN_RETENTION_SECONDS"),
        ({"LONGRUN_MAX_ATTEMPTS": "0"}, "max_attempts"),
        ({"LONGRUN_DEFAULT_TIMEOUT_SECONDS": "100", "LONGRUN_MAX_TIMEOUT_SECONDS": "10"}, "default_timeout_seconds"),
    ],
)
def test_bad_value_raises_naming_it(env, name):
    with pytest.raises(SettingsError, match=name):
        from_env(env)
