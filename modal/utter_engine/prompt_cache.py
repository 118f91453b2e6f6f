"""Per-container cache of voice-clone prompts.

Building a prompt means decoding the upload, choosing a window, maybe running
ASR, and encoding the reference with the speech tokenizer: seconds of work that
is identical every time a voice is used. The key is a hash of the reference
bytes plus the transcript, so a re-uploaded or re-transcribed voice never
reuses a stale prompt, and the same voice under another id still hits.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict


def prompt_key(reference: bytes, transcript: str | None) -> str:
    digest = hashlib.sha256(reference).hexdigest()
    text = hashlib.sha256((transcript or "").encode("utf-8")).hexdigest()[:16]
    return f"{digest}:{text}"


class PromptCache:
    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> object | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
            return None

    def put(self, key: str, prompt: object) -> None:
        with self._lock:
            self._items[key] = prompt
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
