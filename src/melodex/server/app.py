"""Melodex Studio over HTTP: a FastAPI app that queues library calls and serves the studio page.

The routes only parse requests, call `Studio` (which calls melodex.pipeline and melodex.edit) and shape
the answer. Expected failures are `MelodexError`s and become 400/404/409 with their message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException

import melodex
from melodex import brief as brief_mod
from melodex import pipeline
from melodex.errors import MelodexError, api_terms
from melodex.export import ExportOptions
from melodex.instruments import ALIASES
from melodex.score import MAX_BARS
from melodex.server.guard import Guard, is_loopback
from melodex.server.jobs import Handler, Job, JobStore, Progress, Worker
from melodex.server.schema import (
    EVERY_ROUTE,
    CheckoutRequest,
    Choices,
    Created,
    CreateProject,
    Current,
    DiffOut,
    ExportChoices,
    ExportQuery,
    ExtendRequest,
    Health,
    JobOut,
    ProjectListed,
    ProjectOut,
    Pruned,
    RechordRequest,
    RegenRequest,
    RerenderRequest,
    RetimbreRequest,
    ScoreView,
    TempoRequest,
    TransposeRequest,
    VariationRequest,
    Versions,
    file_response,
    problems,
)
from melodex.server.studio import FORM_SECTIONS, SAMPLE_RATES, Busy, FormSection, NotFound, Studio

log = logging.getLogger("melodex.server")

STATIC = Path(__file__).parent / "static"
# The single files of an export (GET .../export/<name>, with the export's query), for the studio's quick links.
EXPORT_FILES = (("mix.wav", "audio/wav", "The mix as WAV"), ("mix.flac", "audio/flac", "The mix as FLAC"),
                ("mix.mp3", "audio/mpeg", "The mix as MP3"),
                ("stems.zip", "application/zip", "The stems in the first format, zipped (not with stems=none)"),
                ("song.mid", "audio/midi", "The MIDI file"))
METERS = ("4/4", "3/4", "6/8", "2/4", "12/8", "5/4", "7/8")


@dataclass(frozen=True)
class ServerOptions:
    """How the studio server runs. A token is required whenever `host` is not a loopback address."""

    data_dir: Path
    host: str = "127.0.0.1"
    token: str | None = None
    max_body_bytes: int = 64 * 1024
    cpu_threads: int | None = 2  # torch threads for jobs; None leaves torch's setting alone
    shutdown_grace_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise MelodexError(f"binding to {self.host} exposes the studio to the network: give --token")


# -- the app ----------------------------------------------------------------------------------------


def create_app(options: ServerOptions) -> FastAPI:
    """The studio app over one data folder. Its worker thread starts and stops with the app's lifespan."""
    data_dir = Path(options.data_dir)
    store = JobStore(data_dir / "jobs.sqlite3")
    studio = Studio(data_dir, store)

    def set_threads() -> None:
        if options.cpu_threads:
            import torch

            torch.set_num_threads(options.cpu_threads)

    def in_api_terms(handler: Handler) -> Handler:
        """A job's errors and notes name the API's fields, as its request's answers do (see `InApiTerms`)."""
        def run(job: Job, progress: Progress) -> dict[str, Any]:
            with api_terms():
                return handler(job, progress)

        return run

    worker = Worker(store, {kind: in_api_terms(handler) for kind, handler in studio.handlers().items()},
                    on_start=set_threads)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            yield
        finally:
            if not worker.stop(options.shutdown_grace_seconds):
                log.warning("a job was still running at shutdown; it will be reported as interrupted")
            store.close()

    app = FastAPI(title="Melodex Studio", version=melodex.__version__,
                  description="Generate, listen, regenerate sections and undo. Every change is a queued job.",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json", lifespan=lifespan, responses=EVERY_ROUTE)
    app.state.store, app.state.studio, app.state.worker = store, studio, worker
    # What each kind of route can answer besides 401/403. A route with parameters always lists 422 (else
    # FastAPI documents its own error list there, which is not what the handler below sends).
    found = problems(404, 422)
    ready = problems(404, 409, 422)
    edit_errors = problems(400, 404, 409, 413, 422)

    @app.exception_handler(MelodexError)
    async def melodex_error(_: Request, exc: MelodexError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Busy) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
            parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid"))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(HTTPException)
    async def no_route(request: Request, exc: HTTPException) -> JSONResponse:
        """Starlette's own 404/405 in the API's terms (the path is not echoed back)."""
        if exc.status_code == 404:
            detail = "no such route or file: the API's routes are listed at /openapi.json"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on this route: /openapi.json lists each route's methods"
        else:
            detail = str(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    def queued(job: Any) -> dict[str, Any]:
        worker.wake()
        return job.to_json()

    # -- reading ---------------------------------------------------------------------------------

    @app.get("/api/health", response_model=Health)
    def health() -> dict[str, Any]:
        return {"ok": True, "running": worker.current, "queued": sum(1 for j in store.jobs() if j.status == "queued")}

    @app.get("/api/options", response_model=Choices)
    def choices() -> dict[str, Any]:
        """What the controls offer: presets, keys, meters, form sections, instruments, sample rates."""
        return {"presets": pipeline.PRESETS, "default_preset": pipeline.DEFAULT_PRESET, "keys": brief_mod.key_names(),
                "meters": METERS, "sections": FORM_SECTIONS, "instruments": sorted(ALIASES),
                "sample_rates": SAMPLE_RATES, "renderers": ("timbre", "soundfont"), "max_bars": MAX_BARS,
                "max_prompt_chars": brief_mod.MAX_PROMPT_CHARS, "export": ExportChoices.of_library()}

    @app.get("/api/projects", response_model=list[ProjectListed])
    def list_projects() -> list[dict[str, Any]]:
        return [{"id": p["id"], "prompt": p["prompt"], "created": p["created"], **studio.state(p["id"])}
                for p in store.projects()]

    @app.get("/api/projects/{pid}", response_model=ProjectOut, responses=found)
    def project(pid: str) -> dict[str, Any]:
        return studio.summary(pid)

    @app.get("/api/projects/{pid}/versions", response_model=Versions, responses=ready)
    def versions(pid: str) -> dict[str, Any]:
        opened = studio.open_project(pid)
        return {"current": opened.current, "versions": opened.history}

    @app.get("/api/jobs", response_model=list[JobOut], responses=problems(422))
    def jobs(project: str | None = None) -> list[dict[str, Any]]:
        return [j.to_json() for j in store.jobs(project)]

    @app.get("/api/jobs/{job_id}", response_model=JobOut, responses=found)
    def job(job_id: str) -> dict[str, Any]:
        found = store.get(job_id)
        if found is None:
            raise NotFound(f"no job {job_id!r}: GET /api/jobs lists the jobs")
        return found.to_json()

    @app.delete("/api/jobs/{job_id}", response_model=JobOut, responses=ready)
    @app.post("/api/jobs/{job_id}/cancel", response_model=JobOut, responses=ready)
    def cancel_job(job_id: str) -> dict[str, Any]:
        """Cancel a queued job, or a running one before it starts writing (the project is then unchanged)."""
        found = store.get(job_id)
        if found is None:
            raise NotFound(f"no job {job_id!r}: GET /api/jobs lists the jobs")
        if not worker.cancel(job_id):
            raise Busy(f"job {job_id} is {found.status}: only queued or running jobs can be cancelled")
        current = store.get(job_id)
        assert current is not None
        return current.to_json()

    @app.delete("/api/projects/{pid}", status_code=204, responses=ready)
    def delete_project(pid: str) -> Response:
        """Delete a project and everything of it (files, versions, jobs)."""
        studio.delete(pid)
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}/events", response_class=StreamingResponse, responses={**found, 200: {
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
        "description": "`event: progress|done|failed` lines, each with `data:` a JobOut as JSON"}})
    async def job_events(job_id: str) -> StreamingResponse:
        """Server-Sent Events: one `progress` event per change, then `done` or `failed`, then the stream ends."""
        if store.get(job_id) is None:
            raise NotFound(f"no job {job_id!r}: GET /api/jobs lists the jobs")

        async def stream() -> AsyncIterator[str]:
            last, quiet = None, 0.0
            while True:
                current = store.get(job_id)
                if current is None:
                    return
                payload = json.dumps(current.to_json())
                if payload != last:
                    last, quiet = payload, 0.0
                    kind = current.status if current.status in ("done", "failed") else "progress"
                    yield f"event: {kind}\ndata: {payload}\n\n"
                    if kind != "progress":
                        return
                elif quiet > 15:
                    quiet = 0.0
                    yield ": still here\n\n"  # keeps proxies from closing an idle stream
                await asyncio.sleep(0.2)
                quiet += 0.2

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # -- changing --------------------------------------------------------------------------------

    @app.post("/api/projects", status_code=202, response_model=Created, responses=problems(400, 413, 422))
    def create_project(body: CreateProject) -> dict[str, Any]:
        """Queue a new project from a prompt and controls; answers at once with the project id and its job.
        The output fields (format, stems, bit depth, MP3 bitrate, loudness or no master, click, chord markers) say
        how the project's files are written, as `melodex generate` writes them; every edit keeps them."""
        opts = pipeline.GenerateOptions(
            seed=body.seed, preset=body.preset, guidance=body.guidance, temperature=body.temperature,
            top_p=body.top_p, timbre_cfg=body.cfg, timbre_steps=body.steps, renderer=body.renderer,
            bpm=body.bpm, key=body.key or None, meter=body.meter or None,
            instruments=tuple(i.strip() for i in body.instruments if i.strip()) or None, bars=body.bars,
            chords=body.chords, **body.export_options(body.sample_rate).generate_fields())
        pid, new_job, brief = studio.create(body.prompt, [FormSection(s.name, s.bars) for s in body.form], opts)
        worker.wake()
        return {"project": pid, "job": new_job.to_json(),
                "brief": [{"what": w, "value": v, "source": s} for w, v, s in brief.describe()],
                "notes": list(brief.notes)}

    def edit_route(kind: str, request: type[BaseModel], doc: str | None) -> None:
        """POST /api/projects/{pid}/`kind`: queue that edit of the project, its options a `request` body."""
        def endpoint(pid: str, body: BaseModel) -> dict[str, Any]:
            return queued(studio.submit_edit(pid, kind, body.model_dump()))

        endpoint.__name__ = endpoint.__qualname__ = kind  # the route's name and OpenAPI operation
        endpoint.__doc__ = doc
        endpoint.__annotations__ = {"pid": str, "body": request, "return": dict[str, Any]}  # FastAPI reads these
        app.post(f"/api/projects/{{pid}}/{kind}", status_code=202, response_model=JobOut,
                 responses=edit_errors)(endpoint)

    for kind, request, doc in (
        ("regen", RegenRequest,
         "Rewrite the notes of a section (or bars), optionally of some tracks; audio elsewhere stays identical."),
        ("rechord", RechordRequest,
         "New chords for a section (and its repeats); its pitched parts are rewritten around them, drums stay."),
        ("retimbre", RetimbreRequest, "A new sound for one track from words; the notes stay."),
        ("rerender", RerenderRequest, None),
        ("variation", VariationRequest, None),
        ("extend", ExtendRequest, None),
        ("tempo", TempoRequest, "Play the same notes at another tempo (a new version)."),
        ("transpose", TransposeRequest, "Move the song to another key (a new version); drums stay."),
    ):
        edit_route(kind, request, doc)

    @app.post("/api/projects/{pid}/checkout", response_model=Current, responses=edit_errors)
    def checkout(pid: str, body: CheckoutRequest) -> dict[str, str]:
        """Make a version current (undo / redo); nothing is deleted."""
        return {"current": studio.checkout(pid, body.version)}

    @app.post("/api/projects/{pid}/undo", response_model=Current, responses=ready)
    def undo(pid: str) -> dict[str, str]:
        """Go back to the version the current one was made from."""
        return {"current": studio.undo(pid)}

    @app.post("/api/projects/{pid}/redo", response_model=Current, responses=ready)
    def redo(pid: str) -> dict[str, str]:
        """Undo the last undo: go forward to the newest version made from the current one."""
        return {"current": studio.redo(pid)}

    @app.post("/api/projects/{pid}/prune", response_model=Pruned, responses=ready)
    def prune(pid: str) -> dict[str, Any]:
        """Free disk: drop the audio of every version but the current one. Their notes, sounds and settings stay,
        so they still play, download, diff and check out (their audio is played again when asked for)."""
        pruned, freed, current = studio.prune(pid)
        return {"pruned": pruned, "freed_bytes": freed, "current": current}

    @app.get("/api/projects/{pid}/diff", response_model=DiffOut, responses=problems(400, 404, 409, 422))
    def diff(pid: str, a: str | None = Query(None, max_length=16, description="default: b's parent"),
             b: str | None = Query(None, max_length=16, description="default: the current version")) -> dict[str, Any]:
        """What changed between two versions: notes per track and bar, timbres, and where the audio differs."""
        first, second, changes = studio.diff(pid, a, b)
        return {"a": first, "b": second, "changes": changes}

    # -- files -----------------------------------------------------------------------------------

    def file(path: Path, media_type: str, filename: str | None = None) -> FileResponse:
        resolved = path.resolve()
        if not resolved.is_relative_to(studio.data_dir) or not resolved.is_file():
            raise NotFound("no such file for this version: /openapi.json lists the files a version has")
        return FileResponse(resolved, media_type=media_type, filename=filename,
                            headers={"Cache-Control": "no-cache"})

    @app.get("/api/projects/{pid}/versions/{version}/mix.wav", response_class=FileResponse,
             responses=file_response("audio/wav", "The mix, 24-bit WAV"))
    def mix(pid: str, version: str) -> FileResponse:
        return file(studio.version_dir(pid, version) / "mix.wav", "audio/wav")

    @app.get("/api/projects/{pid}/versions/{version}/mix.flac", response_class=FileResponse,
             responses=file_response("audio/flac", "The mix, 24-bit FLAC with BPM and key tags", 400))
    def mix_flac(pid: str, version: str) -> FileResponse:
        """The mix as 24-bit FLAC, with BPM and key tags (GET .../export/mix.flac takes the export's options)."""
        return file(studio.export_file(pid, version, "mix.flac", ExportOptions()), "audio/flac",
                    filename=f"{pid}-{version}.flac")

    @app.get("/api/projects/{pid}/versions/{version}/mix.mp3", response_class=FileResponse,
             responses=file_response("audio/mpeg", "The mix, 320 kbps MP3 with BPM and key tags", 400))
    def mix_mp3(pid: str, version: str) -> FileResponse:
        """The mix as 320 kbps MP3, with BPM and key tags (GET .../export/mix.mp3 takes the export's options)."""
        return file(studio.export_file(pid, version, "mix.mp3", ExportOptions()), "audio/mpeg",
                    filename=f"{pid}-{version}.mp3")

    @app.get("/api/projects/{pid}/versions/{version}/stems/{number}.wav", response_class=FileResponse,
             responses=file_response("audio/wav", "One track's stem, by its number from 1 as its file is named "
                                     "(01-...; the number after the last track: the reverb return). Before "
                                     "2026-12-08 this counted from 0"))
    def stem(pid: str, version: str, number: int) -> FileResponse:
        path = studio.stem_file(pid, version, number)
        return file(path, "audio/wav", filename=path.name)

    @app.get("/api/projects/{pid}/versions/{version}/stems.zip", response_class=FileResponse,
             responses=file_response("application/zip", "Every stem and the reverb return; they add up to the mix"))
    def stems(pid: str, version: str) -> FileResponse:
        return file(studio.stems_zip(pid, version), "application/zip", filename=f"{pid}-stems.zip")

    @app.get("/api/projects/{pid}/versions/{version}/export.zip", response_class=FileResponse,
             responses=file_response("application/zip", "The version as `melodex export` writes it with these "
                                     "options: mix in each format, stems, MIDI (and click)", 400))
    def export(pid: str, version: str, query: Annotated[ExportQuery, Query()]) -> FileResponse:
        """The version exported with the options of `melodex export`: formats, stems, sample rate, bit depth,
        MP3 bitrate, loudness or no master, one section as a loop, a click, chord markers."""
        return file(studio.export_zip(pid, version, query.options()), "application/zip",
                    filename=f"{pid}-{studio.resolve(pid, version)}-export.zip")

    def export_route(name: str, media_type: str) -> Callable[..., FileResponse]:
        def export_file(pid: str, version: str, query: Annotated[ExportQuery, Query()]) -> FileResponse:
            vid = studio.resolve(pid, version)
            return file(studio.export_file(pid, vid, name, query.options()), media_type,
                        filename=f"{pid}-{vid}-{name}")

        return export_file

    for name, media_type, what in EXPORT_FILES:
        app.add_api_route(
            f"/api/projects/{{pid}}/versions/{{version}}/export/{name}", export_route(name, media_type),
            methods=["GET"], response_class=FileResponse, responses=file_response(media_type, what, 400),
            name=f"export_{name.replace('.', '_')}", summary=f"Export {name}",
            description=f"{what}, exported with the query of GET .../export.zip (the studio's quick downloads): "
            "sample rate, bit depth, MP3 bitrate, loudness or no master, one section, chord markers.")

    @app.get("/api/projects/{pid}/versions/{version}/song.mid", response_class=FileResponse,
             responses=file_response("audio/midi", "The MIDI file: instrument track names, section markers, CC7/CC10"))
    def midi(pid: str, version: str) -> FileResponse:
        return file(studio.version_dir(pid, version) / "song.mid", "audio/midi", filename=f"{pid}.mid")

    @app.get("/api/projects/{pid}/versions/{version}/score.json", response_class=FileResponse,
             responses={**ready, 200: {"model": ScoreView, "description": "The notes in seconds, sections, bars"}})
    def score(pid: str, version: str) -> FileResponse:
        """The notes in seconds (start, duration, pitch, velocity) per track, sections and bar lines."""
        return file(studio.version_dir(pid, version) / "score.json", "application/json")

    @app.get("/api/projects/{pid}/versions/{version}/spectrogram.png", response_class=FileResponse,
             responses=file_response("image/png", "A log-frequency spectrogram of the mix"))
    def spectrogram(pid: str, version: str) -> FileResponse:
        return file(studio.version_dir(pid, version) / "spectrogram.png", "image/png")

    @app.get("/api/projects/{pid}/project.zip", response_class=FileResponse,
             responses=file_response("application/zip", "The project folder with every version"))
    def project_zip(pid: str) -> FileResponse:
        """The whole project folder: current files and song.melodex with every version."""
        return file(studio.project_zip(pid), "application/zip", filename=f"melodex-{pid}.zip")

    # HEAD on every file: its size and type without the body (a link checker, a player deciding to fetch; the
    # studio asks before every download, so a refusal shows its detail). In the schema, with the GET's answers.
    from fastapi.routing import APIRoute

    for route in [r for r in app.routes if isinstance(r, APIRoute) and r.response_class is FileResponse]:
        app.add_api_route(route.path, route.endpoint, methods=["HEAD"], response_class=FileResponse,
                          responses=route.responses, operation_id=f"{route.name}_head",
                          summary=f"{route.summary or route.name.replace('_', ' ').capitalize()} (headers only)")

    # -- the page --------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(InApiTerms)
    app.add_middleware(Guard, token=options.token, max_body_bytes=options.max_body_bytes)
    return app


class InApiTerms:
    """ASGI middleware: every request is answered in the API's terms (`melodex.errors.option_name`), so a
    message names the field to change (`bpm`), not the command line's flag (`--bpm`)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        with api_terms():
            await self.app(scope, receive, send)
