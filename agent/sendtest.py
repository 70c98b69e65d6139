"""The ``send-test`` command: one test alert to the configured endpoint (the seed's "Run Test")."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from agent.bigpanda import build_body, encode_alert, validate_alert
from agent.config import hostname, load_agent_toml, read_token
from agent.errors import RetryableDeliveryError
from agent.transport import Urllib3Client


def send_test(config_path: str, *, status: str, out: TextIO) -> int:
    """Send one alert and print the HTTP status, response body and duration.

    The alert identifies itself (``check = "bigpanda-agent send-test"``) so it is
    easy to find and resolve in BigPanda. Rule files are not needed.

    Returns:
        0 on a 2xx answer, 1 otherwise.

    Raises:
        ConfigError: agent.toml or the token is missing or invalid.
    """
    config = load_agent_toml(Path(config_path))
    token = read_token(config.bigpanda)
    alert: dict[str, object] = {}
    for key, template in config.defaults:
        value = template.replace("{hostname}", hostname())
        if "{" not in value:  # templates of record fields mean nothing here
            alert[key] = int(value) if value.isdigit() else value
    alert.update({
        "status": status,
        "check": "bigpanda-agent send-test",
        "timestamp": int(time.time()),
        "description": "Test alert sent by bigpanda-agent send-test",
    })
    alert.setdefault("host", hostname())
    alert = validate_alert(alert)
    body = build_body([encode_alert(alert)], app_key=config.bigpanda.app_key,
                      batch_format=config.bigpanda.batch_format)
    client = Urllib3Client.from_config(config.bigpanda, token)
    try:
        result = client.send(body)
    except RetryableDeliveryError as exc:
        out.write(f"POST {config.bigpanda.endpoint}: failed: {exc}\n")
        return 1
    finally:
        client.close()
    text = result.body.decode("utf-8", "replace")
    out.write(f"POST {config.bigpanda.endpoint}: HTTP {result.status} in "
              f"{result.duration_s * 1000:.0f} ms\n")
    if text:
        out.write(f"response: {text}\n")
    return 0 if 200 <= result.status < 300 else 1
