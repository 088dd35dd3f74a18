"""The service's process settings from the environment (``uvicorn --factory
serving.main:create_app`` in a container): the same ``LAKEHOUSE_*`` variables, parsed by the
same rules, as the command line's."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.settings import ServiceSettings


def test_the_environment_chooses_the_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEHOUSE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("LAKEHOUSE_SET", '["serve.port=8123", "serve.registry_poll_s=7"]')
    monkeypatch.setenv("LAKEHOUSE_LOG_FORMAT", "json")
    service = ServiceSettings()
    assert service.overrides == ["serve.port=8123", "serve.registry_poll_s=7"]
    settings = service.lakehouse()
    assert (settings.serve.port, settings.serve.registry_poll_s) == (8123, 7)
    assert settings.lake_root.endswith("/lake") and service.log_format == "json"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("serve.port=8123", "not a JSON list of key=value strings"),
        ('{"serve.port": 8123}', "must be a JSON list of strings"),
    ],
)
def test_a_malformed_lakehouse_set_is_refused_with_the_cli_s_message(monkeypatch, value, message):
    monkeypatch.setenv("LAKEHOUSE_SET", value)
    with pytest.raises(ValidationError, match=message):
        ServiceSettings()


def test_an_empty_lakehouse_set_sets_nothing(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_SET", "")
    assert ServiceSettings().overrides == []
