"""Two HTTP API measurements for docs/RESULTS.md (issue 17, point 6), with the shipped weights:

    python tests/helpers/api_probe.py terms   # bad creates, edits, exports and jobs that fail inside: any `--flag`?
    python tests/helpers/api_probe.py head    # HEAD on every file route against its GET

Each prints one line per request and, for `terms`, the requests whose answer quoted a command-line flag.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from melodex.score import MAX_BARS
from melodex.server.app import ServerOptions, create_app

SONG = {"prompt": "synthwave, 100 BPM, F minor, verse 2, chorus 2", "bpm": 120, "key": "A minor",
        "renderer": "soundfont", "sample_rate": 22050}
BAD_CREATES = [{"key": "H minor"}, {"meter": "5/0"}, {"bpm": 500}, {"bars": 0}, {"cfg": 30},
               {"form": [{"name": "chorus 3", "bars": 4}]}]
BAD_EDITS = [("variation", {"strength": 0}), ("rerender", {"steps": 0}), ("regen", {}),
             ("regen", {"section": "chorus", "bars": "1:2"}), ("regen", {"bars": "9:12"}),
             ("regen", {"section": "bridge"}), ("retimbre", {"track": "tuba", "text": "x"}),
             ("tempo", {"bpm": 500}), ("transpose", {"semitones": 40})]
# Queued past their route's check (as when an edit queued before them changed the song): they fail in the job.
FAILING_JOBS = [("extend", {"bars": MAX_BARS, "seed": None}), ("variation", {"strength": 5, "seed": None}),
                ("rerender", {"steps": 500, "cfg": None})]
BAD_EXPORTS = [{"lufs": -3}, {"bit_depth": 32, "format": "flac"}, {"section": "bridge"}, {"sample_rate": 12345},
               {"lufs": -20, "master": False}]
FILES = ["mix.wav", "mix.flac", "mix.mp3", "stems/1.wav", "stems.zip", "export.zip?format=flac&stems=dry",
         "song.mid", "score.json", "spectrogram.png", "stems/99.wav"]


def wait(client: TestClient, job: str) -> dict:
    while True:
        answer = client.get(f"/api/jobs/{job}").json()
        if answer["status"] in ("done", "failed"):
            return answer
        time.sleep(0.5)


def made_song(client: TestClient, body: dict) -> tuple[str, dict]:
    created = client.post("/api/projects", json=body).json()
    return created["project"], wait(client, created["job"]["id"])


def terms(client: TestClient, app) -> int:
    quoted = []

    def look(what: str, text: str) -> None:
        flags = re.findall(r"--[a-z][a-z-]*", text)
        print(f"{what}: {'FLAGS ' + ', '.join(flags) if flags else 'ok'} :: {text[:160]}")
        if flags:
            quoted.append(what)

    for body in BAD_CREATES:
        answer = client.post("/api/projects", json={"prompt": "synthwave", **body})
        look(f"create {body} [{answer.status_code}]", answer.text)
    pid, job = made_song(client, SONG)
    look("generate notes", str(job["result"]["notes"]))
    for kind, body in BAD_EDITS:
        answer = client.post(f"/api/projects/{pid}/{kind}", json=body)
        look(f"{kind} {body} [{answer.status_code}]", answer.text)
    for kind, params in FAILING_JOBS:
        queued = app.state.store.submit(pid, kind, params)
        app.state.worker.wake()
        look(f"{kind} {params} (in its job)", str(wait(client, queued.id)["error"]))
    for query in BAD_EXPORTS:
        answer = client.get(f"/api/projects/{pid}/versions/1/export.zip", params=query)
        look(f"export {query} [{answer.status_code}]", answer.text)
    total = len(BAD_CREATES) + 1 + len(BAD_EDITS) + len(FAILING_JOBS) + len(BAD_EXPORTS)
    print(f"{len(quoted)} of {total} answers quote a command-line flag: {quoted}")
    return 1 if quoted else 0


def head(client: TestClient) -> int:
    pid, _ = made_song(client, {**SONG, "prompt": "piano and bass, 120 BPM, C major",
                                "form": [{"name": "verse", "bars": 2}]})
    urls = [f"/api/projects/{pid}/versions/0001/{name}" for name in FILES] + [
        f"/api/projects/{pid}/project.zip", f"/api/projects/{pid}/versions/0099/mix.wav",
        "/api/projects/nosuchproject/versions/0001/mix.wav"]
    mismatched = 0
    for url in urls:
        headers, got = client.head(url), client.get(url)
        same = (headers.status_code, headers.headers.get("content-type"), headers.headers.get("content-length")) == (
            got.status_code, got.headers.get("content-type"), str(len(got.content)))
        mismatched += not same or bool(headers.content)
        print(f"{url.split('/', 4)[-1]}: HEAD {headers.status_code} {headers.headers.get('content-type')} "
              f"{headers.headers.get('content-length')} bytes, body {len(headers.content)}; GET {got.status_code} "
              f"{len(got.content)} bytes{'' if same else '  MISMATCH'}")
    print(f"{mismatched} of {len(urls)} HEADs differ from their GET")
    return 1 if mismatched else 0


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else "terms"
    app = create_app(ServerOptions(data_dir=Path(tempfile.mkdtemp()), cpu_threads=1))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        return terms(client, app) if what == "terms" else head(client)


if __name__ == "__main__":
    sys.exit(main())
