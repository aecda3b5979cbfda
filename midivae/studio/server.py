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

import io
import math
import tempfile
import threading
import uuid
import wave
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np

STATIC = Path(__file__).resolve().parent / "static"
MAX_CLIPS = 500  # clips kept; the oldest go first
MAX_UPLOAD = 2 * 2**20  # bytes of an uploaded MIDI file
MAX_SAMPLES, MAX_BARS, MAX_PATH = 16, 64, 16
MAX_MOVE = 3.0  # how far a slider moves along a direction, in its own units
DIRECTION_SAMPLES = 96  # prior samples the attribute directions are measured on
AXES = 2  # main axes of the latent space offered beside the attributes


class BadRequest(ValueError):
    """A request the studio refuses: HTTP 400 with its message."""


class Studio:
    """The models a studio offers, its clips, and each model's latent directions.

    Parameters
    ----------
    models : list of str
        Shipped names or checkpoints; the first is the one the page starts with.
    """

    def __init__(self, models: list[str]):
        if not models:
            raise ValueError("a studio needs at least one model")
        self.names = list(dict.fromkeys(models))
        self._models: dict[str, Any] = {}
        self._directions: dict[str, dict[str, Any]] = {}
        self.clips: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self.lock = threading.Lock()  # one model call at a time

    # -- models --------------------------------------------------------------------
    def model(self, name: Any):
        """The model called ``name`` (loaded on first use); BadRequest for another name."""
        import midivae

        if not isinstance(name, str) or name not in self.names:
            raise BadRequest(f"unknown model {name!r}; this studio has {', '.join(self.names)}")
        if name not in self._models:
            self._models[name] = midivae.load(name)
        return self._models[name]

    def describe(self) -> list[dict]:
        """What the page shows of each model; shipped ones from their cards, unloaded."""
        from midivae.zoo import shipped_models

        cards = {m.name: m for m in shipped_models()}
        out = []
        for name in self.names:
            if name in cards and name not in self._models:
                c = cards[name]
                out.append({"name": name, "tracks": list(c.tracks), "bars": c.bars,
                            "meter": list(c.meter), "labels": list(c.labels),
                            "temperature": c.temperature, "about": c.about})
                continue
            m = self.model(name)
            out.append({"name": name, "tracks": [t.name for t in m.tracks], "bars": m.bars,
                        "meter": list(m.meter), "labels": list(m.labels),
                        "temperature": cards[name].temperature if name in cards else 1.0,
                        "about": cards[name].about if name in cards else name})
        return out

    # -- clips ---------------------------------------------------------------------
    def keep(self, model: str, roll, title: str) -> dict:
        clip_id = uuid.uuid4().hex[:12]
        self.clips[clip_id] = (model, roll)
        while len(self.clips) > MAX_CLIPS:
            self.clips.popitem(last=False)
        return clip_json(clip_id, model, roll, title)

    def clip(self, clip_id: Any):
        """(model name, roll) of a kept clip; BadRequest when there is none of that id."""
        if not isinstance(clip_id, str) or clip_id not in self.clips:
            raise BadRequest(f"no clip {clip_id!r} (clips are kept for this session only)")
        return self.clips[clip_id]

    # -- latent directions ---------------------------------------------------------
    def directions(self, name: str) -> dict[str, Any]:
        """Directions in the model's latent space, each a (Z,) tensor one slider unit long:
        note density, register and syncopation (MusicVAE's attribute vectors, Roberts et al.
        2018 sec. 5.4: the mean latent of the quarter of prior samples with the most of it
        less that of the quarter with the least, halved), and the ``AXES`` main axes of the
        samples' latents (principal directions, one standard deviation long)."""
        if name not in self._directions:
            import torch

            model = self.model(name)
            samples = model.sample(DIRECTION_SAMPLES, temperature=0.5, seed=0)
            z, _ = model.encode(samples)  # (W, Z); one window a sample
            values = attributes(samples)
            found = {}
            for attr, v in values.items():
                order = np.argsort(v, kind="stable")
                q = max(1, len(order) // 4)
                found[attr] = (z[order[-q:]].mean(0) - z[order[:q]].mean(0)) / 2
            centred = z - z.mean(0)
            _, s, vh = torch.linalg.svd(centred, full_matrices=False)
            for i in range(min(AXES, len(s))):
                found[f"axis {i + 1}"] = vh[i] * s[i] / math.sqrt(max(len(z) - 1, 1))
            self._directions[name] = found
        return self._directions[name]


def attributes(rolls) -> dict[str, np.ndarray]:
    """Per roll: notes a bar ("density"), mean pitch of its pitched notes ("register"), and
    the share of its onsets off the beat ("syncopation")."""
    out = {"density": [], "register": [], "syncopation": []}
    for r in rolls:
        bars = max(len(r.bar_starts()), 1)
        t = np.nonzero(r.onset)
        out["density"].append(len(t[0]) / bars)
        out["register"].append(float(t[2].mean()) if len(t[0]) else 0.0)
        out["syncopation"].append(float((t[1] % r.steps_per_beat != 0).mean())
                                  if len(t[0]) else 0.0)
    return {k: np.asarray(v) for k, v in out.items()}


def clip_json(clip_id: str, model: str, roll, title: str) -> dict:
    """What the page draws and plays: notes per track as [pitch, start, end, velocity] in
    steps, and the grid."""
    notes = roll.notes()
    tracks = []
    for k, t in enumerate(roll.tracks):
        mine = notes[notes["track"] == k]
        tracks.append({"name": t.name, "drum": t.is_drum,
                       "notes": [[int(n["pitch"]), int(n["start"]), int(n["end"]),
                                  int(n["velocity"])] for n in mine]})
    lines = roll.bar_starts().tolist()
    return {"id": clip_id, "model": model, "title": title, "steps": roll.n_steps,
            "steps_per_beat": roll.steps_per_beat, "bar_lines": lines,
            "qpm": roll.tempos[0][1], "tracks": tracks, "notes": int(roll.n_notes)}


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


# -- files ---------------------------------------------------------------------------------

def midi_bytes(roll) -> bytes:
    buf = io.BytesIO()
    roll.to_midi().save(file=buf)
    return buf.getvalue()


def musicxml_bytes(roll) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.musicxml"
        roll.to_musicxml(path)
        return path.read_bytes()


def wav_bytes(roll) -> bytes:
    """The roll through the General MIDI SoundFont (`midivae.audio`), as a WAV file."""
    import warnings

    from midivae.audio import synthesize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without tinysoundfont: sine synthesis, as said there
        audio, _ = synthesize(roll, sample_rate=22050)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


FORMATS = {"mid": (midi_bytes, "audio/midi"),
           "musicxml": (musicxml_bytes, "application/vnd.recordare.musicxml+xml"),
           "wav": (wav_bytes, "audio/wav")}


def one_midi(rolls) -> bytes:
    """The clips one after another in one MIDI file (each track of the first clip's model;
    clips of other models keep their own tracks as further tracks)."""
    from midivae.roll import concatenate

    same = len({tuple(r.tracks) for r in rolls}) == 1
    if same:
        return midi_bytes(concatenate([r.replace(key_signatures=[]) for r in rolls]))
    raise BadRequest("the clips come from models with other tracks: download them as a zip")


def zipped(ids: list[str], rolls) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i, (clip_id, roll) in enumerate(zip(ids, rolls)):
            z.writestr(f"{i + 1:02d}-{clip_id}.mid", midi_bytes(roll))
    return buf.getvalue()
