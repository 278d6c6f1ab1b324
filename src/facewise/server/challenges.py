"""Active liveness challenges run by the service: a client (the web page's camera view) starts
one, sends camera frames, and the server decides.

Each challenge is a :class:`facewise.liveness.challenge.Challenge` in memory, under an id that
only the API key that started it can use (any other key gets 404, as for an unknown id). Time is
the server's: an observation's time is when its frame arrived, so a client cannot slow the clock
down. Challenges are dropped ``keep_s`` after they start (passed, failed or not); at most
``limit`` run at once (the oldest goes first).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from facewise.errors import NotFound
from facewise.liveness.challenge import FALLBACK, MESSAGES, Challenge, ChallengeOptions, Status


@dataclass
class Session:
    id: str
    key_id: str
    machine: Challenge
    started: float
    frames: int = 0
    faces: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def as_dict(self, now: float) -> dict[str, Any]:
        status: Status = self.machine.status
        reason = status.reason or ("passed" if status.state == "passed" else None)
        message = MESSAGES.get(reason, reason) if reason else None
        if status.state == "failed":
            message = f"{message} {FALLBACK}"
        return {
            "id": self.id,
            "steps": list(self.machine.steps),
            **status.as_dict(),
            "live": status.state == "passed",
            "message": message,
            "frames": self.frames,
            "faces": self.faces,
            "elapsed_s": round(now - self.started, 2),
            "timeout_s": self.machine.options.timeout_s,
        }


class Challenges:
    def __init__(
        self,
        *,
        limit: int = 256,
        keep_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.keep_s = keep_s
        self.clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if now - oldest.started <= self.keep_s and len(self._sessions) < self.limit:
                break
            self._sessions.popitem(last=False)

    def start(self, key_id: str, *, timeout_s: float) -> Session:
        now = self.clock()
        session = Session(
            id=secrets.token_urlsafe(16),
            key_id=key_id,
            machine=Challenge(options=ChallengeOptions(timeout_s=timeout_s)),
            started=now,
        )
        with self._lock:
            self._expire(now)
            self._sessions[session.id] = session
        return session

    def get(self, challenge_id: str, key_id: str) -> Session:
        with self._lock:
            self._expire(self.clock())
            found = self._sessions.get(challenge_id)
        if found is None or not secrets.compare_digest(found.key_id, key_id):
            raise NotFound("no such challenge (it may have expired): start a new one")
        return found


__all__ = ["Challenges", "Session"]
