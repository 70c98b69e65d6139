"""The ``status`` and ``dead-letter`` commands: read state.db while the daemon runs.

Both open their own SQLite connection; WAL lets them read (and, for
``dead-letter replay|purge``, write in short transactions) beside the daemon.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, TextIO

import orjson

from agent.bigpanda import build_body
from agent.config import AgentConfig, load_agent_toml
from agent.errors import StateError
from agent.state import StateStore
from agent.tail.identity import key_names


def _open(config: AgentConfig) -> StateStore:
    path = config.queue.db_path
    if not path.exists():
        raise StateError("no state database yet (has the agent run?)", path=str(path))
    return StateStore(path, durability=config.queue.durability)


def _when(ts: str | float | None) -> str:
    if ts in (None, ""):
        return "never"
    moment = dt.datetime.fromtimestamp(float(ts), tz=dt.UTC)
    return moment.isoformat(timespec="seconds")


def _current_size(path: str, key: str) -> tuple[int | None, str]:
    """Size of the file behind a checkpoint, if ``path`` still names that same file.

    The checkpoint key ends with ``<dev>:<ino>``; when the path now holds another
    file (rotated) or nothing (deleted), the lag against it would be meaningless.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None, "gone"
    if key_names(key, st):
        return st.st_size, "current"
    return None, "rotated"


def collect_status(config: AgentConfig) -> dict[str, Any]:
    """Everything ``status`` shows, as a plain dict.

    Raises:
        StateError: the state database is missing or unreadable.
    """
    store = _open(config)
    try:
        files = []
        for cp in sorted(store.checkpoints().values(), key=lambda c: c.path):
            size, state = _current_size(cp.path, cp.file_id)
            lag = None if size is None else max(0, size - cp.offset)
            files.append({"path": cp.path, "key": cp.file_id, "offset": cp.offset,
                          "size": size, "lag_bytes": lag, "state": state})
        stats = store.stats()
        meta = store.meta()
    finally:
        store.close()
    return {
        "state": str(config.queue.db_path),
        "files": files,
        "queue": {"batches": stats.batches, "alerts": stats.alerts, "bytes": stats.bytes,
                  "oldest_age_s": stats.oldest_age_s},
        "dead_letters": stats.dead_letters,
        "reading": meta.get("reading_state", "reading"),
        "dropped_alerts": int(meta.get("dropped_alerts", "0")),
        "delivery_state": meta.get("delivery_state", "healthy"),
        "last_delivery": {"status": meta.get("last_delivery_status"),
                          "at": meta.get("last_delivery_at"),
                          "error": meta.get("last_delivery_error")},
    }


def show_status(config_path: str, *, as_json: bool, out: TextIO) -> int:
    """Print per-file offsets and lag, queue depth, dead letters, last delivery.

    Returns:
        0.
    """
    status = collect_status(load_agent_toml(Path(config_path)))
    if as_json:
        out.write(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    out.write(f"state: {status['state']}\n\nfiles:\n")
    for f in status["files"]:
        size = f["state"] if f["size"] is None else f"{f['size']}"
        lag = "-" if f["lag_bytes"] is None else f"{f['lag_bytes']}"
        out.write(f"  {f['path']}  offset={f['offset']} size={size} lag_bytes={lag}\n")
    q = status["queue"]
    age = "-" if q["oldest_age_s"] is None else f"{q['oldest_age_s']:.1f}s"
    out.write(f"\nqueue: {q['batches']} batches, {q['alerts']} alerts, {q['bytes']} bytes, "
              f"oldest {age}\n")
    out.write(f"reading: {status['reading']}; dropped when full: {status['dropped_alerts']} "
              f"alerts\n")
    out.write(f"dead letters: {status['dead_letters']}\n")
    out.write(f"delivery: {status['delivery_state']}\n")
    last = status["last_delivery"]
    out.write(f"last delivery: status={last['status'] or '-'} at {_when(last['at'])}")
    out.write(f" error={last['error']}\n" if last["error"] else "\n")
    return 0


def dead_letter_command(config_path: str, action: str, *, ids: list[int], out: TextIO) -> int:
    """``list`` dead letters, ``replay`` them into the queue, or ``purge`` them.

    Replayed single alerts are wrapped into a request body with the current
    app key and batch format.

    Returns:
        0.
    """
    config = load_agent_toml(Path(config_path))
    store = _open(config)
    try:
        selected = ids or None
        if action == "list":
            letters = store.dead_letters(limit=1000)
            if not letters:
                out.write("no dead letters\n")
            for letter in letters:
                if selected and letter.id not in selected:
                    continue
                out.write(f"#{letter.id} {_when(letter.created_at)} alerts={letter.alerts} "
                          f"status={letter.status or '-'} reason={letter.reason}\n")
                if letter.response:
                    out.write(f"  response: {letter.response[:300]}\n")
                out.write(f"  body: {letter.body[:300].decode('utf-8', 'replace')}\n")
            return 0
        if action == "replay":
            def wrap(body: bytes) -> bytes:
                head = body[:64]
                if body.startswith(b"[") or (b'"alerts"' in head and b'"app_key"' in head):
                    return body
                return build_body([body], app_key=config.bigpanda.app_key,
                                  batch_format=config.bigpanda.batch_format)

            moved = store.requeue_dead_letters(selected, wrap=wrap)
            out.write(f"replayed {moved} dead letter(s) into the queue\n")
            return _missing(selected, moved, out)
        purged = store.purge_dead_letters(selected)
        out.write(f"purged {purged} dead letter(s)\n")
        return _missing(selected, purged, out)
    finally:
        store.close()


def _missing(selected: list[int] | None, done: int, out: TextIO) -> int:
    """Exit status 1 when some of the requested ids did not exist."""
    if selected and done < len(set(selected)):
        out.write(f"{len(set(selected)) - done} of the given id(s) not found "
                  "(see dead-letter list)\n")
        return 1
    return 0
