"""Speaks through Utter's /v1 with the official OpenAI Python client, changing only base URL and key.

Prints one JSON line: bytes received, and the generation's status when the first chunk arrived
(read with the same key), so the caller can tell the audio streamed before the task completed.
"""

from __future__ import annotations

import json
import sys
import urllib.request

from openai import OpenAI


def generation_status(origin: str, key: str, generation_id: str) -> str:
    req = urllib.request.Request(f"{origin}/api/generations/{generation_id}", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=30) as res:  # noqa: S310 - loopback dev stack
        return str(json.load(res)["generation"]["status"])


def main() -> None:
    origin, key, voice, text = sys.argv[1:5]
    client = OpenAI(base_url=f"{origin}/v1", api_key=key, max_retries=0)
    received = 0
    status_at_first = None
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice=voice, input=text, response_format="pcm") as res:
        generation_id = res.headers["x-utter-generation-id"]
        for chunk in res.iter_bytes():
            if status_at_first is None and chunk:
                status_at_first = generation_status(origin, key, generation_id)
            received += len(chunk)
    try:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi.")
        unknown = None
    except Exception as exc:  # noqa: BLE001 - the client's own error classes
        unknown = {"class": type(exc).__name__, "status": getattr(exc, "status_code", None), "message": str(exc)}
    print(json.dumps({"bytes": received, "status_at_first_chunk": status_at_first, "generation_id": generation_id, "unknown_voice": unknown}))


if __name__ == "__main__":
    main()
