"""The agent's exception hierarchy, in urllib3's base/leaf style.

Every error carries its context as attributes, not only in its message, so
callers (the CLI, the delivery loop, tests) can act on it without parsing text.
"""

from __future__ import annotations

EX_CONFIG = 78
"""Exit status for configuration errors (sysexits.h EX_CONFIG, as ``vector validate``)."""


class AgentError(Exception):
    """Base class of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """A configuration or rule file is invalid; the CLI exits 78.

    Attributes:
        file: path of the offending file, or ``None`` when not file-bound (e.g. env).
        key: dotted key inside the file (``"rule[2].pattern"``), or ``None``.
        reason: human-readable reason, without file or key.
        line: 1-based line in the file where the parser knows it, else ``None``.
    """

    exit_code = EX_CONFIG

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.key = key
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f": {self.key}"
        return f"{where}: {self.reason}"


class UsageError(AgentError):
    """A command-line argument names something that does not exist; the CLI exits 2."""

    exit_code = 2


class RuleError(AgentError):
    """A rule could not turn a record into an alert (bad field, bad time).

    Attributes:
        rule: the rule's name.
        reason: why.
    """

    def __init__(self, rule: str, reason: str) -> None:
        self.rule = rule
        self.reason = reason
        super().__init__(f"rule {rule!r}: {reason}")


class AlertInvalid(AgentError):
    """An alert violates the BigPanda Alerts API contract and must not be sent.

    Attributes:
        reason: which contract rule failed (bigpanda-alerts-api.md section 1).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class DeliveryError(AgentError):
    """Sending a batch did not succeed.

    Attributes:
        status: HTTP status, or ``None`` for transport failures.
        body: first KiB of the response body (bytes), or ``b""``.
    """

    def __init__(self, message: str, *, status: int | None = None, body: bytes = b"") -> None:
        self.status = status
        self.body = body[:1024]
        super().__init__(message)


class RetryableDeliveryError(DeliveryError):
    """A transient failure: connection error, timeout, 408, 429, 5xx.

    Attributes:
        retry_after_s: the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: bytes = b"",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after_s = retry_after_s


class PermanentDeliveryError(DeliveryError):
    """The payload was rejected (400, 413, 422): resending the same bytes will fail again."""


class PausingDeliveryError(DeliveryError):
    """Credentials or endpoint are wrong (401, 403, 404, 405, 501): pause, keep everything."""


class StateError(AgentError):
    """The state database cannot be opened, is corrupt, or cannot be written.

    Attributes:
        path: the state database path.
    """

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")
