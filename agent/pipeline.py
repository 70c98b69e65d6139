"""Wires source → rules → batcher → queue; the reading thread of the daemon.

One thread reads, applies rules, validates, encodes and batches; it commits
each batch with the offsets it covers in one transaction and wakes the
shipper (``agent.delivery``), which runs in its own thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from agent.batch import Batcher, Cut
from agent.bigpanda import encode_alert, validate_rule_alert
from agent.config import AgentConfig, hostname
from agent.errors import AlertInvalid
from agent.queuelimit import QueueLimit
from agent.records import RecordBlock
from agent.recordstats import RecordReporter
from agent.rules import SourceRules, compile_rules
from agent.state import DeadLetter, FileCheckpoint, StateStore
from agent.tail import Tailer
from agent.tail.identity import key_names
from agent.writeguard import WriteGuard

log = structlog.get_logger("agent.pipeline")

READ_BUDGET_BYTES = 1 << 20
"""Bytes read across all files before batches are committed and signals checked."""


@dataclass(slots=True)
class PipelineCounters:
    """Running totals of the reading side (never reset)."""

    records: int = 0
    alerts: int = 0
    invalid_alerts: int = 0
    batches_queued: int = 0


def compile_all(config: AgentConfig) -> dict[str, SourceRules]:
    """Compile every rule file's rules, keyed by source name.

    Raises:
        ConfigError: a rule cannot be compiled.
    """
    host = hostname()
    return {rf.source.name: compile_rules(rf, config.defaults, hostname=host)
            for rf in config.rule_files}


class Pipeline:
    """The reading thread: tail → rules → validate → batch → state store.

    Args:
        config: the loaded configuration.
        on_queued: called after batches were committed (wakes the shipper).
        on_fatal: called with the exception if the thread dies.
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        on_queued: Callable[[], None],
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        self.config = config
        self.rules = compile_all(config)
        self._on_queued = on_queued
        self._on_fatal = on_fatal
        self._stop = threading.Event()
        self._reload: AgentConfig | None = None
        self.counters = PipelineCounters()
        self._reporter = RecordReporter()
        self.batcher = Batcher(config.batch, app_key=config.bigpanda.app_key,
                               batch_format=config.bigpanda.batch_format)
        self._thread = threading.Thread(target=self._main, name="pipeline", daemon=True)
        self._store: StateStore | None = None
        self.tailer: Tailer | None = None
        self.ready = threading.Event()
        self._limit: QueueLimit | None = None
        self._dead: list[DeadLetter] = []
        self._guard = WriteGuard(stage="pipeline", wait=lambda s: not self._stop.wait(s))

    def start(self) -> None:
        """Start the reading thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop reading, queue what it holds, and exit."""
        self._stop.set()
        if self.tailer is not None:
            self.tailer.wake()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the thread; returns whether it ended."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def reload(self, config: AgentConfig) -> None:
        """Swap in a new configuration's rules at the next loop (compiled already by caller)."""
        self._reload = config
        if self.tailer is not None:
            self.tailer.wake()

    # -- thread --------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._open()
            self.ready.set()
            self._loop()
            self._drain()
        except BaseException as exc:  # the thread's top: log, and take the process down
            log.error("pipeline_crashed", error=repr(exc), exc_info=True)
            self._on_fatal(exc)
        finally:
            if self.tailer is not None:
                self.tailer.close()
            if self._store is not None:
                self._store.close()

    def _open(self) -> None:
        store = StateStore(self.config.queue.db_path, durability=self.config.queue.durability)
        self._store = store
        self._limit = QueueLimit(self.config.queue, store, self._guard)
        self.tailer = self._new_tailer(store)

    def _new_tailer(self, store: StateStore) -> Tailer:
        """A tailer for the configured sources; ``read_from`` counts only for new sources."""
        meta = store.meta()
        sources = [rf.source for rf in self.config.rule_files]
        new = {s.name for s in sources if f"source_started:{s.name}" not in meta}
        saved = store.checkpoints()
        tailer = Tailer(sources, self.config.tail, saved, new_sources=new)
        tailer.scan()
        positions = tailer.positions()
        self._guard.run(lambda: store.save_checkpoints(positions))
        stale = stale_checkpoints(saved, set(tailer.readers), {s.name for s in sources})
        if stale:
            self._guard.run(lambda: store.forget_files(stale))
            log.info("checkpoints_forgotten", files=len(stale), reason="file no longer exists")
        if new:
            started = {f"source_started:{name}": str(time.time()) for name in new}
            self._guard.run(lambda: store.set_meta(started))
        return tailer

    def _loop(self) -> None:
        assert self.tailer is not None
        while not self._stop.is_set():
            if self._reload is not None:
                self._apply_reload()
            if self._limit is not None and not self._limit.room():
                self.tailer.wait(0.5)
                continue
            blocks = self.tailer.read(READ_BUDGET_BYTES)
            cuts = []
            for block in blocks:
                self._process(block)
                while self.batcher.full():
                    cuts.append(self.batcher.cut())
            if self.batcher.due() or (not blocks and self.batcher.has_segments
                                      and self.batcher.pending_alerts == 0):
                cuts.extend(self.batcher.cut_all())
            if cuts:
                self._commit(cuts)
            self._reporter.maybe_report(self.rules)
            if not blocks:
                self.tailer.wait(min(self.config.batch.flush_interval_s, 0.25))

    def _process(self, block: RecordBlock) -> None:
        produced: list[tuple[int, int, dict[str, Any]]] = []
        self.rules[block.source].apply_block(block, time.time(), produced)
        self.counters.records += len(block.texts)
        if block.truncated:
            _flag_truncated(block, produced)
        entries = []
        dead = self._dead
        for ts, end, alert in produced:
            try:
                entries.append((ts, end, encode_alert(validate_rule_alert(alert))))
            except AlertInvalid as exc:
                dead.append(DeadLetter(body=encode_alert(alert), alerts=1,
                                       reason=f"invalid alert: {exc.reason}"))
        self.counters.alerts += len(entries)
        self.batcher.add(block.file_id, entries, block.checkpoint)

    def _commit(self, cuts: list[Cut]) -> None:
        """Queue ``cuts`` with their offsets; on a failing disk, block here and retry.

        While blocked nothing is read and no offset advances; the cuts wait in
        memory. A stop request ends the wait: the uncommitted records are then
        read again from the files at the next start (nothing lost).
        """
        store, tailer = self._store, self.tailer
        assert store is not None and tailer is not None
        offsets: dict[str, int] = {}
        batches = []
        for cut in cuts:
            offsets.update(cut.offsets)
            if cut.body is not None:
                batches.append((cut.body, cut.alerts))
        checkpoints = [tailer.checkpoint(key, off) for key, off in offsets.items()]
        dead, self._dead = self._dead, []
        written, _ = self._guard.run(lambda: store.enqueue(batches, checkpoints, dead))
        if not written:
            log.warning("queue_write_abandoned", batches=len(batches),
                        alerts=sum(n for _, n in batches), reason="stopping",
                        recovery="records are read again at next start")
            return
        self.counters.invalid_alerts += len(dead)
        for letter in dead:
            log.warning("alert_invalid", reason=letter.reason)
        if batches:
            self.counters.batches_queued += len(batches)
            if self._limit is not None:
                self._limit.added(sum(len(b) for b, _ in batches))
            self._on_queued()

    @property
    def write_blocked(self) -> bool:
        """Whether the last queue write failed (full disk, read-only state dir)."""
        return self._guard.blocked

    def _apply_reload(self) -> None:
        config, self._reload = self._reload, None
        assert config is not None and self.tailer is not None
        old_config = self.config
        self.rules = compile_all(config)
        self.config = config
        if (old_config.bigpanda.app_key, old_config.bigpanda.batch_format, old_config.batch) != (
                config.bigpanda.app_key, config.bigpanda.batch_format, config.batch):
            # Alerts already batched keep the old app key; new ones get the new one.
            self._commit(self.batcher.cut_all())
            self.batcher = Batcher(config.batch, app_key=config.bigpanda.app_key,
                                   batch_format=config.bigpanda.batch_format)
        old = self.tailer
        sources = [rf.source for rf in config.rule_files]
        if sources != list(old.sources):
            # Hand out what the old tailer holds, then follow the new set of sources.
            for block in old.flush_all():
                if block.source in self.rules:
                    self._process(block)
            self._commit(self.batcher.cut_all())
            old.close()
            assert self._store is not None
            self.tailer = self._new_tailer(self._store)
        log.info("rules_reloaded", files=len(config.rule_files))

    def _drain(self) -> None:
        """Shutdown: hand out held multiline records and queue everything in memory."""
        assert self.tailer is not None
        for block in self.tailer.flush_all():
            self._process(block)
        cuts = self.batcher.cut_all()
        if cuts or self._dead:
            self._commit(cuts)
        self._reporter.maybe_report(self.rules, force=True)
        log.info("pipeline_stopped", records=self.counters.records, alerts=self.counters.alerts)


def _flag_truncated(block: RecordBlock, produced: list[tuple[int, int, dict[str, Any]]]) -> None:
    """Mark alerts from records cut at ``max_line_bytes`` with ``truncated = "true"``."""
    cut_ends = {block.ends[i] for i in block.truncated}
    for _, end, alert in produced:
        if end in cut_ends:
            alert.setdefault("truncated", "true")


def stale_checkpoints(saved: dict[str, FileCheckpoint], followed: set[str],
                      sources: set[str]) -> list[str]:
    """Checkpoint keys of the given sources whose file is gone for good.

    A key is stale when no reader follows it after the start-up scan (which
    already looked for rotated files by inode) and its path no longer holds
    that file (``<source>:<dev>:<ino>``). Checkpoints of sources not configured
    now are kept, so re-adding a rule file resumes where it stopped.
    """
    stale = []
    for key, cp in saved.items():
        if key in followed or key.split(":", 1)[0] not in sources:
            continue
        try:
            st = os.stat(cp.path)
        except OSError:
            stale.append(key)
            continue
        if not key_names(key, st):
            stale.append(key)
    return stale
