"""The studio's web layer: a JSON API over `midivae.api`, and the page that uses it.

Every request is validated here (sizes, counts, ranges, an uploaded file's length
and kind) and a bad one gets HTTP 400 with ``{"error": "<one line>"}``, which the
page shows; the server never answers a user's mistake with a server error. Model
calls run in a worker thread (`starlette.concurrency.run_in_threadpool`), one at a
time, so the event loop keeps answering while a model decodes.

A clip is a `PianoRoll` the server keeps under an id (the last ``MAX_CLIPS`` of
them); the page gets it as JSON (`clip_json`: its notes per track, bars and
tempo) and downloads it as MIDI, MusicXML or WAV by id.

Endpoints (JSON in and out unless said):

- ``GET /api/models``: the models to pick from;
- ``POST /api/sample`` {model, n, temperature, bars, qpm, label, seed};
- ``POST /api/interpolate`` {model, a, b, steps}: clip ids at both ends;
- ``POST /api/upload?model=NAME&name=FILE`` (the MIDI file as the body): the
  file fitted to the model, as a clip;
- ``POST /api/variations`` {model, clip, n, amount, seed};
- ``GET /api/directions?model=NAME``; ``POST /api/move`` {model, clip, moves}:
  the clip moved along latent directions (`directions`);
- ``POST /api/inpaint`` {model, clip, bars: [first, last] counted from 1};
  ``POST /api/harmonise`` {model, clip, keep: [track names]};
- ``GET /api/clips/ID.mid | .musicxml | .wav``;
- ``POST /api/bundle`` {clips, format: "mid" | "zip"}: the clips one after another
  in one MIDI file, or each as a file in a zip.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, Callable

from midivae.studio.files import FORMATS, one_midi, zipped
from midivae.studio.session import MAX_CLIPS, BadRequest, Studio

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOAD = 2 * 2**20  # bytes of an uploaded MIDI file
MAX_SAMPLES, MAX_BARS, MAX_PATH = 16, 64, 16
MAX_MOVE = 3.0  # how far a slider moves along a direction, in its own units


# -- request fields ----------------------------------------------------------------------

def number(body: dict, name: str, default, lo: float, hi: float, *, whole: bool = False):
    """body[name] (``default`` when absent), a number in lo..hi (whole when asked)."""
    value = body.get(name, default)
    if value is None and default is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and whole:
        ok = float(value).is_integer()
    if not ok or not lo <= value <= hi:
        kind = "a whole number" if whole else "a number"
        raise BadRequest(f"{name} must be {kind} from {lo:g} to {hi:g}, got {value!r}")
    return int(value) if whole else float(value)


def text_list(body: dict, name: str, limit: int = 32) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not value or len(value) > limit \
            or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of 1 to {limit} names, got {value!r}")
    return value


def create_app(studio: Studio):
    """The Starlette app of ``studio``: the page at ``/``, its files under ``/static``, and the
    JSON API of the module docstring."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from midivae.errors import MidivaeError

    async def call(fn: Callable[[], Any]) -> Any:
        def locked():
            with studio.lock:
                return fn()
        return await run_in_threadpool(locked)

    def endpoint(handler):
        async def wrapped(request: Request):
            try:
                return await handler(request)
            except BadRequest as err:
                return JSONResponse({"error": str(err)}, status_code=400)
            except MidivaeError as err:  # the piece or the model says no: a user's problem
                return JSONResponse({"error": str(err)}, status_code=400)
        return wrapped

    async def body_of(request: Request) -> dict:
        raw = await request.body()
        if len(raw) > 64 * 1024:
            raise BadRequest("request too large")
        import json
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise BadRequest("the request is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the request must be a JSON object")
        return body

    async def index(request: Request):
        return FileResponse(STATIC / "index.html")

    async def models(request: Request):
        return JSONResponse({"models": await call(studio.describe)})

    async def sample(request: Request):
        body = await body_of(request)
        name = body.get("model")
        model = studio.model(name)
        n = number(body, "n", 1, 1, MAX_SAMPLES, whole=True)
        temperature = number(body, "temperature", 0.5, 0, 2)
        bars = number(body, "bars", model.bars, 1, MAX_BARS, whole=True)
        if bars % model.bars:
            raise BadRequest(f"bars must be a multiple of {model.bars} for model {name!r}, "
                             f"got {bars}")
        qpm = number(body, "qpm", None, 20, 300)
        seed = number(body, "seed", None, 0, 2**31 - 1, whole=True)
        label = body.get("label") or None
        if label is not None or model.labels:
            try:
                model.label_index(label)
            except MidivaeError as err:
                raise BadRequest(str(err)) from None

        def make():
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a silent clip shows as one
                rolls = model.sample(n, temperature=temperature, bars=bars, seed=seed,
                                     label=label)
            return [studio.keep(name, r if qpm is None else r.replace(tempos=[(0, qpm)]),
                                f"sample {i + 1}") for i, r in enumerate(rolls)]
        return JSONResponse({"clips": await call(make)})

    async def interpolate(request: Request):
        body = await body_of(request)
        name = body.get("model")
        model = studio.model(name)
        (_, a), (_, b) = studio.clip(body.get("a")), studio.clip(body.get("b"))
        steps = number(body, "steps", 8, 2, MAX_PATH, whole=True)

        def make():
            path = model.interpolate(a, b, steps, temperature=0.0)
            return [studio.keep(name, r, f"path {i + 1}/{steps}") for i, r in enumerate(path)]
        return JSONResponse({"clips": await call(make)})

    async def upload(request: Request):
        name = request.query_params.get("model")
        model = studio.model(name)
        filename = Path(request.query_params.get("name") or "upload.mid").name[:80]
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_UPLOAD:
                raise BadRequest(f"{filename}: larger than {MAX_UPLOAD // 2**20} MB; a MIDI "
                                 "file to compose from is far smaller")
        if not raw.startswith(b"MThd"):
            raise BadRequest(f"{filename}: not a MIDI file (it does not start with MThd)")

        def make():
            import warnings
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / filename
                path.write_bytes(raw)
                with warnings.catch_warnings(record=True) as said:
                    warnings.simplefilter("always")
                    try:
                        roll = model.fit_piece(path)
                    except MidivaeError as err:  # named by the file's own name, not ours
                        raise BadRequest(str(err).replace(str(path), filename)) from None
            clip = studio.keep(name, roll, filename)
            clip["warnings"] = [str(w.message).replace(str(path), filename) for w in said]
            return clip
        return JSONResponse({"clip": await call(make)})

    async def variations(request: Request):
        body = await body_of(request)
        name = body.get("model")
        model = studio.model(name)
        _, roll = studio.clip(body.get("clip"))
        n = number(body, "n", 4, 1, MAX_SAMPLES, whole=True)
        amount = number(body, "amount", 0.3, 0, 1)
        seed = number(body, "seed", None, 0, 2**31 - 1, whole=True)

        def make():
            rolls = model.variations(roll, n, amount=amount, seed=seed)
            return [studio.keep(name, r, f"variation {i + 1}") for i, r in enumerate(rolls)]
        return JSONResponse({"clips": await call(make)})

    async def directions(request: Request):
        name = request.query_params.get("model")
        studio.model(name)
        found = await call(lambda: studio.directions(name))
        return JSONResponse({"directions": list(found)})

    async def move(request: Request):
        body = await body_of(request)
        name = body.get("model")
        model = studio.model(name)
        _, roll = studio.clip(body.get("clip"))
        moves = body.get("moves")
        if not isinstance(moves, dict) or len(moves) > 16:
            raise BadRequest(f"moves must be an object of direction: amount, got {moves!r}")

        def make():
            found = studio.directions(name)
            for k in moves:
                if k not in found:
                    raise BadRequest(f"unknown direction {k!r}; there are {', '.join(found)}")
            amounts = {k: number(moves, k, 0, -MAX_MOVE, MAX_MOVE) for k in moves}
            vector = sum((a * found[k] for k, a in amounts.items()),
                         start=0 * next(iter(found.values())))
            whole = model.steer(roll, vector)
            said = ", ".join(f"{k} {a:+.1f}" for k, a in amounts.items() if a) or "unmoved"
            return studio.keep(name, whole, said)
        return JSONResponse({"clip": await call(make)})

    async def inpaint(request: Request):
        body = await body_of(request)
        name = body.get("model")
        model = studio.model(name)
        _, roll = studio.clip(body.get("clip"))
        bars = body.get("bars")
        if not (isinstance(bars, list) and len(bars) == 2):
            raise BadRequest(f"bars must be [first, last], counted from 1, got {bars!r}")
        first = number({"first": bars[0]}, "first", None, 1, 10**6, whole=True)
        last = number({"last": bars[1]}, "last", None, first, 10**6, whole=True)
        seed = number(body, "seed", None, 0, 2**31 - 1, whole=True)

        def make():
            out = model.inpaint(roll, (first - 1, last), seed=seed)
            return studio.keep(name, out, f"bars {first}-{last} anew")
        return JSONResponse({"clip": await call(make)})

    async def harmonise(request: Request):
        body = await body_of(request)
        name = body.get("model")
        model = studio.model(name)
        _, roll = studio.clip(body.get("clip"))
        keep = text_list(body, "keep")
        seed = number(body, "seed", None, 0, 2**31 - 1, whole=True)

        def make():
            out = model.harmonise(roll, keep, seed=seed)
            return studio.keep(name, out, f"{', '.join(keep)} kept")
        return JSONResponse({"clip": await call(make)})

    async def download(request: Request):
        clip_id, kind = request.path_params["clip"], request.path_params["kind"]
        _, roll = studio.clip(clip_id)
        if kind not in FORMATS:
            raise BadRequest(f"unknown format {kind!r}; use mid, musicxml or wav")
        data = await call(lambda: FORMATS[kind][0](roll))
        return Response(data, media_type=FORMATS[kind][1], headers={
            "Content-Disposition": f'attachment; filename="midivae-{clip_id}.{kind}"'})

    async def bundle(request: Request):
        body = await body_of(request)
        ids = text_list(body, "clips", limit=MAX_CLIPS)
        rolls = [studio.clip(i)[1] for i in ids]
        kind = body.get("format", "mid")
        if kind not in ("mid", "zip"):
            raise BadRequest(f"format must be mid or zip, got {kind!r}")
        data = await call(lambda: one_midi(rolls) if kind == "mid"
                          else zipped(ids, rolls))
        media = "audio/midi" if kind == "mid" else "application/zip"
        return Response(data, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="midivae-favourites.{kind}"'})

    routes = [Route("/", index),
              Route("/api/models", endpoint(models)),
              Route("/api/sample", endpoint(sample), methods=["POST"]),
              Route("/api/interpolate", endpoint(interpolate), methods=["POST"]),
              Route("/api/upload", endpoint(upload), methods=["POST"]),
              Route("/api/variations", endpoint(variations), methods=["POST"]),
              Route("/api/directions", endpoint(directions)),
              Route("/api/move", endpoint(move), methods=["POST"]),
              Route("/api/inpaint", endpoint(inpaint), methods=["POST"]),
              Route("/api/harmonise", endpoint(harmonise), methods=["POST"]),
              Route("/api/bundle", endpoint(bundle), methods=["POST"]),
              Route("/api/clips/{clip}.{kind}", endpoint(download)),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    return Starlette(routes=routes)
