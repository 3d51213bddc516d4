"""The studio under hostile requests: no response >= 500 for any input, a bounded preview cache, and a
printed link that works on any bind. MELODEX_HOSTILE_REQUESTS=1000 runs the measured target."""

from __future__ import annotations

import os
import random
import time

from fastapi.testclient import TestClient

from melodex.commands.serve import studio_link
from melodex.server import ServerOptions, create_app
from melodex.server.jobs import JobStore
from melodex.server.studio import Studio
from test_server import FAST, FORM, PROMPT, client, song, wait_for  # noqa: F401

JUNK = ["²", "١٢", "０１", "-1", "0", "99999999999999999999", "1e309", "nan", "", " ", "../../etc/passwd", "%00",
        "\u202e", "a" * 300, "current", "0001", "1", "chorus", "verse 2", "5:8", "8:5", "0:0", "1:99999", "bass",
        None, True, [], {}, 3.5, -7, 2**63, "\\ud800"]


def body(rng: random.Random, keys: list[str]) -> bytes | dict:
    if rng.random() < 0.15:
        return rng.choice([b"{", b"[]", b"null", b'{"prompt": "\\ud800 piano"}', b'{"text": "\\udcff", "track": "0"}',
                           b"\xff\xfe", b'{"a":' * 3000 + b"1" + b"}" * 3000, b'{"version": "\\u00b2"}'])
    return {k: rng.choice(JUNK) for k in keys if rng.random() < 0.8}


def test_a_thousand_mixed_requests_get_no_server_error(client, song) -> None:  # noqa: F811
    rng = random.Random(0)
    pid = song
    routes = [("GET", "/api/projects/{pid}"), ("GET", "/api/projects/{pid}/versions"),
              ("GET", "/api/projects/{pid}/versions/{v}/mix.wav"),
              ("GET", "/api/projects/{pid}/versions/{v}/score.json"),
              ("GET", "/api/projects/{pid}/versions/{v}/stems/{v}.wav"), ("GET", "/api/projects/{v}"),
              ("GET", "/api/jobs/{v}"), ("GET", "/api/projects?x={v}"), ("GET", "/api/options"),
              ("POST", "/api/projects/{pid}/checkout"), ("POST", "/api/projects/{pid}/undo"),
              ("POST", "/api/projects/{pid}/regen"), ("POST", "/api/projects/{pid}/retimbre"),
              ("POST", "/api/projects/{pid}/extend"), ("POST", "/api/projects"), ("GET", "/{v}"),
              ("POST", "/api/projects/{v}/variation"), ("GET", "/api/projects/{pid}/versions/{v}/song.mid")]
    keys = {"checkout": ["version"], "regen": ["section", "bars", "tracks", "seed"],
            "retimbre": ["track", "text", "seed"],
            "extend": ["bars", "seed"], "variation": ["strength", "seed"],
            "projects": ["prompt", "bpm", "key", "meter", "form", "bars", "seed", "steps", "renderer", "sample_rate"]}
    count = int(os.environ.get("MELODEX_HOSTILE_REQUESTS", "300"))
    statuses: dict[int, int] = {}
    failures = []
    for _ in range(count):
        method, template = rng.choice(routes)
        value = str(rng.choice([j for j in JUNK if isinstance(j, str)] or ["x"]))
        url = template.replace("{pid}", pid).replace("{v}", value.replace("/", "%2F").replace("?", "%3F") or "x")
        if method == "GET":
            response = client.get(url)
        else:
            last = url.rstrip("/").rsplit("/", 1)[-1]
            payload = body(rng, keys.get(last, []))
            response = (client.post(url, content=payload, headers={"content-type": "application/json"})
                        if isinstance(payload, bytes) else client.post(url, json=payload))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            failures.append((method, url, response.text[:200]))
    print(f"{count} requests: statuses {dict(sorted(statuses.items()))}")
    assert failures == []
    deadline = time.monotonic() + 120
    while client.get("/api/health").json()["running"] and time.monotonic() < deadline:
        time.sleep(0.5)


def test_the_preview_cache_keeps_to_its_bound_least_recently_used_first(tmp_path) -> None:
    studio = Studio(tmp_path / "data", JobStore(tmp_path / "jobs.sqlite3"), cache_bytes=2500)
    folders = []
    for index in range(4):
        folder = studio.cache_dir / "abc" / f"000{index}"
        folder.mkdir(parents=True)
        (folder / "mix.wav").write_bytes(b"x" * 1000)
        os.utime(folder, (1000 + index, 1000 + index))
        folders.append(folder)
    os.utime(folders[0], (5000, 5000))  # used most recently
    assert studio.trim_cache(keep=folders[3]) == 2000
    assert [f.exists() for f in folders] == [True, False, False, True]


def test_a_loopback_address_other_than_127_0_0_1_is_served_and_links_carry_the_token(tiny_models, tmp_path) -> None:
    app = create_app(ServerOptions(data_dir=tmp_path / "data", host="127.0.0.2", cpu_threads=None))
    with TestClient(app, base_url="http://127.0.0.2:8765") as other:
        assert other.get("/api/health").status_code == 200
    assert studio_link("127.0.0.2", 8765, None) == "http://127.0.0.2:8765/"
    link = studio_link("0.0.0.0", 8765, "tok")
    assert link.endswith(":8765/?token=tok") and "0.0.0.0" not in link
