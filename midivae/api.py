"""The one-line API: a trained model by name or path, with PianoRolls and MIDI files in and out.

    import midivae
    model = midivae.load("chorale")          # a shipped name, or a checkpoint file or run folder
    clips = model.sample(4, temperature=0.8, bars=8, seed=1)
    clips[0].save("clip.mid")
    path = model.interpolate("a.mid", "b.mid", steps=8)
    var = model.variations("my_song.mid", n=4, amount=0.3)
    filled = model.inpaint("my_song.mid", bars=(4, 8))   # bars 5-8 written anew
    parts = model.harmonise("melody.mid", keep=["soprano"])

Every method that takes a piece takes a `PianoRoll` or a MIDI file path, and
`Model.fit` makes it fit the model: the file's tracks mapped onto the model's
tracks, its notes moved by whole octaves into the model's pitches, its meter
checked, and the piece cut at bar lines into the model's windows. Pieces come
back whole, in their own register, tempo and meter.

Latent moves share one rule, ``z' = sqrt(1 - a^2) z + a e`` with e ~ N(0, I): it
keeps a prior draw a prior draw (the variances add to one), ``a = 0`` stays at
z and ``a = 1`` forgets it. Variations take it once from a window's latent;
clips longer than a window take it from window to window.

`inpaint`, `harmonise` and `continuation` keep the music given and write the
rest to fit it (`midivae.run.completion`, `VAE.complete`).
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from midivae.run import completion, generate
from midivae.run.checkpoint import checkpoint_paths, load_checkpoint, read_settings
from midivae.errors import MeterError, ModelError
from midivae.data.fitting import Fitted, Piece, Roles, fit_piece, moved, roles_for
from midivae.midi.keys import key_events
from midivae.midi.layout import RollLayout
from midivae.midi.roll import PianoRoll, Track, concatenate
from midivae.run.zoo import Folders, find_model, shipped_models

# called as progress(windows written, windows) by the verbs that write a piece's windows
Progress = Optional[Callable[[int, int], None]]
# windows decoded at once by `Model.decode` (and so `reconstruct`, `variations`): a song's
# windows go in batches of this many, each batch reported to ``progress``
DECODE_WINDOWS = 8

# How far each window's latent moves from the one before in a clip longer than a
# window (the rule in the module docstring): about 0.8 of it is kept, so the clip
# keeps its character from window to window while each window is still a prior draw.
WINDOW_TO_WINDOW = 0.6
# Draws a window that `inpaint`, `harmonise` and `continuation` weigh against the music
# given (`VAE.complete`)
PARTICLES = 16


def load(model: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
         folders: Folders = None) -> "Model":
    """A model by shipped name (see `midivae.run.zoo`) or checkpoint path; None: the default
    shipped model.

    A plain name (no folder, no suffix) that a shipped model has is that model;
    anything else is a checkpoint file or a ``midivae train`` run folder.
    Raises `ModelError` for an unknown name, `CheckpointError` for a bad file.
    """
    if model is None or _is_name(model) and not checkpoint_paths(model)[0].exists():
        shipped = find_model(None if model is None else str(model), folders)
        loaded = Model.from_checkpoint(shipped.path, name=shipped.name, device=device)
        loaded.temperature, loaded.rules = shipped.temperature, shipped.rules
        loaded.onset_bias = dict(shipped.onset_bias)
        loaded.every_track = shipped.every_track
        return loaded
    return Model.from_checkpoint(model, device=device)


def _is_name(text: str | os.PathLike) -> bool:
    text = os.fspath(text)
    return bool(text) and os.sep not in text and "/" not in text and not Path(text).suffix


class Model:
    """A trained VAE with PianoRolls and MIDI files in and out; see the module docstring.

    Parameters
    ----------
    vae : midivae.models.VAE
        A model that carries its `RollLayout` (as `load_checkpoint` builds it).
    name : str
        What messages call it.
    roles : str, optional
        The role spec its training set was prepared with (`midivae.midi.roles`), used
        to map a file's tracks; default: from the layout's track names.
    temperature : float
        What `sample` draws at when given no temperature: a shipped model's card's
        (`midivae.load` sets it), else 1.
    rules : sequence of str
        What the parts it rewrites and writes keep when a call names no rules: a shipped
        model's card's (the chorale's: ``("no-parallels", "stepwise-melody")``), else
        none. The names are `midivae.run.guides.RULES`'; each tilts the model's draws
        towards parts that keep it.
    onset_bias : dict of str to float
        What `sample` adds to the logit of every note's start, by track name, when a call
        gives none: a shipped model's card's (the pop and folk models': their priors draw
        codes that decode sparser than the data), else none (`onset_biases`).
    every_track : bool
        Whether `sample` draws again a window in which a track sounds no note, when a call
        does not say: a shipped model's card's (the pop model's), else False.
    """

    def __init__(self, vae, *, name: str = "model", roles: str | None = None,
                 temperature: float = 1.0, rules: Sequence[str] = (),
                 onset_bias: dict[str, float] | None = None, every_track: bool = False):
        from midivae.run.guides import check_rules

        self.temperature = temperature
        self.rules = check_rules(rules)
        self.onset_bias = dict(onset_bias or {})
        self.every_track = bool(every_track)
        self.vae = vae.eval()
        self.layout: RollLayout = generate.layout_of(vae)
        self.name = name
        self.roles = roles_for(self.layout, roles)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *, name: str | None = None,
                        device: str | torch.device = "cpu") -> "Model":
        """Load a checkpoint file or run folder; ``name`` defaults to the file's (or folder's)."""
        vae = load_checkpoint(path, device=device)
        roles = read_settings(path)["extra"].get("run", {}).get("roles")
        p = Path(path)
        return cls(vae, name=name or (p.name if p.is_dir() else p.stem), roles=roles)

    # -- what the model makes ------------------------------------------------
    @property
    def window_steps(self) -> int:
        return self.vae.config.n_steps

    @property
    def bars(self) -> int:
        """Bars per window."""
        return self.window_steps // self.layout.steps_per_bar

    @property
    def meter(self) -> tuple[int, int]:
        return self.layout.time_signature

    @property
    def labels(self) -> tuple[str, ...]:
        """The names of the labels it is conditioned on; () when it is not."""
        return self.layout.labels or tuple(str(i) for i in range(self.vae.config.n_labels))

    @property
    def tracks(self) -> tuple[Track, ...]:
        return self.layout.tracks

    def __repr__(self) -> str:
        L = self.layout
        return (f"Model({self.name!r}: {L.n_tracks} track(s) "
                f"{[t.name for t in L.tracks]}, {self.bars} bars of {self.meter[0]}/"
                f"{self.meter[1]}, pitches {L.low}..{L.pitches[-1]}"
                + (f", labels {list(self.labels)}" if self.labels else "") + ")")

    def label_index(self, label: int | str | None) -> int | None:
        """The label number the model is given: by name or number; ModelError when the model
        is conditioned and no label is given, or is not and one is."""
        if not self.labels:
            if label is None:
                return None
            raise ModelError(f"model {self.name!r} is not conditioned on labels; "
                             f"label={label!r} would be ignored")
        if label is None:
            raise ModelError(f"model {self.name!r} is conditioned on labels: pass one of "
                             f"{', '.join(self.labels)}")
        if isinstance(label, str) and label in self.labels:
            return self.labels.index(label)
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool) \
                and 0 <= label < len(self.labels):
            return int(label)
        raise ModelError(f"unknown label {label!r}; model {self.name!r} knows "
                         f"{', '.join(self.labels)} (or their numbers 0..{len(self.labels) - 1})")

    # -- generation ------------------------------------------------------------
    def sample(self, n: int = 1, *, temperature: float | None = None, bars: int | None = None,
               seed: int | None = None, label: int | str | None = None,
               rounds: int | None = None, rules: Sequence[str] | None = None,
               onset_bias: dict[str, float] | None = None,
               every_track: bool | None = None, progress: Progress = None
               ) -> list[PianoRoll]:
        """``n`` clips drawn from the prior, each ``bars`` bars long (default: one window).

        ``bars`` must be a whole number of windows; a longer clip is successive
        windows whose latents walk through the model's prior by ``WINDOW_TO_WINDOW``
        (`LatentPrior.walk`: each is a prior draw, and all keep one key).
        ``temperature`` 0 gives the decoder's most likely cells; None, the model's own
        (``Model.temperature``: 0.5 for the shipped models, as on the command line). A model trained to
        infill with several tracks (the chorale model) then redraws each track given the
        others ``rounds`` times (`VAE.rewrite`; default 3, 0 for none): its voices make
        chords together, keeping ``rules`` (default: ``Model.rules``; ``()``: none).
        ``onset_bias`` (a number a track by name; default ``Model.onset_bias``, ``{}``:
        none) is added to the logit of every note's start of that track (`onset_biases`).
        ``every_track`` (default ``Model.every_track``): a window in which a track sounds
        no note is drawn again, up to `midivae.models.vae.SILENT_REDRAWS` times (rejection
        sampling: each window kept is a draw of the prior given that every track plays; a
        window of a longer clip is drawn again in the clip's key).
        Windows are drawn `DECODE_WINDOWS` at a time (the first batch with ``seed``, later
        ones with seeds drawn from it), each batch reported as ``progress(windows drawn,
        n * windows a clip)``. One `UserWarning` when clips come out silent or dense.
        """
        _check_count(n, "n")
        temperature = self.temperature if temperature is None else temperature
        rules = self._rules(rules)
        if rounds is not None:
            _check_rounds(rounds, self.vae)
        m = self._windows_in(bars)
        index = self.label_index(label)
        every_track = self.every_track if every_track is None else bool(every_track)
        with self.onset_biases(onset_bias):
            return self._sample(n, m, temperature, seed, index, rounds, rules, every_track,
                                progress)

    def _sample(self, n: int, m: int, temperature: float, seed: int | None, index,
                rounds: int | None, rules, every_track: bool, progress: Progress
                ) -> list[PianoRoll]:
        """`sample`'s draws: ``n`` clips of ``m`` windows."""
        if m == 1:
            clips = _in_batches(n, seed, lambda a, b, s: generate.sample(
                self.vae, b - a, temperature=temperature, seed=s, label=index, rounds=rounds,
                rules=rules, every_track=every_track, warn=False), progress)
            generate.warn_if_odd(clips, temperature, stacklevel=2)
            return clips
        g = _generator(seed)
        prior = self.vae.prior
        keys = prior.draw_components(n, g) if every_track else None  # each clip's
        z = prior.walk(n, m, WINDOW_TO_WINDOW, g, keys).cpu()  # (n, m, Z), the prior's
        z = z.reshape(n * m, -1)
        if rounds is None:
            rounds = self.vae.rewrite_rounds

        def redraw(first: int):
            """Fresh latents in their clips' keys for rows of the batch from window ``first``."""
            return lambda rows: prior.draw(len(rows), g, None if keys is None
                                           else keys[(first + rows.cpu()) // m])
        windows = _in_batches(n * m, _seed(g), lambda a, b, s: generate.decode(
            self.vae, z[a:b], temperature=temperature, seed=s, label=index, rounds=rounds,
            rules=rules, redraw=redraw(a) if every_track else None),
            progress)  # (n * m, Z) -> n * m windows
        clips = [concatenate(windows[i * m:(i + 1) * m]) for i in range(n)]
        generate.warn_if_odd(clips, temperature, stacklevel=2)
        return [c.replace(key_signatures=key_events(c, self.window_steps)) for c in clips]

    @contextlib.contextmanager
    def onset_biases(self, onset_bias: dict[str, float] | None = None):
        """Within the block the model's draws add ``onset_bias`` (a number a track by name;
        None: ``Model.onset_bias``) to the logit of every note's start of that track
        (`midivae.models.VAE.onset_biases`): `sample` does this, and `midivae evaluate
        --model` judges a shipped model's samples so. `ModelError` for an unknown track, a
        number that is not finite, or a model whose tracks share one output head."""
        values = self.onset_bias_by_track(onset_bias)
        if values is None:
            yield self
            return
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self.vae.onset_biases(values))
            except ValueError as err:
                raise ModelError(f"onset_bias for model {self.name!r}: {err}") from None
            yield self

    def onset_bias_by_track(self, onset_bias: dict[str, float] | None = None
                            ) -> list[float] | None:
        """``onset_bias`` (None: ``Model.onset_bias``) as one number a track in the model's
        order (0 for a track it leaves out), as `VAE.onset_biases` and `midivae evaluate`
        take them; None when it gives none. `ModelError` for a track the model lacks."""
        biases = self.onset_bias if onset_bias is None else onset_bias
        if not biases:
            return None
        names = [t.name for t in self.tracks]
        unknown = sorted(set(biases) - set(names))
        if unknown:
            raise ModelError(f"onset_bias: model {self.name!r} has no track {unknown[0]!r}; "
                             f"its tracks are {', '.join(names)}")
        bad = [(t, b) for t, b in biases.items() if isinstance(b, bool)
               or not isinstance(b, (int, float)) or not math.isfinite(b)]
        if bad:
            raise ModelError(f"onset_bias: {bad[0][0]}'s must be a finite number, got "
                             f"{bad[0][1]!r}")
        return [float(biases.get(t, 0.0)) for t in names]

    def encode(self, pieces: Piece | Sequence[Piece], *, label: int | str | None = None,
               roles: Roles = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and standard deviation of every window of the pieces (see `fit`),
        in order: each (W, Z)."""
        pieces = list(pieces) if isinstance(pieces, (list, tuple)) else [pieces]
        windows = [w for p in pieces for w in self._fit(p, roles).windows]
        return self._posterior(windows, label)

    def _posterior(self, windows: list[PianoRoll], label) -> tuple[torch.Tensor, torch.Tensor]:
        mean, scale = generate.posterior(self.vae, windows, label=self.label_index(label))
        return mean.cpu(), scale.cpu()

    def decode(self, z: torch.Tensor, *, temperature: float = 0.0, seed: int | None = None,
               label: int | str | None = None, progress: Progress = None) -> list[PianoRoll]:
        """One window per latent: (B, Z) -> B rolls, ``DECODE_WINDOWS`` at a time (the first
        batch with ``seed``, each later one with a seed drawn from it), each batch reported
        as ``progress(windows decoded, B)``."""
        index = self.label_index(label)
        return _in_batches(len(z), seed, lambda a, b, s: generate.decode(
            self.vae, z[a:b], temperature=temperature, seed=s, label=index), progress)

    def reconstruct(self, piece: Piece, *, temperature: float = 0.0, seed: int | None = None,
                    label: int | str | None = None, roles: Roles = None,
                    progress: Progress = None) -> PianoRoll:
        """The piece as the model hears it: each window decoded from its posterior mean;
        ``progress(windows decoded, windows)`` called as they are (see `decode`)."""
        fitted = self._fit(piece, roles)
        mean, _ = self._posterior(fitted.windows, label)
        return fitted.join(self.decode(mean, temperature=temperature, seed=seed, label=label,
                                       progress=progress))

    def variations(self, piece: Piece, n: int = 4, *, amount: float = 0.3,
                   temperature: float = 0.0, seed: int | None = None,
                   label: int | str | None = None, roles: Roles = None,
                   progress: Progress = None) -> list[PianoRoll]:
        """``n`` versions of the piece, each window's latent moved by ``amount`` (0: the
        reconstruction; 1: unrelated prior draws) before decoding; ``progress(windows
        decoded, windows of all n)`` called as they are."""
        _check_count(n, "n")
        _check_amount(amount)
        fitted = self._fit(piece, roles)
        mean, _ = self._posterior(fitted.windows, label)  # (W, Z)
        g = _generator(seed)
        out, w = [], len(mean)
        for i in range(n):
            z = _move(mean, amount, g)
            done = None if progress is None else (
                lambda k, _, i=i: progress(i * w + k, n * w))  # noqa: E731
            out.append(fitted.join(self.decode(z, temperature=temperature, seed=_seed(g),
                                               label=label, progress=done)))
        return out

    def steer(self, piece: Piece, vector: torch.Tensor, *, temperature: float = 0.0,
              seed: int | None = None, label: int | str | None = None,
              roles: Roles = None) -> PianoRoll:
        """The piece with each window's latent moved by ``vector`` (Z,) before decoding: an
        attribute vector's latent arithmetic (MusicVAE, Roberts et al. 2018, sec. 5.4)."""
        vector = torch.as_tensor(vector, dtype=torch.float32)
        if vector.shape != (self.vae.config.latent,):
            raise ValueError(f"vector must have shape ({self.vae.config.latent},), got "
                             f"{tuple(vector.shape)}")
        fitted = self._fit(piece, roles)
        mean, _ = self._posterior(fitted.windows, label)
        return fitted.join(self.decode(mean + vector, temperature=temperature, seed=seed,
                                       label=label))

    def interpolate(self, a: Piece, b: Piece, steps: int = 8, *, method: str = "slerp",
                    temperature: float = 0.0, seed: int | None = None,
                    label: int | str | None = None, roles: Roles = None) -> list[PianoRoll]:
        """``steps`` windows on the latent path from the first window of ``a`` to that of
        ``b``, both ends included; `concatenate` plays the whole path.

        ("steps" here counts the path's points, as on the command line.)"""
        if not isinstance(steps, (int, np.integer)) or steps < 2:
            raise ValueError(f"steps must be a whole number >= 2 (the path's two ends), "
                             f"got {steps!r}")
        fa, fb = self._fit(a, roles), self._fit(b, roles)
        path = generate.interpolate(self.vae, fa.windows[0], fb.windows[0], int(steps),
                                    method=method, temperature=temperature, seed=seed,
                                    label=self.label_index(label))
        first = fa.windows[0]
        out = [w.replace(tempos=first.tempos[:1]) for w in path]
        return [moved(w, -fa.shift) for w in out] if fa.shift == fb.shift else out

    # -- completing your music -------------------------------------------------
    def inpaint(self, piece: Piece, bars: tuple[int, int], *, temperature: float = 0.5,
                seed: int | None = None, particles: int = PARTICLES,
                label: int | str | None = None, roles: Roles = None,
                rules: Sequence[str] | None = None, progress: Progress = None) -> PianoRoll:
        """The piece with bars ``start`` to ``stop - 1`` written anew to join the bars around
        them; every other bar stays exactly as given (`midivae.run.completion`), with its
        notes whole: one struck before the range and held into it keeps its length, and
        one tied into the bar after the range is started inside it.

        Bars count from 0, as `PianoRoll.bars` counts them (a pickup bar is bar 0):
        ``bars=(4, 8)`` rewrites the fifth to the eighth bar. Raises `ModelError` for a
        range that is empty or reaches past the piece.
        """
        fitted = self._fit(piece, roles)
        n = completion.bars_of(fitted, self.layout)
        start, stop = completion.bar_range(bars, n, fitted.name)
        given = np.ones((n, self.layout.n_tracks), bool)
        given[start:stop] = False
        return self._complete(fitted, given, temperature, seed, particles, label, rules,
                              progress)

    def harmonise(self, piece: Piece, keep: Sequence[str] | str | None = None, *,
                  temperature: float = 0.5, seed: int | None = None,
                  particles: int = PARTICLES, label: int | str | None = None,
                  roles: Roles = None, rules: Sequence[str] | None = None,
                  progress: Progress = None) -> PianoRoll:
        """The piece's ``keep`` tracks (the model's track names; default its first: the
        soprano, the melody) exactly as given, and the model's other tracks written to go
        with them. A one-track file (a melody) is mapped onto the model's first track, as
        `fit` maps files. Raises `ModelError` for a track the model does not have, or when
        every track would be kept.
        """
        names = [t.name for t in self.layout.tracks]
        keep = [names[0]] if keep is None else [keep] if isinstance(keep, str) else list(keep)
        unknown = [k for k in keep if k not in names]
        if unknown or not keep:
            raise ModelError(f"keep={keep!r}: model {self.name!r} has the tracks "
                             f"{', '.join(names)}; keep some of them")
        if set(keep) == set(names):
            raise ModelError(f"keep={keep!r} keeps every track of model {self.name!r}: "
                             "nothing is left to write")
        fitted = self._fit(piece, roles)
        given = np.zeros((completion.bars_of(fitted, self.layout), len(names)), bool)
        given[:, [names.index(k) for k in keep]] = True
        return self._complete(fitted, given, temperature, seed, particles, label, rules,
                              progress)

    def continuation(self, piece: Piece, bars: int | None = None, *, whole: bool = False,
                     temperature: float = 0.5, seed: int | None = None,
                     particles: int = PARTICLES, label: int | str | None = None,
                     roles: Roles = None, rules: Sequence[str] | None = None,
                  progress: Progress = None) -> PianoRoll:
        """``bars`` new bars (default: one window's) that follow on from the piece's notes:
        written in windows that each read the half window before them (`midivae.run.completion`).
        In the piece's register, its last tempo and meter, and its tracks' median velocities.
        ``whole``: the piece followed by them, the piece exactly as given; else the new
        bars alone.
        """
        m = self.bars if bars is None else bars
        _check_count(m, "bars")
        fitted = self._fit(piece, roles)
        n = completion.bars_of(fitted, self.layout)
        given = np.ones((n + int(m), self.layout.n_tracks), bool)
        given[n:] = False
        out = self._complete(fitted, given, temperature, seed, particles, label, rules,
                             progress)
        start = n * self.layout.steps_per_bar - fitted.lead  # the first new step
        cont = out[start:].replace(time_signatures=[(0, *fitted.meter)],
                                   tempos=[(0, fitted.roll.tempos[-1][1])])
        if not whole:
            return cont
        # after a short last bar, the new bars start where the piece ends
        return out if start == fitted.roll.n_steps else concatenate([fitted.roll, cont])

    def _rules(self, rules: Sequence[str] | None) -> tuple[str, ...]:
        """``rules`` checked (`ModelError` naming an unknown one), or the model's own."""
        from midivae.run.guides import check_rules

        if rules is None:
            return self.rules
        try:
            return check_rules([rules] if isinstance(rules, str) else rules)
        except ValueError as err:
            raise ModelError(str(err)) from None

    def _complete(self, fitted: Fitted, given: np.ndarray, temperature: float,
                  seed: int | None, particles: int, label,
                  rules: Sequence[str] | None = None, progress: Progress = None) -> PianoRoll:
        """The fitted piece with the parts not ``given`` (n_bars, K) written, keeping
        ``rules`` (default the model's), ``progress(windows written, windows)`` called
        after each window; see `midivae.run.completion`."""
        _check_count(particles, "particles")
        if not (0 <= float(temperature) and math.isfinite(temperature)):
            raise ValueError(f"temperature must be >= 0 and finite, got {temperature!r}")
        cells = completion.piece_cells(fitted, self.layout, given.shape[0])
        cells = completion.complete(self.vae, self.layout, cells, given,
                                    temperature=float(temperature), seed=seed,
                                    particles=int(particles), label=self.label_index(label),
                                    rules=self._rules(rules), progress=progress)
        return completion.merged(fitted, self.layout, cells, given,
                                 completion.track_velocities(fitted, self.layout))

    # -- your own MIDI in ------------------------------------------------------
    def track_mapping(self, piece: Piece, *, roles: Roles = None) -> dict[str, list[str]]:
        """Which of the piece's tracks each of the model's tracks reads (as `fit` maps them):
        {model track: [the piece's tracks, by name or number]}; a model track left empty
        maps to []. ``roles`` as for `fit`, or a dict {model track: the piece's track name
        (a part of it) or number from 1} that chooses the mapping."""
        return self._fit(piece, roles).mapping

    def fit(self, piece: Piece, *, roles: Roles = None) -> list[PianoRoll]:
        """The piece as the model's windows: rolls of ``window_steps`` steps on its tracks.

        A path is quantized on the model's grid. The file's tracks are mapped onto
        the model's by `midivae.midi.roles.assign_roles` with the model's roles (or
        ``roles``); when none matches, its tracks with notes are taken in file
        order (a warning says so). Pitched notes move by the whole octaves that
        keep most of them in the model's pitches; notes still outside are left
        out (a warning counts them). A pickup bar gets silence before it so that
        it ends on a bar line; the piece is cut at every ``bars``-th bar line and
        the last window is padded with silence. See `midivae.data.fitting`.

        Raises `ModelError`, naming the piece, when its meter has bars of another
        length than the model's (but for a shorter pickup and last bar), its grid
        differs, or it has no notes to use.
        """
        return self._fit(piece, roles).windows

    def fit_piece(self, piece: Piece, *, roles: Roles = None) -> PianoRoll:
        """The whole piece on the model's tracks, in its own register and to the end of its
        last bar: what the windows of `fit` are cut from, before the octave move. A model
        track that one of the piece's tracks fills takes that track's name and program."""
        fitted = self._fit(piece, roles)
        return fitted.roll.replace(tracks=fitted.tracks)

    def _fit(self, piece: Piece, roles: Roles = None) -> Fitted:
        try:
            return fit_piece(piece, self.layout, self.bars,
                             self.roles if roles is None else roles,
                             model=f"model {self.name!r}", fall_back=roles is None)
        except MeterError as err:  # name a shipped model whose bars the piece's fit
            other = [m for m in shipped_models() if m.name != self.name
                     and _bar_steps(m.meter, self.layout.steps_per_beat) in err.bar_steps]
            if not other:
                raise
            raise MeterError(f"{err}; the shipped model {other[0].name!r} makes bars that long "
                             f"({'/'.join(map(str, other[0].meter))})", err.bar_steps) from None

    def _windows_in(self, bars: int | None) -> int:
        """How many windows make ``bars`` bars; ModelError unless it is a whole number."""
        if bars is None:
            return 1
        if isinstance(bars, (int, np.integer)) and bars >= 1 and bars % self.bars == 0:
            return int(bars) // self.bars
        raise ModelError(f"bars={bars!r}: model {self.name!r} makes windows of {self.bars} bars; "
                         f"ask for a multiple of {self.bars}")


def _bar_steps(meter: tuple[int, int], steps_per_beat: int) -> int:
    """Grid steps in a bar of ``meter`` at ``steps_per_beat`` a quarter note."""
    return meter[0] * 4 * steps_per_beat // meter[1]


def _in_batches(count: int, seed: int | None, draw: Callable[[int, int, int | None], list],
                progress: Progress) -> list[PianoRoll]:
    """``draw(start, stop, seed)`` for windows [start, stop) of ``count``, `DECODE_WINDOWS`
    at a time: the first batch with ``seed``, each later one with a seed drawn from it (none
    when ``seed`` is None), each reported as ``progress(windows done, count)``."""
    g = _generator(seed) if seed is not None else None
    rolls: list[PianoRoll] = []
    for start in range(0, count, DECODE_WINDOWS):
        part_seed = seed if start == 0 or g is None else _seed(g)
        rolls += draw(start, min(start + DECODE_WINDOWS, count), part_seed)
        if progress is not None:
            progress(len(rolls), count)
    return rolls


# -- latents ----------------------------------------------------------------------------

def _generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    return g.manual_seed(int(seed)) if seed is not None else g.manual_seed(
        int(torch.randint(0, 2**62, ())))


def _seed(g: torch.Generator) -> int:
    """A seed for the decoder's own generator, drawn from ``g`` (not ``g``'s own seed, whose
    stream already made the latents)."""
    return int(torch.randint(0, 2**62, (), generator=g))


def _move(z: torch.Tensor, amount: float, g: torch.Generator) -> torch.Tensor:
    """sqrt(1 - a^2) z + a e, e ~ N(0, I): (B, Z) -> (B, Z); a prior draw stays one."""
    e = torch.randn(z.shape, generator=g)
    return math.sqrt(1.0 - amount**2) * z.cpu() + amount * e


def _check_count(n, name: str) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {n!r}")


def _check_rounds(rounds, vae) -> None:
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise ModelError(f"rounds must be a whole number >= 0, got {rounds!r}")
    if rounds and not vae.rewrites:
        raise ModelError("rounds > 0 rewrites each track given the others: it needs a model "
                         "trained to infill (--infill) with more than one track")


def _check_amount(amount) -> None:
    if not 0.0 <= float(amount) <= 1.0:
        raise ValueError(f"amount must lie in 0..1 (0: unchanged, 1: a fresh draw), "
                         f"got {amount!r}")
