"""Two studio measurements for docs/RESULTS.md (issue 20, point 5), with the tests' tiny models:

    python tests/helpers/server_probe.py link HOST [PORT]   # `melodex serve --host HOST`: the link it prints,
                                                            # then that link and the bare address fetched
    python tests/helpers/server_probe.py cache [VERSIONS] [MB]  # previews of many versions under a small bound

The cache probe lowers the bound (256 MB shipped) so a few dozen tiny versions pass it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HELPERS = Path(__file__).parent
sys.path.insert(0, str(HELPERS))
from robustness import env  # noqa: E402

PROMPT = "piano and bass, 120 BPM, C major"
FORM = [{"name": "intro", "bars": 2}, {"name": "verse", "bars": 2}, {"name": "chorus", "bars": 2}]
FAST = {"renderer": "soundfont", "sample_rate": 22050, "steps": 2}


def status(url: str, opener: urllib.request.OpenerDirector | None = None, **headers: str) -> int:
    try:
        with (opener or urllib.request.build_opener()).open(urllib.request.Request(url, headers=headers),
                                                             timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def link(host: str, port: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, str(HELPERS / "tiny_cli.py"), "serve", "--host", host,
                                   "--port", str(port), "--data", tmp], env=env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            assert server.stdout is not None
            line = server.stdout.readline().strip()
            print(f"printed: {line}")
            shown = line.split()[2]
            bare = shown.split("?")[0]
            for _ in range(60):  # uvicorn binds just after the line is printed
                try:
                    urllib.request.urlopen(bare + "api/health", timeout=2)
                except urllib.error.HTTPError:
                    break
                except OSError:
                    time.sleep(0.5)
            token = shown.split("token=")[1] if "token=" in shown else ""
            browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())  # keeps the cookie
            print(f"the printed link, as a browser (its redirect sets the cookie): {status(shown, browser)}")
            print(f"then /api/health in that browser: {status(bare + 'api/health', browser)}")
            if not token:
                return
            print(f"/api/health with 'Authorization: Bearer <token>': "
                  f"{status(bare + 'api/health', Authorization=f'Bearer {token}')}")
            for name, url in (("no token", bare), ("wrong token", bare + "?token=x"),
                              ("/api/health, no token", bare + "api/health")):
                print(f"{name}: {status(url, urllib.request.build_opener(urllib.request.HTTPCookieProcessor()))}")
        finally:
            server.terminate()
            server.wait(timeout=30)


def cache(versions: int, bound_mb: float) -> None:
    from fastapi.testclient import TestClient

    from melodex.server import ServerOptions, create_app
    from melodex.server import studio as studio_module
    from tiny_cli import use_tiny_models

    use_tiny_models()
    bound = int(bound_mb * (1 << 20))
    studio_module.Studio.__init__.__defaults__ = (bound,)  # the shipped bound is 256 MB
    with tempfile.TemporaryDirectory() as tmp, TestClient(
            create_app(ServerOptions(data_dir=Path(tmp), cpu_threads=None)), base_url="http://127.0.0.1") as client:
        def wait(job: dict) -> None:
            while (done := client.get(f"/api/jobs/{job['id']}").json())["status"] not in ("done", "failed",
                                                                                           "cancelled"):
                time.sleep(0.2)
            if done["status"] != "done":
                raise SystemExit(f"job {job.get('kind', '')} {done['status']}: {done.get('error')}")

        made = client.post("/api/projects", json={"prompt": PROMPT, "form": FORM, "seed": 3, **FAST}).json()
        wait(made["job"])
        pid, cache_dir = made["project"], Path(tmp) / "cache"
        largest, served, made_bytes = 0, 0, 0
        for index in range(versions):
            if index:
                wait(client.post(f"/api/projects/{pid}/transpose",
                                 json={"semitones": 1 if index % 2 else -1}).json())
            response = client.get(f"/api/projects/{pid}/versions/current/mix.wav")
            served += response.status_code == 200
            current = client.get(f"/api/projects/{pid}").json()["current"]
            made_bytes += sum(f.stat().st_size for f in (cache_dir / pid / current).rglob("*") if f.is_file())
            size = sum(f.stat().st_size for f in cache_dir.rglob("*") if f.is_file())
            largest = max(largest, size)
            previews = sum(1 for d in cache_dir.glob("*/*") if d.is_dir())
            print(f"version {index + 1}: cache {size / 2**20:.1f} MB in {previews} previews", flush=True)
        first = client.get(f"/api/projects/{pid}/versions/1/mix.wav").status_code  # trimmed long ago: made again
        size = sum(f.stat().st_size for f in cache_dir.rglob("*") if f.is_file())
        print(f"version 1 asked for again: {first}; cache {size / 2**20:.1f} MB")
        print(f"{versions} versions previewed ({served} mix.wav served), bound {bound_mb:g} MB: "
              f"largest cache {largest / 2**20:.1f} MB; the previews made add up to {made_bytes / 2**20:.1f} MB")


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "200")
    if sys.argv[1] == "link":
        link(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 18765)
    else:
        cache(int(sys.argv[2]) if len(sys.argv) > 2 else 20, float(sys.argv[3]) if len(sys.argv) > 3 else 10.0)
