"""The VAE: encoder, decoder and label embedding, with the generation API on tensors.

Tensors in, tensors out: windows are float (B, T, D) in {0, 1}, latents (B, Z).
``layout`` is an opaque object kept with the model and its checkpoint: the
library stores a `midivae.midi.layout.RollLayout` there so that `midivae.run.generate`
can turn outputs back into piano rolls. This module never looks inside it.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from midivae.models.losses import LossTerms, elbo_loss
from midivae.models.config import ModelConfig
from midivae.models.prior import LatentPrior
from midivae.models.encoder import build_encoder, reparameterize
from midivae.models.decoder import build_decoder
from midivae.models.heads import MixedOutput, OutputHead, split_cells
# The decoders register themselves with `build_decoder` when their modules load.
from midivae.models.flat import FlatDecoder  # noqa: F401
from midivae.models.hierarchical import HierarchicalDecoder  # noqa: F401
from midivae.models.recurrent import RecurrentDecoder  # noqa: F401


# `VAE.rewrite`: rounds by default, and the particles of each track's redraw (measured on
# the chorale model: chords on 0.53 of four-voice beats before, 0.66 / 0.74 / 0.76 after
# one / two / three rounds at temperature 0.5; `benchmarks/rewrite.py`). 16 particles, not
# 8: with a guide (no-parallels) 128 samples at 0.5 held a parallel in 0.14 of windows,
# not 0.31 (a fourth round of 8: 0.31), for twice the time
REWRITE_ROUNDS = 3
REWRITE_PARTICLES = 16
# `redraw_silent`: draws after the first of a window with a silent track (the shipped pop
# model's prior leaves one in 0.19 of its windows: after 4 more, about 1 in 7,000)
SILENT_REDRAWS = 4


class VAEOutput(NamedTuple):
    logits: torch.Tensor  # (B, T, L) teacher-forced logits of the decoder's output head
    mu: torch.Tensor  # (B, Z) posterior mean
    logvar: torch.Tensor  # (B, Z) posterior log-variance
    z: torch.Tensor  # (B, Z) the latent the decoder read


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation: (Z,), (Z,), (S,) -> (S, Z)."""
    t = t[:, None]
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for latent spaces).

    slerp(a, b; t) = sin((1 - t) w) / sin(w) * a + sin(t w) / sin(w) * b, where
    w is the angle between a and b; falls back to `lerp` when they are parallel.
    Shapes (Z,), (Z,), (S,) -> (S, Z).
    """
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:
        return lerp(a, b, t)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolate_latents(a: torch.Tensor, b: torch.Tensor, n: int,
                        method: str = "slerp") -> torch.Tensor:
    """``n`` latents from a to b inclusive (points of the path): (Z,), (Z,) -> (n, Z)."""
    if n < 2:
        raise ValueError(f"n must be >= 2 (the path's two ends at least), got {n!r}")
    if method not in ("slerp", "lerp"):
        raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
    t = torch.linspace(0.0, 1.0, n, device=a.device, dtype=a.dtype)
    out = (slerp if method == "slerp" else lerp)(a, b, t)
    out[0], out[-1] = a, b  # exact endpoints, free of rounding in the trigonometry
    return out


def _per_cell(mask: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """A mask of bars and tracks (B, n_bars, K) as one of cells (B, T, D)."""
    steps = mask.repeat_interleave(cfg.steps_per_bar, 1)  # (B, T, K)
    return steps.repeat_interleave(cfg.cells // cfg.n_tracks, 2)


def held_over(x: torch.Tensor, mask: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """The notes of the given bars held on into the bars to write: (B, T, D) cells.

    A note belongs to the bar it starts in, so one that starts in a given bar keeps its
    length where x holds it on (sustained, no new onset) into the next bars of its track
    that ``mask`` (B, n_bars, K) leaves to write; the result sustains it there, with
    nothing else set. Notes that start in the bars to write are theirs to choose.
    """
    k, s = cfg.n_tracks, cfg.steps_per_bar
    if not (mask[:, :-1] & ~mask[:, 1:]).any():  # no given bar before one to write
        return torch.zeros_like(x)
    cells = x.unflatten(-1, (k, 2, -1)) > 0.5  # (B, T, K, 2, P)
    given = mask.repeat_interleave(s, 1)  # (B, T, K)
    held = torch.zeros_like(cells[:, :, :, 1])  # (B, T, K, P)
    carried = torch.zeros_like(held[:, 0])  # notes of the given bars sounding at the step
    for t in range(x.shape[1]):
        on, sus = cells[:, t, :, 0], cells[:, t, :, 1]
        held[:, t] = carried & sus & ~on & ~given[:, t, :, None]
        carried = torch.where(given[:, t, :, None], sus, held[:, t])
    return torch.stack([torch.zeros_like(held), held], 3).flatten(2).to(x.dtype)


def led_into(fill: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
             cfg: ModelConfig) -> torch.Tensor:
    """``fill`` (B, T, D) with every note a given bar holds on from a written bar started
    in that written bar: (B, T, D).

    Where a given bar of a track sustains a pitch at its first step without an onset (a
    note tied into it) and the written bar before it does not sound that pitch at its
    last step, the track's last onset in the written bars before it (else their last
    step) starts that pitch instead, held to the bar line: in a monophonic (categorical)
    track the note there is replaced, in a polyphonic one the pitch is added. Otherwise
    the given note would lose its start and be struck again at the bar line.
    """
    from midivae.models.heads import track_outputs

    k, s = cfg.n_tracks, cfg.steps_per_bar
    out = fill.clone().unflatten(-1, (k, 2, -1))  # (B, T, K, 2, P)
    given = x.unflatten(-1, (k, 2, -1)) > 0.5
    mono = [o == "categorical" for o in track_outputs(cfg)]
    for i, track in ((i, t) for i in range(1, cfg.n_bars) for t in range(k)):
        t = i * s
        starts = mask[:, i, track] & ~mask[:, i - 1, track]  # (B,) a written bar, then given
        need = (given[:, t, track, 1] & ~given[:, t, track, 0]
                & ~(out[:, t - 1, track, 1] > 0.5) & starts[:, None])  # (B, P)
        for b in need.any(1).nonzero().flatten().tolist():
            gap = t
            while gap > 0 and not bool(mask[b, (gap - 1) // s, track]):
                gap -= s  # back to the first written bar before the given one
            onsets = (out[b, gap:t, track, 0] > 0.5).any(-1).nonzero().flatten()
            t0 = gap + int(onsets[-1]) if len(onsets) else t - 1
            pitches = need[b].nonzero().flatten()
            if mono[track]:
                out[b, t0:t, track] = 0
                pitches = pitches[-1:]  # a monophonic track: one note
            out[b, t0, track, 0, pitches] = 1
            out[b, t0:t, track, 1, pitches] = 1
    return out.flatten(2)


def infill_masks(n: int, cfg: ModelConfig, share: float,
                 generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Given parts for infill training: (n, n_bars, K) bool, about ``share`` of the windows
    with some bars and tracks given, the others with none.

    Each infilled window has one of four kinds of mask, equally often: given tracks (each
    kept with probability 1/2, at least one and not all; a melody to harmonise); a gap of
    1 to n_bars / 2 bars between given ones (to fill in); given first bars (to continue);
    and given bars and tracks at random, each with probability 1/2. With one track, the
    first kind is the last.
    """
    bars, k = cfg.n_bars, cfg.n_tracks
    r = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    mask = torch.zeros(n, bars, k, dtype=torch.bool)
    kind = torch.randint(0, 4, (n,), generator=generator)
    kind = torch.where(r(n) < share, kind, -1)  # -1: nothing given
    tracks = r(n, k) < 0.5
    if k > 1:  # at least one track kept and one left out
        out = torch.randint(0, k, (n,), generator=generator)
        tracks[torch.arange(n), (out + torch.randint(1, k, (n,), generator=generator)) % k] = True
        tracks[torch.arange(n), out] = False
    length = torch.randint(1, max(1, bars // 2) + 1, (n,), generator=generator)
    start = (r(n) * (bars - length + 1)).long()
    index = torch.arange(bars)
    gap = (index >= start[:, None]) & (index < (start + length)[:, None])  # (n, bars)
    first = (index < torch.randint(1, max(2, bars), (n,), generator=generator)[:, None])
    mask = torch.where((kind == 0)[:, None, None] & torch.tensor(k > 1), tracks[:, None], mask)
    mask = torch.where((kind == 1)[:, None, None], ~gap[..., None], mask)
    mask = torch.where((kind == 2)[:, None, None], first[..., None], mask)
    mask = torch.where(((kind == 3) | (kind == 0) & torch.tensor(k == 1))[:, None, None],
                       r(n, bars, k) < 0.5, mask)
    return mask.to(device)


def silent_tracks(x: torch.Tensor, n_tracks: int) -> torch.Tensor:
    """Which tracks sound no note in each window (no onset or sustain cell on; a roll
    starts a note where a sustain begins without one): (B, T, D) -> (B, K) bool."""
    return ~split_cells(x, n_tracks).bool().flatten(-2).any(-1).any(1)


def redraw_silent(x: torch.Tensor, n_tracks: int, draw, redraws: int = SILENT_REDRAWS
                  ) -> torch.Tensor:
    """x (B, T, D) with every window in which some track sounds no note drawn again,
    ``draw(rows)`` (rows: (R,) long indices into x) -> (R, T, D), up to ``redraws`` times:
    rejection sampling, so a window kept is a draw of the same distribution given that
    every track plays. A window silent after the last redraw is kept as last drawn."""
    x = x.clone()
    for _ in range(redraws):
        rows = silent_tracks(x, n_tracks).any(1).nonzero().squeeze(1)
        if not len(rows):
            break
        x[rows] = draw(rows).to(x)
    return x


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    return None if seed is None else torch.Generator(device).manual_seed(int(seed))


def _child_seed(g: torch.Generator | None) -> int | None:
    """A seed drawn from g, for a call that makes its own generator (None: unseeded)."""
    return None if g is None else int(torch.randint(2**62, (1,), generator=g, device=g.device))


class VAE(nn.Module):
    """A VAE over Bernoulli piano-roll windows.

    Parameters
    ----------
    config : ModelConfig
    layout : object, optional
        The data's layout, kept as given (the library passes a `RollLayout`;
        models never import the MIDI layer, so it is typed ``Any`` here).
    """

    def __init__(self, config: ModelConfig, layout: Any = None):
        super().__init__()
        self.config = config
        self.layout = layout  # opaque here: a midivae.midi.layout.RollLayout, or None for a bare model
        self.label_embedding = (nn.Embedding(config.n_labels, config.label_dim)
                                if config.n_labels else None)
        self.encoder = build_encoder(config)
        self.decoder = build_decoder(config)
        self.prior = LatentPrior(config.latent)  # what `sample` draws z from

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- pieces --------------------------------------------------------------
    def _check(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if x.ndim != 3 or tuple(x.shape[1:]) != (cfg.n_steps, cfg.cells):
            raise ValueError(f"expected windows of shape (B, {cfg.n_steps}, {cfg.cells}), "
                             f"got {tuple(x.shape)}")
        return x.to(self.device, torch.float32)

    def _condition(self, label, batch: int) -> torch.Tensor | None:
        """Label embedding (B, C), or None for an unconditioned model (labels ignored)."""
        if self.label_embedding is None:
            return None
        if label is None:
            raise ValueError(f"this model is conditioned on {self.config.n_labels} labels: "
                             "pass label=")
        label = torch.as_tensor(label, device=self.device).long()
        label = label.expand(batch) if label.ndim == 0 else label
        if label.shape != (batch,) or label.min() < 0 or label.max() >= self.config.n_labels:
            raise ValueError(f"label must be an int or shape ({batch},) in "
                             f"0..{self.config.n_labels - 1}, got {label.tolist()}")
        return self.label_embedding(label)

    @staticmethod
    def _code(z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return z if cond is None else torch.cat([z, cond], dim=-1)  # (B, Z + C)

    def posterior(self, x: torch.Tensor, label=None) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): mu and logvar, each (B, Z), of windows x (B, T, D)."""
        x = self._check(x)
        return self.encoder(x, self._condition(label, x.shape[0]))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor, label=None, *,
                       steps: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced log p(x | z) in nats, summed over cells: (B, T, D), (B, Z) -> (B,).

        ``steps`` (B,): count only each window's first steps (a padded window).
        """
        x = self._check(x)
        return self.decoder.log_likelihood(x, self._code(z, self._condition(label, x.shape[0])),
                                           steps)

    def forward(self, x: torch.Tensor, label=None, *, sample_latent: bool | None = None,
                sampling_prob: float = 0.0, input_dropout: float = 0.0,
                generator: torch.Generator | None = None,
                given: torch.Tensor | None = None) -> VAEOutput:
        """Encode, pick z, decode teacher-forced.

        z is reparameterised, mu + exp(logvar / 2) * eps (Kingma & Welling
        2014), in training mode and the posterior mean in evaluation mode,
        unless ``sample_latent`` says otherwise.

        ``given`` (B, n_bars, K) bool, for a model with given_input: a window with any part
        given is infilled: the encoder reads its given cells only, the codes of the other
        parts are zero, and the decoder reads the given cells (see `complete`, which decodes
        the same way). A window with nothing given is an ordinary one.
        """
        x = self._check(x)
        cond = self._condition(label, x.shape[0])
        seen, known, pair = x, None, None
        if given is not None:
            if not self.config.given_input:
                raise ValueError("given cells need a model with given_input")
            seen, known, pair = self._infill_inputs(x, given)
        mu, logvar = self.encoder(seen, cond)
        z = mu
        if self.training if sample_latent is None else sample_latent:
            z = reparameterize(mu, logvar, generator)
        if known is not None:
            z = z * known
        extra = {} if pair is None else {"given": pair}
        logits = self.decoder.logits(x, self._code(z, cond), sampling_prob=sampling_prob,
                                     input_dropout=input_dropout, generator=generator, **extra)
        return VAEOutput(logits, mu, logvar, z)

    def _infill_inputs(self, x: torch.Tensor, given: torch.Tensor):
        """What an infilled window's encoder and decoder read: the cells the encoder sees
        (B, T, D), the latent units kept (B, Z) float (all for a window with nothing given,
        else the given parts' codes), and the decoder's (cells, mask)."""
        cfg = self.config
        any_given = given.flatten(1).any(1)  # (B,)
        cells = _per_cell(given, cfg)  # (B, T, D)
        seen = torch.where(cells | ~any_given[:, None, None], x, 0.0)
        known = self.decoder.known_codes(given)
        known = F.pad(known, (0, cfg.latent - known.shape[1])) | ~any_given[:, None]
        return seen, known.to(x.dtype), (x, given)

    def loss(self, x: torch.Tensor, label=None, *, beta: float = 1.0, free_bits: float = 0.0,
             per_dimension: bool = False, sampling_prob: float = 0.0,
             input_dropout: float = 0.0, infill: float = 0.0,
             generator: torch.Generator | None = None) -> LossTerms:
        """Negative ELBO of a batch; see `midivae.models.losses.elbo_loss`. ``infill``: the share of
        windows trained as infilling (`infill_masks`; a model with given_input)."""
        given = (infill_masks(x.shape[0], self.config, infill, generator, device=self.device)
                 if infill > 0 else None)
        out = self(x, label, sampling_prob=sampling_prob, input_dropout=input_dropout,
                   given=given)
        return elbo_loss(out.logits, self._check(x), out.mu, out.logvar, beta=beta,
                         free_bits=free_bits, per_dimension=per_dimension, nll=self.decoder.nll)

    # -- generation ----------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor, label=None, *, sample: bool = False,
               seed: int | None = None) -> torch.Tensor:
        """Latents (B, Z) of windows (B, T, D): the posterior mean, or a draw with ``sample``."""
        mu, logvar = self.posterior(x, label)
        if not sample:
            return mu
        return reparameterize(mu, logvar, _generator(seed, mu.device))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, label=None, *, temperature: float = 0.0,
               seed: int | None = None) -> torch.Tensor:
        """Windows (B, T, D) in {0, 1} from latents (B, Z); temperature 0: most likely cells."""
        z = z.to(self.device, torch.float32)
        if z.ndim != 2 or z.shape[1] != self.config.latent:
            raise ValueError(f"expected latents of shape (B, {self.config.latent}), "
                             f"got {tuple(z.shape)}")
        code = self._code(z, self._condition(label, z.shape[0]))
        return self.decoder.sample(code, temperature=temperature,
                                   generator=_generator(seed, z.device))

    @contextlib.contextmanager
    def onset_biases(self, biases: Sequence[float]):
        """Within the block, track k's draws add ``biases[k]`` to the logit of every note's
        start (`OutputHead.onset_bias`): a track the prior leaves sparse draws more notes,
        in the order its decoder ranks them. Needs a decoder with one output head a track
        (ValueError otherwise, or for a count other than the tracks'); restored after."""
        heads = [h for h in self.decoder.modules()
                 if isinstance(h, OutputHead) and not isinstance(h, MixedOutput)]
        k = self.config.n_tracks
        if len(biases) != k or not all(math.isfinite(b) for b in biases):
            raise ValueError(f"expected {k} finite onset biases, one a track, got {list(biases)}")
        if len(heads) != k or any(h.n_tracks != 1 for h in heads):
            raise ValueError("this decoder draws its tracks with one output head: an onset "
                             "bias a track needs a head a track")
        before = [h.onset_bias for h in heads]
        for h, b in zip(heads, biases):
            h.onset_bias = float(b)
        try:
            yield self
        finally:
            for h, b in zip(heads, before):
                h.onset_bias = b

    @property
    def rewrites(self) -> bool:
        """Whether `sample` rewrites its tracks by default (`rewrite`): a model that reads
        given tracks (given_input) and has more than one."""
        return bool(self.config.given_input and self.config.n_tracks > 1)

    @property
    def rewrite_rounds(self) -> int:
        """The rounds `sample` and `rewrite` take by default: ``REWRITE_ROUNDS`` for a model
        that `rewrites`, else 0."""
        return REWRITE_ROUNDS if self.rewrites else 0

    @torch.no_grad()
    def sample(self, n: int, *, temperature: float = 1.0, seed: int | None = None,
               label=None, rounds: int | None = None, guide=None,
               every_track: bool = False) -> torch.Tensor:
        """n windows (n, T, D) from the prior: z drawn from `prior` (N(0, I) unless fitted),
        then decoded at a temperature; with the prior's forms (`LatentPrior.fit_forms`), each
        window repeats bars as a drawn training window's form does. With ``every_track``, a
        window in which a track sounds no note is drawn again: n // 4 + 2 spare windows are
        drawn beside the n and the first n that play are kept (order decides, so each is
        still a draw given that every track plays), the rest drawn again
        (`redraw_silent`). Then, for a model that `rewrites`, ``rounds`` of `rewrite`
        (default ``REWRITE_ROUNDS``; 0: none), with ``guide`` (see `complete`)."""
        g = _generator(seed, self.device)
        # with every_track, spare windows drawn in the same batch stand in for silent ones (a
        # batch costs about what one window does): one label for all, or none
        spare = (n // 4 + 2 if every_track and (label is None or torch.as_tensor(label).ndim == 0)
                 else 0)
        cond = self._condition(label, n + spare)

        def draw(rows: torch.Tensor) -> torch.Tensor:
            code = self._code(self.prior.draw(len(rows), g),
                              None if cond is None else cond[rows])
            repeats = (self.prior.draw_forms(len(rows), g)
                       if self.config.decoder == "hierarchical" else None)
            if repeats is None:  # only a decoder that draws bar by bar can repeat a bar
                return self.decoder.sample(code, temperature=temperature, generator=g)
            return self.decoder.sample(code, temperature=temperature, generator=g,
                                       repeats=repeats)

        x = draw(torch.arange(n + spare, device=self.device))
        if spare:  # the first n windows that play, in order, then silent ones
            plays = ~silent_tracks(x, self.config.n_tracks).any(1)
            x = x[torch.cat([plays.nonzero().squeeze(1), (~plays).nonzero().squeeze(1)])[:n]]
        if every_track:  # any still silent drawn again
            x = redraw_silent(x, self.config.n_tracks, draw)
        return self.rewrite(x, label, rounds=rounds, temperature=temperature,
                            seed=_child_seed(g), guide=guide)

    @torch.no_grad()
    def rewrite(self, x: torch.Tensor, label=None, *, rounds: int | None = None,
                temperature: float = 0.5, seed: int | None = None,
                particles: int = REWRITE_PARTICLES, guide=None) -> torch.Tensor:
        """Windows (B, T, D) whose tracks were redrawn each in turn given all the others
        (``guide``: see `complete`).

        Each of ``rounds`` (default ``REWRITE_ROUNDS`` for a model that `rewrites`, else
        0) redraws every track, first to last, with `complete` given the other tracks
        as they stand: Gibbs sampling with the conditionals the model learnt by
        infilling (as Coconet, Huang et al. 2017, samples a chorale). A prior sample's
        tracks are drawn from their own codes and read only the tracks decoded before
        them; a rewritten track reads every other one, so that the voices make chords
        together. A model that does not `rewrites` returns x when ``rounds`` is left
        out, and refuses rounds > 0.
        """
        x = self._check(x)
        if rounds is None:
            rounds = self.rewrite_rounds
        if rounds < 0:
            raise ValueError(f"rounds must be >= 0, got {rounds}")
        if rounds and not self.rewrites:
            raise ValueError("rewriting tracks needs a model with given_input and more than "
                             "one track")
        cfg = self.config
        g = _generator(seed, self.device)
        for _ in range(rounds):
            for track in range(cfg.n_tracks):
                mask = torch.ones(x.shape[0], cfg.n_bars, cfg.n_tracks, dtype=torch.bool,
                                  device=self.device)
                mask[:, :, track] = False
                x = self.complete(x, mask, label, temperature=temperature, particles=particles,
                                  seed=_child_seed(g), guide=guide)
        return x

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, label=None, *,
                 temperature: float = 0.5, seed: int | None = None, particles: int = 16,
                 rounds: int = 2, guide=None, join: bool = True) -> torch.Tensor:
        """Windows that keep the given parts of x and draw the rest to fit them: (B, T, D).

        ``mask`` (B, n_bars, K) bool sets the given bars and tracks: their cells are x's,
        unchanged. Each of ``rounds``: the window as it stands (first with silence where
        nothing is given) is encoded; the codes of the given parts are kept and the others
        drawn from the prior given them (`LatentPrior.conditional`), ``particles`` draws a
        window; then a decoder that `completes` draws the window bar by bar, weighting
        its draws by the likelihood of the given cells (`HierarchicalDecoder.sample`),
        and any other decoder draws whole windows, of which the one under which the window
        with its given cells is most likely is kept.

        ``guide``, optional: a function (cells (N, t, D), step) -> (N,) log weights of the
        steps from ``step`` on, added to that likelihood (after each bar, for a decoder
        that `completes`): the fill is drawn from the model tilted by exp(guide), a rule
        it should keep (`midivae.run.guides`).

        A note that starts in a given bar keeps its length in x where it is held on into
        the bars written (`held_over`): a decoder that `completes` draws around it. A note
        a given bar holds on from a bar written is started in that bar: by the draw kept
        (a decoder that `completes` weighs draws that do not by
        `midivae.models.hierarchical.DANGLING`), else, with
        ``join`` (the default), by the last note written before it (`led_into`).
        """
        x = self._check(x)
        cfg = self.config
        b, k = x.shape[0], cfg.n_tracks
        mask = torch.as_tensor(mask, device=self.device)
        if mask.shape != (b, cfg.n_bars, k) or mask.dtype != torch.bool:
            raise ValueError(f"expected a bool mask of shape ({b}, {cfg.n_bars}, {k}), "
                             f"got {mask.dtype} {tuple(mask.shape)}")
        if particles < 1 or rounds < 1:
            raise ValueError(f"particles and rounds must be >= 1, got {particles}, {rounds}")
        per_cell = _per_cell(mask, cfg)  # (B, T, D)
        rows = lambda t: t.repeat_interleave(particles, 0)  # noqa: E731  (B, ...) -> (B * N, ...)
        held = rows(held_over(x, mask, cfg)) if self.decoder.completes else None
        g = _generator(seed, self.device)
        fill = torch.where(per_cell, x, 0.0)
        cond = self._condition(label, b)
        cond = None if cond is None else rows(cond)
        if self.config.given_input:  # decoded as trained: given codes, given cells read
            seen, known, _ = self._infill_inputs(x, mask)
            mu, _ = self.posterior(seen, label)
            code = self._code(rows(mu * known), cond)
            fill = self.decoder.sample(code, temperature=temperature, generator=g,
                                       given=(rows(x), rows(mask)), particles=particles,
                                       guide=guide, held=held)
            fill = torch.where(per_cell, x, fill)
            return led_into(fill, x, mask, cfg) if join else fill
        for _ in range(rounds):
            mu, _ = self.posterior(fill, label)
            known = self.decoder.known_codes(mask)
            known = torch.zeros_like(mu, dtype=torch.bool) if known is None else \
                F.pad(known, (0, cfg.latent - known.shape[1]))
            z = self.prior.conditional(mu, known, particles, g).flatten(0, 1)  # (B * N, Z)
            code = self._code(z, cond)
            if self.decoder.completes:
                fill = self.decoder.sample(code, temperature=temperature, generator=g,
                                           given=(rows(x), rows(mask)), particles=particles,
                                           guide=guide, held=held)
            else:
                drawn = torch.where(rows(per_cell),
                                    rows(x), self.decoder.sample(code, temperature=temperature,
                                                                 generator=g))
                score = self.decoder.log_likelihood(drawn, code)
                if guide is not None:
                    score = score + guide(drawn, 0).to(score)
                best = score.view(b, particles).argmax(1)
                fill = drawn.view(b, particles, *x.shape[1:])[torch.arange(b), best]
            fill = torch.where(per_cell, x, fill)
        return led_into(fill, x, mask, cfg) if join else fill

    def reconstruct(self, x: torch.Tensor, label=None, *, temperature: float = 0.0,
                    seed: int | None = None) -> torch.Tensor:
        """decode(encode(x)): (B, T, D) -> (B, T, D), free-running from the posterior mean."""
        return self.decode(self.encode(x, label), label, temperature=temperature, seed=seed)

    def interpolate(self, a: torch.Tensor, b: torch.Tensor, n: int = 5, *,
                    method: str = "slerp", label=None, temperature: float = 0.0,
                    seed: int | None = None) -> torch.Tensor:
        """``n`` windows along the path between the latents of a and b (each (T, D)):
        (n, T, D)."""
        za, zb = self.encode(torch.stack([a, b]), label)  # (2, Z)
        z = interpolate_latents(za, zb, n, method)  # (n, Z)
        return self.decode(z, label, temperature=temperature, seed=seed)

    def attribute_vector(self, x_with: torch.Tensor, x_without: torch.Tensor, *,
                         label_with=None, label_without=None) -> torch.Tensor:
        """Mean latent of windows with a property minus those without (MusicVAE sec. 5.4): (Z,)."""
        return (self.encode(x_with, label_with).mean(0)
                - self.encode(x_without, label_without).mean(0))

    def apply_attribute(self, x: torch.Tensor, vector: torch.Tensor, strength: float = 1.0, *,
                        label=None, temperature: float = 0.0,
                        seed: int | None = None) -> torch.Tensor:
        """decode(encode(x) + strength * vector): (B, T, D) -> (B, T, D)."""
        z = self.encode(x, label) + strength * vector.to(self.device)
        return self.decode(z, label, temperature=temperature, seed=seed)
