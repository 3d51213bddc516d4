"""Melodex Studio's HTTP API through FastAPI's TestClient: a real generate/regen/undo cycle with the tiny
models, downloads, Server-Sent Events, errors as 4xx with their message, and the safety checks."""

from __future__ import annotations

import functools
import io
import json
import re
import tempfile
import time
import zipfile

import pytest
import soundfile
from fastapi.testclient import TestClient

from melodex.errors import MelodexError
from melodex.server import ServerOptions, create_app

PROMPT = "piano and bass, 120 BPM, C major"
FORM = [{"name": "intro", "bars": 2}, {"name": "verse", "bars": 2}, {"name": "chorus", "bars": 2}]
FAST = {"renderer": "soundfont", "sample_rate": 22050, "steps": 2}


def wait_for(client: TestClient, job_id: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


@functools.cache
def documented_errors() -> list[tuple[re.Pattern, str, set[str]]]:
    """Each route's path as a pattern, its method and the statuses its schema lists."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(ServerOptions(data_dir=folder, cpu_threads=None))
        paths = app.openapi()["paths"]
        app.state.store.close()
    return [(re.compile(re.sub(r"\{[a-z_]+\}", "[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))),
             method.upper(), set(operation["responses"])) for path, operations in paths.items()
            for method, operation in operations.items()]


def detail(response, status: int) -> str:
    """The error's message, after checking its status and that the route's schema documents that status."""
    assert response.status_code == status, response.text
    method, path = response.request.method, response.request.url.path
    listed = [codes for pattern, verb, codes in documented_errors() if verb == method and pattern.fullmatch(path)]
    assert listed, f"{method} {path} is not in the schema"
    assert str(status) in listed[0], f"{method} {path} answers {status}, which its schema does not list"
    return response.json()["detail"]


@pytest.fixture
def client(tiny_models, tmp_path):
    app = create_app(ServerOptions(data_dir=tmp_path / "data", cpu_threads=None))
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def song(client) -> str:
    """A ready project: intro, verse and chorus of 2 bars, piano and bass, at 22.05 kHz."""
    response = client.post("/api/projects", json={"prompt": PROMPT, "form": FORM, "seed": 3, **FAST})
    assert response.status_code == 202, response.text
    body = response.json()
    job = wait_for(client, body["job"]["id"])
    assert job["status"] == "done", job
    return body["project"]


@pytest.mark.slow
def test_generate_regen_undo_and_downloads(client, song) -> None:
    summary = client.get(f"/api/projects/{song}").json()
    assert summary["state"] == "ready" and summary["current"] == "0001"
    assert "intro 2 bars" in summary["request"]["prompt"]
    assert any(row["what"] == "tempo" and row["value"] == "120 BPM" for row in summary["brief"])

    view = client.get(f"/api/projects/{song}/versions/current/score.json").json()
    assert [s["name"] for s in view["sections"]] == ["intro", "verse", "chorus"]
    assert view["n_bars"] == 6 and view["bpm"] == 120 and view["sample_rate"] == 22050
    assert abs(view["sections"][1]["start"] - 4.0) < 1e-3  # two bars of 4/4 at 120 BPM
    assert {t["instrument"].lower() for t in view["tracks"]} >= {"acoustic grand piano"}

    job = client.post(f"/api/projects/{song}/regen", json={"section": "verse", "seed": 7})
    assert job.status_code == 202, job.text
    done = wait_for(client, job.json()["id"])
    assert done["status"] == "done", done
    assert done["result"] == {"version": "0002", "edit": "regen verse"}
    history = client.get(f"/api/projects/{song}/versions").json()
    assert history["current"] == "0002" and [v["id"] for v in history["versions"]] == ["0001", "0002"]
    marks = client.get(f"/api/projects/{song}/versions/2/score.json").json()["changed_bars"]
    assert marks and set(marks) <= {2, 3}  # the verse's bars, 0-based: what the timeline marks
    assert client.get(f"/api/projects/{song}/versions/1/score.json").json()["changed_bars"] == []
    assert history["versions"][1]["parent"] == "0001"

    first = soundfile.read(io.BytesIO(client.get(f"/api/projects/{song}/versions/1/mix.wav").content))
    second = soundfile.read(io.BytesIO(client.get(f"/api/projects/{song}/versions/0002/mix.wav").content))
    rate = 22050
    assert first[1] == second[1] == rate and len(first[0]) == len(second[0]) > rate * 11
    assert abs(first[0]).max() > 0.01  # music, not silence
    # the intro (0-4 s) is outside the regenerated verse: its samples are unchanged
    assert (first[0][: rate * 3] == second[0][: rate * 3]).all()

    stems = zipfile.ZipFile(io.BytesIO(client.get(f"/api/projects/{song}/versions/2/stems.zip").content))
    names = [n.rsplit("/", 1)[-1] for n in stems.namelist()]  # the tracks, 1-based, and the reverb return
    assert len(names) == len(view["tracks"]) + 1 and names[0].startswith("01-") and names[-1].endswith("-reverb.wav")
    stem = client.get(f"/api/projects/{song}/versions/2/stems/1.wav")  # numbered as its file, 01-...
    # people count tracks from 1 (the files, `track`, `tracks`, the messages); `index` stays for older clients
    assert [(t["number"], t["index"]) for t in view["tracks"]] == [(i + 1, i) for i in range(len(view["tracks"]))]
    assert client.get(f"/api/projects/{song}/versions/2/stems/0.wav").status_code == 404
    refused = detail(client.post(f"/api/projects/{song}/retimbre", json={"track": "0", "text": "warm"}), 400)
    assert "numbered from 1" in refused and f"1: {view['tracks'][0]['role']}" in refused
    assert stem.status_code == 200 and soundfile.info(io.BytesIO(stem.content)).samplerate == 22050
    # the studio's mixer plays each track's stem and, after the last track, the reverb return: they add up to the mix
    channels = [soundfile.read(io.BytesIO(client.get(f"/api/projects/{song}/versions/2/stems/{i}.wav").content))[0]
                for i in range(1, len(view["tracks"]) + 2)]
    assert abs(sum(channels) - second[0]).max() < 1e-4
    assert client.get(f"/api/projects/{song}/versions/2/song.mid").content[:4] == b"MThd"
    png = client.get(f"/api/projects/{song}/versions/2/spectrogram.png")
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/api/projects/{song}/project.zip").content))
    names = archive.namelist()
    assert f"melodex-{song}/song.melodex/project.json" in names and f"melodex-{song}/mix.wav" in names
    assert any("/versions/0002/" in n for n in names)

    assert client.post(f"/api/projects/{song}/undo").json() == {"current": "0001"}
    assert client.get(f"/api/projects/{song}").json()["current"] == "0001"
    assert client.post(f"/api/projects/{song}/checkout", json={"version": "2"}).json() == {"current": "0002"}
    assert client.post(f"/api/projects/{song}/checkout", json={"version": "1"}).json() == {"current": "0001"}
    undo = client.post(f"/api/projects/{song}/undo")
    assert undo.status_code == 409 and "nothing to undo" in undo.json()["detail"]


@pytest.mark.slow
def test_progress_streams_as_server_sent_events(client, song) -> None:
    job = client.post(f"/api/projects/{song}/retimbre", json={"track": "piano", "text": "brighter"}).json()
    events = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    assert events[-1][0] == "done" and events[-1][1]["result"]["version"] == "0002"
    assert all(kind == "progress" for kind, _ in events[:-1])
    assert "retimbre track 1: brighter" in events[-1][1]["result"]["edit"]


@pytest.mark.slow
def test_bad_requests_are_4xx_with_a_message(client, song) -> None:
    assert "prompt is empty" in detail(client.post("/api/projects", json={"prompt": "  "}), 400)
    assert "2000" in detail(client.post("/api/projects", json={"prompt": "piano " * 400}), 400)
    assert "preset" in detail(client.post("/api/projects", json={"prompt": "piano", "preset": "loud"}), 422)
    assert "unknown instrument" in detail(client.post("/api/projects", json={"prompt": "x", "instruments": ["zz"]}),
                                          400)
    assert "already gives a form" in detail(client.post("/api/projects", json={
        "prompt": "piano, verse 8 bars, chorus 8 bars", "form": FORM}), 400)
    assert "sample_rate" in detail(client.post("/api/projects", json={"prompt": "piano", "sample_rate": 123}), 422)
    assert "steps" in detail(client.post("/api/projects", json={"prompt": "piano", "steps": 0}), 422)
    bpm = detail(client.post("/api/projects", json={"prompt": "piano", "bpm": 500}), 422)
    assert bpm.startswith("bpm:") and "--" not in bpm  # the API's own field name, not a CLI flag
    assert "seed" in detail(client.post("/api/projects", json={"prompt": "piano", "seed": -1}), 422)
    assert "surprise" in detail(client.post("/api/projects", json={"prompt": "piano", "surprise": 1}), 422)
    assert "JSON" in detail(client.post("/api/projects", content=b"{not json",
                                        headers={"content-type": "application/json"}), 422)

    assert "no section named 'bridge'" in detail(client.post(f"/api/projects/{song}/regen",
                                                             json={"section": "bridge"}), 400)
    assert "not both" in detail(client.post(f"/api/projects/{song}/regen", json={"section": "verse",
                                                                                 "bars": "1:2"}), 400)
    assert "bars 1-6" in detail(client.post(f"/api/projects/{song}/regen", json={"bars": "5:9"}), 400)
    assert "no track 'tuba'" in detail(client.post(f"/api/projects/{song}/retimbre",
                                                   json={"track": "tuba", "text": "warm"}), 400)
    assert "no version '7'" in detail(client.post(f"/api/projects/{song}/checkout", json={"version": "7"}), 404)
    assert "no version" in detail(client.get(f"/api/projects/{song}/versions/9/mix.wav"), 404)
    assert "no stem 9" in detail(client.get(f"/api/projects/{song}/versions/1/stems/9.wav"), 404)
    assert "no project" in detail(client.get("/api/projects/000000000000"), 404)
    assert "no project" in detail(client.post("/api/projects/000000000000/regen", json={"section": "verse"}), 404)
    assert "no job" in detail(client.get("/api/jobs/nope"), 404)
    assert client.get("/api/projects").json()[0]["id"] == song  # the refused requests made no projects


@pytest.mark.slow
def test_path_traversal_and_body_limits(client, song) -> None:
    for url in (f"/api/projects/..%2F..%2F{song}/versions/1/mix.wav",
                f"/api/projects/{song}/versions/..%2F..%2F..%2Fjobs.sqlite3/mix.wav",
                f"/api/projects/{song}/versions/%2e%2e/score.json",
                "/api/projects/%2e%2e/project.zip",
                "/static/..%2F..%2F..%2Fpyproject.toml",
                "/static/%2e%2e/app.py"):
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)
        assert b"[project]" not in response.content and b"sqlite" not in response.content.lower()
    big = client.post("/api/projects", json={"prompt": "piano " * 20000})
    assert big.status_code == 413 and "64 KB" in big.json()["detail"]

    def chunks():
        for _ in range(100):
            yield b" " * 1024

    chunked = client.post("/api/projects", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert client.get("/api/health", headers={"host": "evil.example:8765"}).status_code == 403


def test_token_is_required_when_set(tiny_models, tmp_path) -> None:
    with pytest.raises(MelodexError, match="token"):
        ServerOptions(data_dir=tmp_path, host="0.0.0.0")
    app = create_app(ServerOptions(data_dir=tmp_path, host="0.0.0.0", token="s3cret", cpu_threads=None))
    with TestClient(app, base_url="http://192.0.2.1:8765") as client:
        assert client.get("/api/projects").status_code == 401
        assert client.get("/").status_code == 401
        assert client.get("/api/projects", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/projects", headers={"authorization": "Bearer s3cret"}).json() == []
        assert client.get("/?token=nope", follow_redirects=False).status_code == 401
        visit = client.get("/?token=s3cret", follow_redirects=False)
        assert visit.status_code == 303 and visit.headers["location"] == "/"
        assert "HttpOnly" in visit.headers["set-cookie"]
        # the client keeps the cookie: the page and the API now answer
        assert client.get("/").status_code == 200 and client.get("/api/projects").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_schema_page_and_offline_assets(client) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/projects/{pid}/regen" in schema["paths"]
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN
    page = client.get("/").text
    assert "<canvas" in page and "studio.js" in page
    for line in page.splitlines():
        assert "http://" not in line and "https://" not in line, line  # nothing external
    for asset in ("studio.js", "studio.css"):
        text = client.get(f"/static/{asset}").text
        assert "https://" not in text and "http://" not in text


@pytest.mark.slow
def test_edits_wait_in_order_and_checkout_waits_for_them(client, song) -> None:
    studio = client.app.state.studio
    with studio.editing(song, wait=True):  # hold the project as a running job would: the queue backs up
        first = client.post(f"/api/projects/{song}/retimbre", json={"track": "bass", "text": "warmer"}).json()
        second = client.post(f"/api/projects/{song}/regen", json={"section": "chorus", "tracks": ["piano"]}).json()
        deadline = time.monotonic() + 30
        while client.get(f"/api/jobs/{first['id']}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.get(f"/api/jobs/{second['id']}").json()["queue_position"] == 1
        assert client.get("/api/health").json() == {"ok": True, "running": first["id"], "queued": 1}
        busy = client.post(f"/api/projects/{song}/checkout", json={"version": "1"})
        assert busy.status_code == 409 and "queued or running jobs" in busy.json()["detail"]
    assert wait_for(client, first["id"])["result"]["version"] == "0002"
    done = wait_for(client, second["id"])
    assert done["result"] == {"version": "0003", "edit": "regen chorus tracks piano"}
    history = client.get(f"/api/projects/{song}/versions").json()["versions"]
    assert [(v["id"], v["parent"]) for v in history] == [("0001", None), ("0002", "0001"), ("0003", "0002")]


@pytest.mark.slow
def test_tempo_and_transpose_edits_and_downloads_in_every_format(client, song) -> None:
    for path, body, edit_text in (("tempo", {"bpm": 90}, "set tempo 90 BPM"), ("transpose", {"semitones": -3},
                                                                                "transpose -3")):
        job = client.post(f"/api/projects/{song}/{path}", json=body)
        assert job.status_code == 202, job.text
        done = wait_for(client, job.json()["id"])
        assert done["status"] == "done" and done["result"]["edit"] == edit_text, done
    view = client.get(f"/api/projects/{song}/versions/current/score.json").json()
    assert view["bpm"] == 90 and view["key"] == "A major"
    assert client.post(f"/api/projects/{song}/tempo", json={"bpm": 500}).status_code == 422
    assert client.post(f"/api/projects/{song}/transpose", json={"semitones": 20}).status_code == 422
    for fmt, media in (("wav", "audio/wav"), ("flac", "audio/flac"), ("mp3", "audio/mpeg")):
        response = client.get(f"/api/projects/{song}/versions/current/mix.{fmt}")
        assert response.status_code == 200 and response.headers["content-type"] == media
        audio, rate = soundfile.read(io.BytesIO(response.content))
        assert rate == 22050 and len(audio) > rate
        head = client.head(f"/api/projects/{song}/versions/current/mix.{fmt}")
        assert head.status_code == 200 and head.content == b"" and head.headers["content-type"] == media
    assert "no job" in detail(client.post("/api/jobs/nosuchjob/cancel"), 404)
    finished = client.get("/api/jobs", params={"project": song}).json()[0]
    assert "only queued or running" in detail(client.post(f"/api/jobs/{finished['id']}/cancel"), 409)
    assert client.delete(f"/api/projects/{song}").status_code == 204
    assert client.get(f"/api/projects/{song}").status_code == 404
    assert all(p["id"] != song for p in client.get("/api/projects").json())


def test_the_schema_types_every_route_and_its_errors(client) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    mix = paths["/api/projects/{pid}/versions/{version}/mix.mp3"]
    assert "audio/mpeg" in mix["get"]["responses"]["200"]["content"]
    assert "audio/midi" in paths["/api/projects/{pid}/versions/{version}/song.mid"]["get"]["responses"]["200"][
        "content"]
    job = paths["/api/jobs/{job_id}"]["get"]["responses"]
    assert job["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobOut"}
    assert set(job) == {"200", "401", "403", "404", "422"}  # only what this route can answer
    assert {"400", "404", "409", "413", "422"} <= set(paths["/api/projects/{pid}/regen"]["post"]["responses"])
    statuses = schema["components"]["schemas"]["JobOut"]["properties"]["status"]
    assert statuses["enum"] == ["queued", "running", "done", "failed"]
    tempo = schema["components"]["schemas"]["TempoRequest"]["properties"]["bpm"]
    assert (tempo["minimum"], tempo["maximum"]) == (20, 300)
    assert "delete" in paths["/api/projects/{pid}"] and "/api/jobs/{job_id}/cancel" in paths
    assert "delete" in paths["/api/jobs/{job_id}"] and "post" in paths["/api/projects/{pid}/redo"]
    create = schema["components"]["schemas"]["CreateProject"]["properties"]
    from melodex.pipeline import PRESETS
    from melodex.server.studio import SAMPLE_RATES

    assert create["preset"]["enum"] == list(PRESETS) and create["sample_rate"]["enum"] == list(SAMPLE_RATES)
    assert create["renderer"]["enum"] == ["timbre", "soundfont"] and create["bpm"]["anyOf"][0]["maximum"] == 300
    from melodex.server.studio import FORM_SECTIONS

    assert schema["components"]["schemas"]["FormSectionIn"]["properties"]["name"]["enum"] == list(FORM_SECTIONS)
    refused = client.post("/api/projects", json={"prompt": "piano", "form": [{"name": "chorus 3", "bars": 4}]})
    assert detail(refused, 422).startswith("form.0.name: Input should be 'intro'")  # checked on arrival


def test_key_meter_and_bars_are_typed_in_the_schema_and_checked_on_arrival(client) -> None:
    """They were free strings (`key: string, maxLength 20`): the schema said nothing of what a key or a bar range
    is, and 'H minor' was found out only by the library, as a 400."""
    from melodex import brief
    from melodex.server.schema import KEY_PATTERN, METER_NAMES

    create = client.get("/openapi.json").json()["components"]["schemas"]["CreateProject"]["properties"]
    key, meter = create["key"]["anyOf"][0], create["meter"]["anyOf"][0]
    assert key["pattern"] == KEY_PATTERN and meter["enum"] == list(METER_NAMES)
    offered = client.get("/api/options").json()
    assert all(re.fullmatch(key["pattern"], name) for name in offered["keys"])
    assert set(offered["meters"]) <= set(meter["enum"]) and {"4/4", "7/8", "12/8", "16/16"} <= set(meter["enum"])
    parsed = brief.parse("piano")  # the library takes every key and meter the schema lets through
    for name, said in (("Bb", "Bb major"), ("C#m", "C# minor"), ("F minor", "F minor"), ("Db major", "Db major")):
        assert str(brief.with_overrides(parsed, key=name).key) == said
    for name in METER_NAMES:
        assert "/".join(map(str, brief.with_overrides(parsed, meter=name).meter)) == name
    for field, bad in (("key", "H minor"), ("key", "f min"), ("key", "C  major"), ("meter", "5/0"),
                       ("meter", "17/4"), ("meter", "4/4 ")):
        said = detail(client.post("/api/projects", json={"prompt": PROMPT, field: bad, **FAST}), 422)
        assert said.startswith(f"{field}: '{bad}' is not a {field}") and "--" not in said, said
    assert client.get("/api/projects").json() == []  # refused on arrival: nothing queued
    from melodex.edit_notes import BARS_PATTERN

    regen = client.get("/openapi.json").json()["components"]["schemas"]["RegenRequest"]["properties"]["bars"]
    assert regen["anyOf"][0]["pattern"] == BARS_PATTERN  # the grammar `edit.parse_bars` reads
    said = detail(client.post("/api/projects/nothing/regen", json={"bars": "3:"}), 422)
    assert said == "bars: '3:': write one bar like 3 or a range like 5:8 (counting from 1)", said


def test_every_route_declares_its_answer_and_its_errors(client) -> None:
    """Every JSON answer is a named model (or a list of one), every file a binary of its own media type, and
    every error a Problem: FastAPI's own 422 list (HTTPValidationError) is never what the API documents."""
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    operations = [(method.upper(), path, operation) for path, methods in paths.items()
                  for method, operation in methods.items()]
    assert len(operations) == 40 + 15  # and HEAD on each of the 15 files (score.json too; 5 single export files)
    for method, path, operation in operations:
        where = f"{method} {path}"
        responses = operation["responses"]
        assert len([code for code in responses if code.startswith("2")]) == 1, where
        assert {"401", "403"} <= set(responses), where  # the token and Host checks come before every route
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in responses, where
        for code, response in responses.items():
            for media, body in response.get("content", {}).items():
                answer = body.get("schema")
                assert answer, f"{where} {code} {media} has an empty schema"
                if code.startswith("4"):
                    assert (media, answer) == ("application/json", {"$ref": "#/components/schemas/Problem"}), where
                elif media == "application/json":
                    assert answer.get("$ref") or answer.get("items", {}).get("$ref"), f"{where} is not a model"
                else:
                    assert answer.get("type") == "string", where
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    result = schema["components"]["schemas"]["JobOut"]["properties"]["result"]["anyOf"]
    assert [r.get("$ref", r.get("type")) for r in result] == [
        "#/components/schemas/GenerateResult", "#/components/schemas/EditResult", "null"]
    files = {path: operation["get"]["responses"]["200"]["content"] for path, operation in paths.items()
             if path.rsplit(".", 1)[-1] in ("wav", "flac", "mp3", "mid", "zip", "png")}
    assert len(files) == 14 and all("application/json" not in content for content in files.values())
    assert all(paths[path]["head"]["responses"] == paths[path]["get"]["responses"] for path in files)
    assert all("409" in paths[path]["get"]["responses"] for path in files)  # a project still generating


def test_unknown_routes_and_methods_answer_in_the_apis_terms(client) -> None:
    for response, status in ((client.get("/api/nothing"), 404), (client.put("/api/health"), 405),
                             (client.get("/static/nothing.js"), 404)):
        assert response.status_code == status and "/openapi.json" in response.json()["detail"], response.text
    assert "GET /api/jobs" in detail(client.get("/api/jobs/nosuchjob"), 404)
    assert "GET /api/projects" in detail(client.delete("/api/projects/000000000000"), 404)


def _moved_to_the_top(client: TestClient, song: str) -> None:
    """Version 0002: version 0001's notes moved up so the highest is MIDI 127, its audio as it was (made by the
    library, not a job, so this test runs no edit)."""
    from melodex.project import Project
    from melodex.tokens import decode, encode

    project = Project.open(client.app.state.studio.folder(song) / "song.melodex")
    version = project.load_version("1")
    score = decode(version.events)
    pitched = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    high = max(int(t.notes[:, 2].max()) for t in pitched)
    for track in pitched:
        track.notes[:, 2] += 127 - high
    version.events, version.parent = encode(score), "0001"
    assert project.save_version(version) == "0002"


@pytest.mark.slow
def test_redo_diff_limits_checked_on_arrival_and_delete_cancels_a_job(client, song) -> None:
    from melodex.score import MAX_BARS

    _moved_to_the_top(client, song)
    jobs = client.get("/api/jobs", params={"project": song}).json()
    assert "can move" in detail(client.post(f"/api/projects/{song}/transpose", json={"semitones": 1}), 400)
    grown = detail(client.post(f"/api/projects/{song}/extend", json={"bars": MAX_BARS}), 400)
    assert f"at most {MAX_BARS - 6}" in grown and "--" not in grown
    assert client.get("/api/jobs", params={"project": song}).json() == jobs  # refused before anything was queued

    diff = client.get(f"/api/projects/{song}/diff").json()  # the current version against its parent
    assert (diff["a"], diff["b"]) == ("0001", "0002") and diff["changes"][-1] == "audio identical"
    assert any("notes changed in bar" in line for line in diff["changes"]), diff
    assert client.get(f"/api/projects/{song}/diff", params={"a": "2", "b": "0002"}).json()["changes"] == [
        "audio identical"]
    assert "is the first" in detail(client.get(f"/api/projects/{song}/diff", params={"b": "1"}), 400)
    assert "no version '9'" in detail(client.get(f"/api/projects/{song}/diff", params={"a": "9"}), 404)

    assert "nothing to redo" in detail(client.post(f"/api/projects/{song}/redo"), 409)
    assert client.post(f"/api/projects/{song}/undo").json() == {"current": "0001"}
    assert client.post(f"/api/projects/{song}/redo").json() == {"current": "0002"}
    assert client.get(f"/api/projects/{song}").json()["current"] == "0002"

    studio = client.app.state.studio
    with studio.editing(song, wait=True):  # hold the project: the first job runs and waits, the second queues
        running = client.post(f"/api/projects/{song}/retimbre", json={"track": "bass", "text": "warmer"}).json()
        queued = client.post(f"/api/projects/{song}/regen", json={"section": "chorus"}).json()
        deadline = time.monotonic() + 30
        while client.get("/api/health").json()["running"] != running["id"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cancelled = client.delete(f"/api/jobs/{queued['id']}")
        assert cancelled.status_code == 200 and (cancelled.json()["status"], cancelled.json()["error"]) == (
            "failed", "cancelled")
        assert client.delete(f"/api/jobs/{running['id']}").json()["status"] == "running"  # stops at its next step
    stopped = wait_for(client, running["id"])
    assert (stopped["status"], stopped["error"]) == ("failed", "cancelled")
    assert client.get(f"/api/projects/{song}/versions").json()["current"] == "0002"  # the project unchanged
    assert "only queued or running" in detail(client.delete(f"/api/jobs/{running['id']}"), 409)
    assert "no job" in detail(client.delete("/api/jobs/nosuchjob"), 404)


@pytest.mark.slow
def test_export_zip_takes_the_options_of_melodex_export(client, song) -> None:
    from melodex.production.loudness import integrated_lufs

    url = f"/api/projects/{song}/versions/1/export.zip"

    def exported(**params) -> dict[str, bytes]:
        response = client.get(url, params=params)
        assert response.status_code == 200 and response.headers["content-type"] == "application/zip", response.text
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        return {n.split("/", 1)[1]: archive.read(n) for n in archive.namelist()}

    files = exported(format=["flac", "mp3"], stems="dry", sample_rate=44100, bit_depth=16)
    assert {"mix.flac", "mix.mp3", "song.mid", "dry-mix.flac"} <= set(files)  # dry stems and their sum
    stems = sorted(n for n in files if n.startswith("stems/"))
    assert stems and all(n.endswith(".flac") for n in stems) and not any("reverb" in n for n in stems)
    info = soundfile.info(io.BytesIO(files["mix.flac"]))
    assert (info.samplerate, info.subtype) == (44100, "PCM_16")
    assert soundfile.info(io.BytesIO(files["mix.mp3"])).samplerate == 44100
    quiet, rate = soundfile.read(io.BytesIO(exported(lufs=-24)["mix.wav"]), dtype="float32")
    assert abs(integrated_lufs(quiet, rate) + 24) < 1.0
    loop = exported(section="chorus", stems="none", click=True)
    assert "click.wav" in loop and not any(n.startswith("stems/") for n in loop)
    assert soundfile.info(io.BytesIO(loop["mix.wav"])).frames == 4 * 22050  # 2 bars at 120 BPM, looped
    assert client.get(url, params={"section": "chorus", "stems": "none", "click": True}).content == \
        client.get(url, params={"section": "chorus", "stems": "none", "click": True}).content  # made once
    assert client.head(url).status_code == 200

    assert "FLAC holds 16 or 24" in detail(client.get(url, params={"format": "flac", "bit_depth": 32}), 400)
    assert "which master false leaves out" in detail(client.get(url, params={"lufs": -20, "master": False}), 400)
    assert "bridge" in detail(client.get(url, params={"section": "bridge"}), 400)
    assert "format" in detail(client.get(url, params={"format": "ogg"}), 422)
    assert "surprise" in detail(client.get(url, params={"surprise": 1}), 422)
    assert "no version" in detail(client.get(f"/api/projects/{song}/versions/9/export.zip"), 404)


@pytest.mark.slow
def test_quick_downloads_are_single_files_of_an_export(client, song) -> None:
    """The studio's WAV, FLAC, MP3, Stems and MIDI links fetched the stored files (24-bit at the song's rate,
    320 kbps, WAV stems), so the export form's sample rate or bit depth never reached them."""
    import symusic

    def got(name: str, media_type: str, **params) -> bytes:
        response = client.get(f"/api/projects/{song}/versions/1/export/{name}", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith(media_type)
        assert f"{song}-0001-{name}" in response.headers["content-disposition"]
        return response.content

    stored = soundfile.info(io.BytesIO(client.get(f"/api/projects/{song}/versions/1/mix.wav").content))
    info = soundfile.info(io.BytesIO(got("mix.wav", "audio/wav", sample_rate=48000, bit_depth=16)))
    assert (info.samplerate, info.subtype, stored.samplerate) == (48000, "PCM_16", 22050)
    assert abs(info.frames - stored.frames * 48000 / 22050) <= 1
    flac = soundfile.info(io.BytesIO(got("mix.flac", "audio/flac", bit_depth=16, format="mp3")))
    assert (flac.samplerate, flac.subtype) == (22050, "PCM_16")  # the link's format, whatever the form ticks
    assert len(got("mix.mp3", "audio/mpeg", mp3_kbps=96)) < len(got("mix.mp3", "audio/mpeg")) / 2
    archive = zipfile.ZipFile(io.BytesIO(got("stems.zip", "application/zip", stems="dry", format=["flac", "wav"])))
    stems = archive.namelist()
    assert stems and all(n.endswith(".flac") and "/stems/" not in n for n in stems), stems
    assert not any("reverb" in n for n in stems)  # dry stems have no reverb return
    markers = [m.text for m in symusic.Score.from_midi(got("song.mid", "audio/midi", chord_markers=True)).markers]
    plain = [m.text for m in symusic.Score.from_midi(got("song.mid", "audio/midi")).markers]
    assert len(markers) > len(plain) == 3  # intro, verse, chorus; then a chord a bar too
    url = f"/api/projects/{song}/versions/1/export"
    assert "FLAC holds 16 or 24" in detail(client.get(f"{url}/mix.flac", params={"bit_depth": 32}), 400)
    assert "stems 'none'" in detail(client.get(f"{url}/stems.zip", params={"stems": "none"}), 400)
    assert client.head(f"{url}/mix.wav", params={"bit_depth": 16}).headers["content-length"] == str(
        len(got("mix.wav", "audio/wav", bit_depth=16)))
    assert client.get(f"{url}/mix.ogg").status_code == 404


def test_the_export_query_offers_what_the_library_exports(client) -> None:
    from melodex import export

    query = {p["name"]: p["schema"] for p in client.get("/openapi.json").json()["paths"][
        "/api/projects/{pid}/versions/{version}/export.zip"]["get"]["parameters"]}
    assert query["format"]["items"]["enum"] == list(export.AUDIO_FORMATS)
    assert query["stems"]["enum"] == list(export.STEM_KINDS)
    assert query["sample_rate"]["anyOf"][0]["enum"] == list(export.SAMPLE_RATES)
    assert query["bit_depth"]["enum"] == list(export.BIT_DEPTHS)
    assert query["mp3_kbps"]["enum"] == list(export.MP3_KBPS)
    lufs = query["lufs"]["anyOf"][0]
    assert (lufs["minimum"], lufs["maximum"]) == export.LUFS_RANGE
    # and the studio's export form offers the same lists (GET /api/options)
    offered = client.get("/api/options").json()["export"]
    assert offered["formats"] == query["format"]["items"]["enum"] and offered["stems"] == query["stems"]["enum"]
    assert offered["sample_rates"] == query["sample_rate"]["anyOf"][0]["enum"]
    assert offered["bit_depths"] == query["bit_depth"]["enum"] and offered["mp3_kbps"] == query["mp3_kbps"]["enum"]
    assert tuple(offered["lufs"]) == export.LUFS_RANGE


@pytest.mark.slow
def test_rechord_gives_a_section_new_chords_and_a_bad_request_is_refused_on_arrival(client, song) -> None:
    from melodex.project import Project
    from melodex.tokens import decode

    url = f"/api/projects/{song}/rechord"
    jobs = client.get("/api/jobs", params={"project": song}).json()
    assert "unknown chord 'H7'" in detail(client.post(url, json={"section": "chorus", "chords": "H7"}), 400)
    assert "rechord: no chords" in detail(client.post(url, json={"section": "chorus", "chords": " | "}), 400)
    assert "no section named 'bridge'" in detail(client.post(url, json={"section": "bridge", "chords": "Am"}), 400)
    assert "chords" in detail(client.post(url, json={"section": "chorus"}), 422)
    assert client.get("/api/jobs", params={"project": song}).json() == jobs

    job = client.post(url, json={"section": "chorus", "chords": "Dm E7", "seed": 5})
    assert job.status_code == 202 and job.json()["kind"] == "rechord", job.text
    done = wait_for(client, job.json()["id"])
    assert done["result"] == {"version": "0002", "edit": "rechord chorus Dm E7"}, done
    score = decode(Project.open(client.app.state.studio.folder(song) / "song.melodex").load_version("2").events)
    starts = score.bar_starts()
    assert [str(c) for c in score.chords if starts[4] <= c.tick < starts[6]] == ["Dmin", "E7"]  # the chorus, bars 5-6
    view = client.get(f"/api/projects/{song}/versions/2/score.json").json()
    assert set(view["changed_bars"]) <= {4, 5}
    # the studio's chords chip follows the version: the chorus's bars now hold the new chords
    assert [c["name"] for c in view["chords"] if c["bar"] in (4, 5)] == ["Dm", "E7"]  # lead-sheet names since 8c0be2a


@pytest.mark.slow
def test_prune_drops_old_audio_and_a_pruned_version_still_plays_diffs_and_checks_out(client, song) -> None:
    folder = client.app.state.studio.folder(song) / "song.melodex"

    def disk() -> int:
        files = {(s.st_dev, s.st_ino): s.st_size for s in (p.stat() for p in folder.rglob("*.flac"))}
        return sum(files.values())  # a block hard-linked into several versions once

    assert client.post(f"/api/projects/{song}/prune").json() == {"pruned": [], "freed_bytes": 0, "current": "0001"}
    done = wait_for(client, client.post(f"/api/projects/{song}/tempo", json={"bpm": 90}).json()["id"])
    assert done["status"] == "done", done
    before = disk()
    pruned = client.post(f"/api/projects/{song}/prune").json()
    assert pruned["pruned"] == ["0001"] and pruned["current"] == "0002"
    assert pruned["freed_bytes"] == before - disk() > 0  # blocks 0002 shares (silence) stay
    assert client.get(f"/api/projects/{song}/diff").json()["changes"][-1] == (
        "audio not compared: version 0001 was pruned (check it out to render it again)")
    played = soundfile.read(io.BytesIO(client.get(f"/api/projects/{song}/versions/1/mix.flac").content))
    assert played[1] == 22050 and abs(played[0]).max() > 0.01  # played again from its notes and sounds
    assert client.post(f"/api/projects/{song}/undo").json() == {"current": "0001"}  # stored again
    assert disk() > before - pruned["freed_bytes"]
    assert client.post(f"/api/projects/{song}/prune").json()["pruned"] == ["0002"]
    assert "audio not compared: version 0002" in client.get(
        f"/api/projects/{song}/diff", params={"a": "1", "b": "2"}).json()["changes"][-1]


@pytest.mark.slow
def test_errors_and_notes_name_the_apis_fields_where_the_cli_names_its_flags(client, song) -> None:
    from melodex import brief
    from melodex.score import MAX_BARS

    bad_key = client.post("/api/projects", json={"prompt": PROMPT, "key": "H minor", **FAST})
    assert detail(bad_key, 422).startswith("key: 'H minor' is not a key")
    assert detail(client.post("/api/projects", json={"prompt": PROMPT, "meter": "5/0"}), 422).startswith(
        "meter: '5/0' is not a meter")
    assert detail(client.post(f"/api/projects/{song}/regen", json={}), 400).startswith("say what to rewrite")
    # A job queued past its route's check (an edit queued before it grew the song) fails inside the job.
    store, worker = client.app.state.store, client.app.state.worker
    job = store.submit(song, "extend", {"bars": MAX_BARS, "seed": None})
    worker.wake()
    assert wait_for(client, job.id)["error"].startswith(f"bars {MAX_BARS}: the song would have")
    created = client.post("/api/projects", json={"prompt": "piano and bass, 100 BPM, C major", "bpm": 120,
                                                 "form": FORM, **FAST})
    notes = wait_for(client, created.json()["job"]["id"])["result"]["notes"]
    assert "bpm 120 wins over the prompt's 100 BPM" in notes and not any("--" in n for n in notes)
    # outside the server (the command line) the same messages name the flags
    with pytest.raises(MelodexError, match=r"^--key 'H minor' is not a key"):
        brief.with_overrides(brief.parse(PROMPT), key="H minor")
    assert "--bpm 120 wins over the prompt's 100 BPM" in brief.with_overrides(brief.parse("piano, 100 BPM"),
                                                                               bpm=120).notes


@pytest.mark.slow
def test_create_takes_the_output_options_of_melodex_generate(client) -> None:
    """The create body takes generate's output options, typed as the export query types them; the project's
    files are written with them, and a bad one is refused on arrival in the API's terms."""
    from melodex import export

    body = client.get("/openapi.json").json()["components"]["schemas"]["CreateProject"]["properties"]
    assert body["format"]["items"]["enum"] == list(export.AUDIO_FORMATS)
    assert body["stems"]["enum"] == list(export.STEM_KINDS) and body["bit_depth"]["enum"] == list(export.BIT_DEPTHS)
    assert body["mp3_kbps"]["enum"] == list(export.MP3_KBPS)
    assert body["sample_rate"]["enum"] == list(export.SAMPLE_RATES)
    assert (body["lufs"]["anyOf"][0]["minimum"], body["lufs"]["anyOf"][0]["maximum"]) == export.LUFS_RANGE
    for bad, status, said in (({"format": ["ogg"]}, 422, "format.0: Input should be 'wav', 'flac' or 'mp3'"),
                              ({"bit_depth": 20}, 422, "bit_depth: Input should be 16, 24 or 32"),
                              ({"lufs": -50}, 422, "lufs: Input should be greater than or equal to -40"),
                              ({"format": ["flac"], "bit_depth": 32}, 400, "FLAC holds 16 or 24 bits"),
                              ({"lufs": -16, "master": False}, 400, "lufs -16 needs the master, which master false")):
        refused = detail(client.post("/api/projects", json={"prompt": PROMPT, **FAST, **bad}), status)
        assert refused.startswith(said) and "--" not in refused, refused
    assert client.get("/api/projects").json() == []  # nothing queued for a refused request

    created = client.post("/api/projects", json={
        "prompt": PROMPT, "form": FORM, **FAST, "format": ["flac", "mp3"], "stems": "dry", "bit_depth": 16,
        "mp3_kbps": 128, "lufs": -16, "click": True, "chord_markers": True})
    assert created.status_code == 202, created.text
    assert wait_for(client, created.json()["job"]["id"])["status"] == "done"
    folder = client.app.state.studio.projects_dir / created.json()["project"]
    assert {"mix.flac", "mix.mp3", "dry-mix.flac", "click.flac", "song.mid"} <= {p.name for p in folder.iterdir()}
    assert all(p.suffix == ".flac" for p in (folder / "stems").iterdir())
    info = soundfile.info(str(folder / "mix.flac"))
    assert (info.samplerate, info.subtype) == (22050, "PCM_16")
    options = client.get(f"/api/projects/{created.json()['project']}").json()["request"]["options"]
    assert (options["lufs"], options["stems"], options["mp3_kbps"], options["click"]) == (-16.0, "dry", 128, True)
