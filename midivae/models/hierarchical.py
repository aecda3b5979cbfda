"""The hierarchical decoder (MusicVAE, Roberts et al. 2018, section 3.2).

A conductor LSTM turns z into one embedding per bar. A bar decoder (a
`StepLSTM`), re-initialised from each embedding and fed it at every step,
generates its bar step by step. No recurrent state crosses a bar line, but the
inputs do: they are the window shifted by one step as a whole, so each bar's
first input is the previous bar's last step (zeros before bar 0), teacher-forced
and when sampling, as in MusicVAE. A bar thus sees a note held across its bar
line. Teacher-forced, every bar runs at once as a batch of B * n_bars short
sequences; sampling runs the bars in turn, each starting from the last step
drawn.

With ``bar_decoder="mlp"`` the bar decoder (`BarMLP`, the same interface as
`StepLSTM`) is not autoregressive: one MLP, shared by the bars, gives every step
of a bar at once from the bar's embedding and the previous bar's last step.
Within a bar it reads no past steps (the output head still orders a step's
cells, and the categorical head's "hold" continues the step before), so it
cannot learn to continue what it is fed instead of reading z; teacher-forced
and free-running differ only in that carried step.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from midivae.models.config import ModelConfig
from midivae.models.decoder import Decoder
from midivae.models.heads import CategoricalOutput, MixedOutput, build_output, split_cells
from midivae.models.mlp import relu_mlp
from midivae.models.recurrent import StepLSTM, initial_state


VOICE_FEATURES = 16  # voice_context: what a bar decoder reads of the other tracks per step
GIVEN_FEATURES = 32  # given_input: what a bar decoder reads of the given cells per step


class BarMLP(nn.Module):
    """The non-autoregressive bar decoder, with `StepLSTM`'s interface.

    ``layers`` hidden ReLU layers of ``hidden`` units map [c (N, C), first (N, D)], the
    bar's embedding and the step before the bar, to the output head's context of each of
    the bar's S steps at once.
    """

    def __init__(self, head: nn.Module, cells: int, cond_dim: int, hidden: int, layers: int,
                 steps: int):
        super().__init__()
        self.head, self.steps, self.cells = head, steps, cells
        self.net = relu_mlp(cond_dim + cells, hidden, layers, steps * head.context_size)

    def _context(self, c: torch.Tensor, first: torch.Tensor | None) -> torch.Tensor:
        """(N, C), (N, D) or None (silence) -> (N, S, context)."""
        if first is None:
            first = c.new_zeros(c.shape[0], self.cells)
        return self.net(torch.cat([c, first], dim=-1)).view(c.shape[0], self.steps, -1)

    def teacher_forced(self, x: torch.Tensor, c: torch.Tensor,
                       first: torch.Tensor | None = None, *, input_dropout: float = 0.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Head logits (N, S, L) of x (N, S, D) given c (N, C) and the step before, ``first``
        (N, D), which ``input_dropout`` silences with that probability."""
        if input_dropout > 0 and first is not None:
            keep = torch.rand(first.shape[0], 1, generator=generator,
                              device=first.device) >= input_dropout
            first = first * keep
        return self._logits(self._context(c, first), x, first, input_dropout, generator)

    def _logits(self, context: torch.Tensor, x: torch.Tensor, first: torch.Tensor | None,
                input_dropout: float = 0.0, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        """The head's logits of a bar's steps x (N, S, D), a head that reads the step before
        reading ``first`` before the bar's first step, each step before silenced with
        probability ``input_dropout``."""
        if not self.head.reads_previous:
            return self.head.logits(context, x)
        before = x.new_zeros(x.shape[0], 1, x.shape[2]) if first is None else first[:, None]
        prev = torch.cat([before.to(x.dtype), x[:, :-1]], 1)  # (N, S, D)
        if input_dropout > 0:
            prev = prev * (torch.rand(*prev.shape[:2], 1, generator=generator,
                                      device=prev.device) >= input_dropout)
        return self.head.logits(context, x, prev)

    def step_by_step(self, c: torch.Tensor, n_steps: int, *, temperature: float = 1.0,
                     generator: torch.Generator | None = None, x: torch.Tensor | None = None,
                     sampling_prob: float = 1.0,
                     first: torch.Tensor | None = None, held: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """`StepLSTM.step_by_step` for one bar (``n_steps`` = S): draws (N, S, D) at
        ``temperature``, keeping the notes ``held`` (N, S, D) sustains sounding; with ``x``,
        scheduled sampling: the logits of x and the steps fed, each a draw with probability
        ``sampling_prob``, else x's."""
        context = self._context(c, first)
        drawn = self.head.sample_steps(context.detach(), temperature, generator, first, held)
        if x is None:
            return None, drawn
        own = torch.rand(*x.shape[:2], 1, generator=generator, device=x.device) < sampling_prob
        return self._logits(context, x, first), torch.where(own, drawn, x)


class HierarchicalDecoder(Decoder, name="hierarchical"):
    """Conductor over bars, then a bar decoder over each bar's steps.

    Uses ``n_steps`` (T) = n_bars * ``steps_per_bar`` (S), ``conductor_hidden``,
    ``conductor_layers``, ``bar_embedding`` (E), ``decoder_hidden`` and
    ``decoder_layers`` (the bar decoder), and z of size Zc = latent + condition_dim.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        zc = cfg.latent + cfg.condition_dim
        self.n_bars, self.steps_per_bar = cfg.n_bars, cfg.steps_per_bar
        self.conductor_layers, self.conductor_hidden = cfg.conductor_layers, cfg.conductor_hidden
        self.conductor_init = nn.Linear(zc, 2 * cfg.conductor_layers * cfg.conductor_hidden)
        # The conductor reads z at each of its n_bars steps; its state starts from z too.
        self.conductor = nn.LSTM(zc, cfg.conductor_hidden, num_layers=cfg.conductor_layers,
                                 batch_first=True)
        self.embed = nn.Linear(cfg.conductor_hidden, cfg.bar_embedding)
        # z's own linear map to every bar's embedding, beside the conductor (direct_bars)
        self.direct = (nn.Linear(zc, cfg.n_bars * cfg.bar_embedding) if cfg.direct_bars
                       else None)
        # bar_latents: each bar's own code, through one linear map shared by the bars
        self.latent = cfg.latent
        self.own = (nn.Linear(cfg.latent // cfg.n_bars, cfg.bar_embedding) if cfg.bar_latents
                    else None)
        # track_latents: the bar decoder runs once per track (a batch of B * K), on cells of
        # one track, reading the track's own code and embedding beside the bar's embedding
        self.tracks = cfg.n_tracks if cfg.track_latents else 0
        cells, one = cfg.cells, cfg
        if self.tracks:
            one = dataclasses.replace(cfg, n_tracks=1, track_latents=False, voice_context=False,
                                      track_outputs="")
            cells = one.cells
            self.own_track = nn.Linear(cfg.latent // (cfg.n_bars * self.tracks),
                                       cfg.bar_embedding)
            embedding = torch.empty(self.tracks, cfg.bar_embedding)
            if not embedding.is_meta:  # drawing on the meta device (the checkpoint's shape
                embedding = 0.1 * torch.randn(embedding.shape)  # check) imports torch._dynamo
            self.track_embedding = nn.Parameter(embedding)
        # voice_context: track k's bar decoder also reads, at each step of the bar, the cells
        # of the tracks after it (decoded before it) merged, through one map shared by the
        # steps, VOICE_FEATURES numbers a step
        self.voice = (nn.Linear(2 * cfg.n_pitches, VOICE_FEATURES) if cfg.voice_context
                      else None)
        cond = cfg.bar_embedding + (cfg.steps_per_bar * VOICE_FEATURES if self.voice else 0)
        # given_input: every track's bar decoder reads the bar's given cells (all tracks) and
        # which tracks are given, through one map shared by the steps
        self.given = (nn.Linear(cfg.n_tracks * (2 * cfg.n_pitches + 1), GIVEN_FEATURES)
                      if cfg.given_input else None)
        cond += cfg.steps_per_bar * GIVEN_FEATURES if self.given else 0

        def bar_decoder(head):
            if cfg.bar_decoder == "mlp":
                return BarMLP(head, cells, cond, cfg.decoder_hidden, cfg.decoder_layers,
                              cfg.steps_per_bar)
            return StepLSTM(head, cells, cond, cfg.decoder_hidden, cfg.decoder_layers,
                            cfg.steps_per_bar if cfg.place_input else 0)

        # the tracks share one bar decoder, except with an output of their own each
        # (track_outputs), when each track has its own
        mixed = self.tracks and cfg.track_outputs
        if mixed:
            self.bars = nn.ModuleList(bar_decoder(h) for h in build_output(cfg).heads)
        else:
            self.bar = bar_decoder(build_output(one))
        # the head that scores whole steps: the bar decoder's, or with tracks decoded apart
        # and a categorical output, the same output over all K tracks (it has no weights;
        # the Bernoulli heads score any number of tracks' logits as they are), or the bars'
        # own heads side by side
        self.scoring = (CategoricalOutput(cfg.n_tracks, cfg.n_pitches)
                        if self.tracks and cfg.output == "categorical" and not mixed else None)
        if mixed:  # the bars' own heads side by side, not registered a second time
            self.__dict__["scoring"] = MixedOutput([b.head for b in self.bars], cfg.n_pitches)
        self.n_pitches = cfg.n_pitches

    completes = True

    def known_codes(self, mask: torch.Tensor) -> torch.Tensor | None:
        if self.own is None:
            return None
        if not self.tracks:  # one code per bar: known where the whole bar is given
            mask = mask.all(-1, keepdim=True)
        per = self.latent // (self.n_bars * mask.shape[-1])  # units per bar (and track)
        return mask.repeat_interleave(per, dim=-1).flatten(1)  # (B, n_bars * K * per)

    def bar_embeddings(self, z: torch.Tensor) -> torch.Tensor:
        """One embedding per bar: (B, Zc) -> (B, n_bars, E); with track_latents, one per
        bar and track, as a batch of the tracks: (B * K, n_bars, E)."""
        state = initial_state(self.conductor_init, z, self.conductor_layers,
                              self.conductor_hidden)
        inputs = z[:, None].expand(-1, self.n_bars, -1)  # (B, n_bars, Zc)
        out, _ = self.conductor(inputs, state)  # (B, n_bars, Hc)
        emb = self.embed(out)  # (B, n_bars, E)
        if self.direct is not None:
            emb = emb + self.direct(z).view(emb.shape)
        if self.own is not None:  # z's first `latent` units are the bars' codes, in order
            emb = emb + self.own(z[:, :self.latent].reshape(z.shape[0], self.n_bars, -1))
        if not self.tracks:
            return torch.tanh(emb)
        codes = z[:, :self.latent].reshape(z.shape[0], self.n_bars, self.tracks, -1)
        emb = emb[:, :, None] + self.own_track(codes) + self.track_embedding  # (B, n_bars, K, E)
        return torch.tanh(emb).transpose(1, 2).flatten(0, 1)  # (B * K, n_bars, E)

    def _split_tracks(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, K * N) -> (B * K, T, N): each track a window of its own (N: its cells)."""
        if not self.tracks:
            return x
        return x.unflatten(-1, (self.tracks, -1)).transpose(1, 2).flatten(0, 1)

    def _join_tracks(self, x: torch.Tensor) -> torch.Tensor:
        """(B * K, T, N) -> (B, T, K * N), `_split_tracks` undone."""
        if not self.tracks:
            return x
        return x.unflatten(0, (-1, self.tracks)).transpose(1, 2).flatten(2)

    def carried_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Each bar's first input, the previous bar's last step: (B, T, D) -> (B * n_bars, D)."""
        b, s = x.shape[0], self.steps_per_bar
        last = x[:, s - 1::s][:, :-1]  # (B, n_bars - 1, D): the last step of bars 0 .. n - 2
        return F.pad(last, (0, 0, 1, 0)).reshape(b * self.n_bars, -1)  # zeros before bar 0

    @property
    def head(self):
        return self.bar.head if self.scoring is None else self.scoring

    def voice_features(self, x: torch.Tensor) -> torch.Tensor:
        """What each track reads of the tracks decoded before it (the tracks after it), per
        bar of whole bars x: (B, T, D) -> (B * K, T / S, S * VOICE_FEATURES), zeros for the
        last track."""
        cells = split_cells(x, self.tracks)  # (B, T, K, 2, P)
        after = cells.flip(2).cummax(2).values.flip(2)  # track k: tracks k.. merged
        after = F.pad(after[:, :, 1:], (0, 0, 0, 0, 0, 1))  # tracks k + 1.., zeros for the last
        v = self.voice(after.flatten(-2))  # (B, T, K, F)
        v = v.transpose(1, 2).unflatten(2, (-1, self.steps_per_bar))  # (B, K, bars, S, F)
        return v.flatten(-2).flatten(0, 1)  # (B * K, n_bars, S * F)

    def given_features(self, given, like: torch.Tensor) -> torch.Tensor:
        """What each bar decoder reads of the given cells: (cells (B, T, D), mask (B, n_bars,
        K) bool) or None (nothing given) -> (B', n_bars, S * GIVEN_FEATURES), one row per
        track with track_latents (B' = B * K), as the bar embeddings; ``like``: those."""
        k, s = self.n_tracks, self.steps_per_bar
        if given is None:
            b = like.shape[0] // (self.tracks or 1)
            cells = like.new_zeros(b, self.n_steps, self.cells)
            mask = torch.zeros(b, self.n_bars, k, dtype=torch.bool, device=like.device)
        else:
            cells, mask = given
        steps = mask.repeat_interleave(s, 1).to(cells.dtype)  # (B, T, K)
        kept = (split_cells(cells, k) * steps[..., None, None]).flatten(2)  # (B, T, D)
        v = self.given(torch.cat([kept, steps], -1))  # (B, T, G)
        v = v.unflatten(1, (self.n_bars, s)).flatten(2)  # (B, n_bars, S * G)
        return v.repeat_interleave(self.tracks, 0) if self.tracks else v

    def logits(self, x, z, *, sampling_prob=0.0, input_dropout=0.0, generator=None,
               given=None):
        """See `Decoder.logits`; ``given``: (cells, mask) as in `sample`, read by a model
        with given_input (nothing given when None)."""
        emb = self.bar_embeddings(z)  # (B', n_bars, E); B' = B, or B * K with track_latents
        if self.voice is not None:  # teacher forcing: the true window's other tracks
            emb = torch.cat([emb, self.voice_features(x)], dim=-1)
        if self.given is not None:
            emb = torch.cat([emb, self.given_features(given, emb)], dim=-1)
        x = self._split_tracks(x)  # (B', T, D')
        if sampling_prob > 0:
            if hasattr(self, "bars"):
                raise ValueError("scheduled sampling is not implemented for tracks with "
                                 "outputs of their own (track_outputs)")
            return self._join_tracks(self._run_bars(emb, x=x, sampling_prob=sampling_prob,
                                                    generator=generator)[0])
        b = x.shape[0]
        bars = x.reshape(b * self.n_bars, self.steps_per_bar, -1)  # (B' n_bars, S, D')
        cond, first = emb.reshape(b * self.n_bars, -1), self.carried_steps(x)
        if not hasattr(self, "bars"):
            out = self.bar.teacher_forced(bars, cond, first, input_dropout=input_dropout,
                                          generator=generator)
            return self._join_tracks(out.reshape(b, self.n_steps, -1))  # (B', T, L') -> (B, T, L)
        # one bar decoder per track: rows b * K + k of the track-batched tensors are track k
        k = self.tracks
        per = lambda t: t.unflatten(0, (-1, k, self.n_bars))  # noqa: E731  (B, K, n_bars, ...)
        bars, cond, first = per(bars), per(cond), per(first)
        outs = [dec.teacher_forced(bars[:, i].flatten(0, 1), cond[:, i].flatten(0, 1),
                                   first[:, i].flatten(0, 1), input_dropout=input_dropout,
                                   generator=generator).reshape(bars.shape[0], self.n_steps, -1)
                for i, dec in enumerate(self.bars)]
        return torch.cat(outs, dim=-1)  # (B, T, sum L_k)

    def sample(self, z, *, temperature=1.0, generator=None, repeats=None, given=None,
               particles=1, guide=None, held=None):
        """Windows drawn from p(x | z); ``repeats`` (B, n_bars) long, optional: bar j of row b
        is bar ``repeats[b, j]`` again, note for note, where that is >= 0 (a form: AABA),
        and the bar after it follows on from the copy.

        ``given``, optional: (cells (B, T, D), mask (B, n_bars, K) bool): track k of bar i is
        taken from the cells, not drawn, where the mask is set. The rows come in groups of
        ``particles`` that share their given cells (B = windows * particles), and the window
        is drawn by sequential importance resampling: after each bar that holds given cells,
        a group's rows are drawn again from themselves in proportion to the likelihood of
        those cells (teacher-forced, after the bar before and the tracks drawn before them),
        and each group's most likely row comes back: (B / particles, T, D).

        ``guide``, optional (with ``given``): a function (cells (B, t, D), step) -> (B,) of
        log weights for the steps from ``step`` of the cells drawn so far (a rule the draws
        should keep, such as no parallel fifths), added after each bar to the likelihood the
        rows are resampled by: the window is drawn from the model tilted by exp(guide).

        ``held``, optional (with ``given``): (B, T, D) cells of notes held over from the
        given cells into the parts drawn, which sound there whatever is drawn
        (`OutputHead.hold`; `midivae.models.vae.held_over` finds them).
        """
        emb = self.bar_embeddings(z)
        if given is not None or self.given is not None:
            return self._run_tracks(emb, temperature, generator, repeats, given=given,
                                    particles=particles, guide=guide, held=held)
        if self.voice is None and not hasattr(self, "bars"):
            if repeats is not None and self.tracks:
                repeats = repeats.repeat_interleave(self.tracks, 0)  # (B * K, n_bars)
            return self._join_tracks(self._run_bars(emb, temperature=temperature,
                                                    generator=generator, repeats=repeats)[1])
        return self._run_tracks(emb, temperature, generator, repeats)

    def _run_tracks(self, emb: torch.Tensor, temperature: float,
                    generator: torch.Generator | None,
                    repeats: torch.Tensor | None = None, given=None,
                    particles: int = 1, guide=None, held=None) -> torch.Tensor:
        """Bars in turn, and within a bar the tracks in turn, last track first, each reading
        the tracks drawn before it (voice_context): emb (B * K, n_bars, E) -> cells (B, T, D).
        Without track_latents the bar decoder draws all tracks at once, as one "track".
        ``given``, ``particles``, ``guide``, ``held``: see `sample`."""
        s, p = self.steps_per_bar, self.n_pitches
        k, n = (self.tracks, 2 * p) if self.tracks else (1, self.cells)
        # the given cells, read after the voices as in `logits`: (B, K, n_bars, S * G)
        read = (self.given_features(given, emb).unflatten(0, (-1, k))
                if self.given is not None else None)
        emb = emb.unflatten(0, (-1, k))  # (B, K, n_bars, E)
        b = emb.shape[0]
        out = emb.new_zeros(b, self.n_steps, k * n)
        first = [None] * k
        cells, mask = given if given is not None else (None, None)
        if mask is not None and not self.tracks:  # one decoder for all tracks: whole bars
            mask = mask.all(-1, keepdim=True)
        log_w = emb.new_zeros(b)  # each row's log-likelihood of the given cells since resampling
        for i in range(self.n_bars):
            bar = slice(i * s, (i + 1) * s)
            for track in reversed(range(k)):
                cond = emb[:, track, i]
                if self.voice is not None:
                    # the tracks after this one hold this bar's draws already
                    cond = torch.cat([cond, self.voice_features(out[:, bar])
                                      .unflatten(0, (b, k))[:, track, 0]], dim=-1)
                if read is not None:
                    cond = torch.cat([cond, read[:, track, i]], dim=-1)
                dec = self.bars[track] if hasattr(self, "bars") else self.bar
                cut = slice(track * n, (track + 1) * n)
                kept = None if mask is None else mask[:, i, track]  # (B,)
                drawn = None
                if kept is None or not bool(kept.all()):
                    _, drawn = dec.step_by_step(cond, s, temperature=temperature,
                                                generator=generator, first=first[track],
                                                held=None if held is None else held[:, bar, cut])
                if kept is not None and bool(kept.any()):
                    true = cells[:, bar, cut]
                    log_w = log_w + torch.where(
                        kept, _bar_log_likelihood(dec, true, cond, first[track], p), 0.0)
                    drawn = true if drawn is None else torch.where(kept[:, None, None], true,
                                                                   drawn)
                out[:, bar, cut] = drawn
            if repeats is not None:
                out[:, bar] = _repeated(out, repeats[:, i], i, s)
            if guide is not None and given is not None:
                log_w = log_w + guide(out[:, :(i + 1) * s], i * s).to(log_w)
            if particles > 1 and mask is not None and (guide is not None
                                                       or bool(mask[:, i].any())):
                pick = _resampled(log_w, particles, generator)  # (B,) rows
                out, emb, log_w = out[pick], emb[pick], log_w.new_zeros(b)
                read = None if read is None else read[pick]
                held = None if held is None else held[pick]
            for track in range(k):
                first[track] = out[:, (i + 1) * s - 1, track * n:(track + 1) * n]
        if given is None or particles == 1:
            return out
        best = log_w.view(-1, particles).argmax(1)  # all equal after a resampling: the first
        return out.view(-1, particles, *out.shape[1:])[torch.arange(len(best)), best]

    def _run_bars(self, emb: torch.Tensor, *, x: torch.Tensor | None = None,
                  sampling_prob: float = 1.0, temperature: float = 1.0,
                  generator: torch.Generator | None = None,
                  repeats: torch.Tensor | None = None):
        """The bars in turn, each fed the last step fed or drawn in the bar before.

        emb: (B, n_bars, E); x: (B, T, D) for scheduled sampling, else None.
        Returns logits (B, T, L) (None when free-running) and cells (B, T, D).
        """
        s, first = self.steps_per_bar, None
        logits, cells = [], []
        for i in range(self.n_bars):
            bar_x = None if x is None else x[:, i * s:(i + 1) * s]  # (B, S, D)
            out, drawn = self.bar.step_by_step(emb[:, i], s, temperature=temperature,
                                               generator=generator, x=bar_x,
                                               sampling_prob=sampling_prob, first=first)
            if repeats is not None:
                drawn = _repeated(torch.cat(cells + [drawn], 1), repeats[:, i], i, s)
            logits.append(out)
            cells.append(drawn)
            first = drawn[:, -1]
        return (None if x is None else torch.cat(logits, 1)), torch.cat(cells, 1)


# nats taken from a draw for each given note it leaves dangling: one the given bar holds from
# the step before (sustained, no onset) where the draw sounds no such note (`_dangling`)
DANGLING = 1000.0


def _bar_log_likelihood(dec: nn.Module, x: torch.Tensor, cond: torch.Tensor,
                        first: torch.Tensor | None, n_pitches: int | None = None
                        ) -> torch.Tensor:
    """Teacher-forced log p of bars x (N, S, D') from a bar decoder given their conditions
    (N, C) and the step before each, ``first`` (N, D') or None (silence): (N,).

    The head scores windows from their own first step, so the carried step is put before
    the bar and its own term (the same in both) taken away again. With ``n_pitches``
    (D' holds tracks of onset then sustain cells of that many pitches), `DANGLING` nats
    less for each note x holds from the step before that ``first`` does not sound: a
    categorical head's hold class continues whatever sounds before it, so it scores such a
    bar as likely after any note, and a gap's last bar drawn to end on another pitch than
    the given bar after it holds would leave that note without its start.
    """
    logits = dec.teacher_forced(x, cond, first)
    if first is None:
        return -dec.head.nll(logits, x)
    ext_x = torch.cat([first[:, None], x], 1)
    ext_logits = torch.cat([logits[:, :1], logits], 1)  # step 0's logits: any will do
    ll = dec.head.nll(ext_logits[:, :1], ext_x[:, :1]) - dec.head.nll(ext_logits, ext_x)
    if n_pitches is None:
        return ll
    return ll - DANGLING * _dangling(first, x[:, 0], n_pitches)


def _dangling(before: torch.Tensor, step: torch.Tensor, n_pitches: int) -> torch.Tensor:
    """Per row, the notes ``step`` (N, D') sustains without an onset that ``before`` (N, D')
    does not sound: (N,) float. D' is tracks of onset then sustain cells of n_pitches."""
    now = step.unflatten(-1, (-1, 2, n_pitches)) > 0  # (N, K', 2, P)
    then = before.unflatten(-1, (-1, 2, n_pitches)) > 0
    return (now[:, :, 1] & ~now[:, :, 0] & ~then[:, :, 1]).flatten(1).sum(1).float()


def _resampled(log_w: torch.Tensor, particles: int,
               generator: torch.Generator | None) -> torch.Tensor:
    """Rows drawn again within each group of ``particles`` in proportion to exp(log_w):
    (B,) -> (B,) row numbers."""
    w = torch.softmax(log_w.view(-1, particles).double(), dim=1).float()  # (groups, particles)
    pick = torch.multinomial(w, particles, replacement=True, generator=generator)
    base = torch.arange(w.shape[0], device=w.device)[:, None] * particles
    return (pick + base).flatten()


def _repeated(window: torch.Tensor, source: torch.Tensor, i: int, s: int) -> torch.Tensor:
    """Bar i of ``window`` (B, >= (i + 1) s, D), each row's replaced by its bar ``source``
    (B,) where that is >= 0: (B, s, D)."""
    bar = window[:, i * s:(i + 1) * s]
    start = (source.clamp_min(0) * s)[:, None] + torch.arange(s, device=window.device)
    copied = window.gather(1, start[..., None].expand(-1, -1, window.shape[2]))
    return torch.where((source >= 0)[:, None, None], copied, bar)
