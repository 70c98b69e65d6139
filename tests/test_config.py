"""agent.toml: defaults, paths, environment, token sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import BigPandaConfig, load_agent_toml, read_token
from agent.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    """Write agent.toml into tmp_path."""
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    """Only app_key given: every other key takes the default of docs/configuration.md."""
    config = load_agent_toml(write(tmp_path, '[bigpanda]\napp_key = "k"\n'))
    assert config.bigpanda.endpoint == "https://api.bigpanda.io/data/v2/alerts"
    assert config.bigpanda.batch_format == "envelope"
    assert config.bigpanda.max_requests_per_s == 5
    assert (config.batch.max_alerts, config.batch.max_bytes) == (500, 1_000_000)
    assert config.queue.when_full == "block" and config.queue.durability == "normal"
    assert (config.retry.initial_backoff_s, config.retry.max_backoff_s) == (1.0, 300.0)
    assert dict(config.defaults)["host"] == "{hostname}"


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    """state_dir, token_file and rules dir are relative to agent.toml, not the cwd."""
    config = load_agent_toml(write(tmp_path, '[bigpanda]\napp_key = "k"\ntoken_file = "t"\n'
                                             '[queue]\nstate_dir = "s"\n[rules]\ndir = "r"\n'))
    assert config.queue.db_path == tmp_path / "s" / "state.db"
    assert config.bigpanda.token_file == tmp_path / "t"
    assert config.rules_dir == tmp_path / "r"


def test_environment_references_and_defaults(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """${VAR} is replaced, ${VAR:-x} falls back to x, an unset ${VAR} is an error."""
    monkeypatch.setenv("BP_KEY", "from-env")
    monkeypatch.delenv("BP_NOPE", raising=False)
    config = load_agent_toml(write(tmp_path, '[bigpanda]\napp_key = "${BP_KEY}"\n'
                                             '[defaults]\nenvironment = "${BP_NOPE:-prod}"\n'))
    assert config.bigpanda.app_key == "from-env"
    assert dict(config.defaults)["environment"] == "prod"
    with pytest.raises(ConfigError, match="BP_NOPE is not set"):
        load_agent_toml(write(tmp_path, '[bigpanda]\napp_key = "${BP_NOPE}"\n'))


def test_unknown_key_and_plain_http_are_refused(tmp_path: Path) -> None:
    """A typo'd key and plain http to a non-loopback host are configuration errors."""
    with pytest.raises(ConfigError, match="unknown key"):
        load_agent_toml(write(tmp_path, '[bigpanda]\napp_key = "k"\nbatch_fromat = "array"\n'))
    with pytest.raises(ConfigError, match="plain http"):
        load_agent_toml(write(tmp_path, '[bigpanda]\napp_key = "k"\n'
                                        'endpoint = "http://example.com/data/v2/alerts"\n'))


def test_token_sources_in_order(tmp_path: Path) -> None:
    """token_file wins, then $BIGPANDA_TOKEN, then the systemd credential."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "bigpanda-token").write_text("from-cred\n")
    (tmp_path / "t").write_text("from-file\n")
    env = {"BIGPANDA_TOKEN": "from-env", "CREDENTIALS_DIRECTORY": str(creds)}
    assert read_token(BigPandaConfig(app_key="k", token_file=tmp_path / "t"), env) == "from-file"
    assert read_token(BigPandaConfig(app_key="k"), env) == "from-env"
    assert read_token(BigPandaConfig(app_key="k"),
                      {"CREDENTIALS_DIRECTORY": str(creds)}) == "from-cred"
    with pytest.raises(ConfigError, match="no token"):
        read_token(BigPandaConfig(app_key="k"), {})


def test_malformed_token_is_a_config_error_that_hides_it(tmp_path: Path) -> None:
    """A token with a space is refused with exit-78 error text that does not echo it."""
    (tmp_path / "t").write_text("secret part\n")
    with pytest.raises(ConfigError) as info:
        read_token(BigPandaConfig(app_key="k", token_file=tmp_path / "t"), {})
    assert "secret" not in str(info.value)
