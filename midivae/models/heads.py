"""The output heads: the distribution of one step's D = K * 2 * P cells given a context.

An output head turns a decoder's context for a step into the distribution of
that step's cells. Three heads:
- ``"independent"``: every cell of a step is a Bernoulli given the context.
- ``"made"``: the cells of each track are ordered by pitch, onset before
  sustain of each pitch, and each is a Bernoulli given the context and the
  track's earlier cells of the same step, p(x_t) = prod_i p(x_t,i | x_t,<i,
  past, z), as in RNN-NADE (Boulanger-Lewandowski et al. 2012). The
  conditionals come from a MADE (Germain et al. 2015): masked weights make
  cell i read only cells before it, so teacher forcing is one pass; sampling
  draws the cells in order. Tracks are conditionally independent given the
  context.

- ``"categorical"``: for monophonic tracks (a melody, a chorale voice), each
  track's step is one of P + 2 classes, {rest, hold, onset of pitch p}
  (MusicVAE's melody representation, Roberts et al. 2018): a softmax given
  the context, tracks conditionally independent. "hold" continues the pitch
  sounding at the previous step. See `CategoricalOutput`.

The Bernoulli heads' loss is the BCE of the cell logits, ``log p(x|z) =
-bernoulli_nll(logits, x)``; the categorical head's is the cross-entropy of
its class logits. Each head owns its ``nll`` and its teacher-forced
``most_likely`` cells, and the decoders pass them on, so nothing else needs to
know which head a model has.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from midivae.models.losses import bernoulli_nll, sum_steps
from midivae.models.config import ModelConfig


def split_cells(x: torch.Tensor, n_tracks: int) -> torch.Tensor:
    """A step's D cells as (K tracks, 2: onset then sustain, P pitches), a view.

    The model side's one statement of the cell order (`midivae.midi.layout.RollLayout`
    owns the same order for rolls; models never import it): (..., D) -> (..., K, 2, P).
    """
    return x.unflatten(-1, (n_tracks, 2, -1))


def _check_temperature(temperature: float) -> None:
    """0 or more and finite: NaN compares false with everything, so it is named here, or it
    would draw notes from NaN probabilities."""
    if not (0 <= temperature and math.isfinite(temperature)):
        raise ValueError(f"temperature must be >= 0 and finite, got {temperature!r}")


def sample_cells(logits: torch.Tensor, temperature: float, n_tracks: int,
                 generator: torch.Generator | None = None, onset_bias: float = 0.0
                 ) -> torch.Tensor:
    """Draw every cell independently at a temperature, keeping onset => sustain.

    Each cell is Bernoulli(sigmoid(logit / temperature)), an onset cell's logit raised by
    ``onset_bias`` first (`OutputHead.onset_bias`); temperature 0 gives the most likely
    value (logit > 0). An onset drawn without its sustain gets the sustain, so the
    window is a valid roll step by step.

    Parameters
    ----------
    logits : Tensor, shape (..., D), D = K * 2 * P
    temperature : float, >= 0
    n_tracks : int
        K, to find the onset and sustain cells of each track.
    generator : torch.Generator, optional
        Source of randomness, for reproducible draws.

    Returns
    -------
    Tensor of logits' shape and dtype, values in {0, 1}.
    """
    _check_temperature(temperature)
    if onset_bias:
        logits = logits.float().clone()
        split_cells(logits, n_tracks)[..., 0, :] += onset_bias
    if temperature == 0:
        cells = logits > 0
    else:  # u < sigmoid(l / T) with u ~ U(0, 1); torch.rand is ~4x faster than torch.bernoulli
        u = torch.rand(logits.shape, generator=generator, device=logits.device)
        cells = u < torch.sigmoid(logits.float() / temperature)
    split = split_cells(cells, n_tracks)  # (..., D) -> (..., K, 2, P)
    split[..., 1, :] |= split[..., 0, :]  # onset implies sustain
    return cells.to(logits.dtype)


class OutputHead(nn.Module):
    """What every output head offers; the defaults are those of Bernoulli cells.

    A head has ``context_size`` (C, numbers of context per step) and
    implements ``logits(context (..., C), x (..., D)) -> (..., L)`` (teacher
    forced, L = D for Bernoulli heads) and ``sample(context, temperature,
    generator, prev) -> cells (..., D)``; ``prev`` (..., D) is the step before
    (zeros before the first), which only the categorical head reads.
    """

    context_size: int
    reads_previous = False  # whether teacher-forced logits read the step before (``prev``)
    # Added to the logit of every note's start when sampling, before the temperature (not
    # when scoring): a track draws more notes (or fewer, below 0), in the order the model
    # ranks them. Set for a draw by `VAE.onset_biases`, never saved.
    onset_bias = 0.0

    def nll(self, logits: torch.Tensor, x: torch.Tensor,
            steps: torch.Tensor | None = None) -> torch.Tensor:
        """-log p(x | z) in nats per window: logits (B, T, L), x (B, T, D) -> (B,).

        ``steps`` (B,) counts only each window's first steps (a padded window's
        real ones); a decoder's step t reads only steps before it, so that is
        -log p of those steps alone.
        """
        return bernoulli_nll(logits, x, steps)

    def most_likely(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Each step's most likely cells given the true past, (B, T, L), (B, T, D) -> (B, T, D).

        For Bernoulli cells, logit > 0 (x is not read).
        """
        return (logits > 0).to(logits.dtype)

    def sample_steps(self, context: torch.Tensor, temperature: float = 1.0,
                     generator: torch.Generator | None = None,
                     prev: torch.Tensor | None = None,
                     held: torch.Tensor | None = None) -> torch.Tensor:
        """Draw every step of (B, T, C) contexts that are independent given z: (B, T, D).

        Bernoulli heads draw all steps at once; a head that reads the previous
        step (categorical, made with ``previous``) draws them in order, the first
        after ``prev`` (B, D) (silence when None). ``held`` (B, T, D), optional: notes that sound where it
        sustains them, whatever is drawn (`hold`).
        """
        if self.reads_previous:
            return self.steps_in_order(context, temperature, generator, prev, held)
        drawn = self.sample(context, temperature, generator)
        return drawn if held is None else self.hold(drawn, held)

    def steps_in_order(self, context: torch.Tensor, temperature: float,
                       generator: torch.Generator | None, prev: torch.Tensor | None,
                       held: torch.Tensor | None) -> torch.Tensor:
        """`sample_steps` for a head that reads the step before: each step drawn after the
        one before it (the first after ``prev``), with the notes ``held`` kept."""
        steps = []
        for t in range(context.shape[1]):
            prev = self.sample(context[:, t], temperature, generator, prev)
            if held is not None:
                prev = self.hold(prev, held[:, t])
            steps.append(prev)
        return torch.stack(steps, dim=1)

    def hold(self, cells: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
        """Drawn ``cells`` (..., D) with the notes ``held`` (..., D) sustains kept sounding
        (notes held over from given music into the part drawn: sustain cells, no onsets).
        Bernoulli tracks add them and lose an onset drawn on their pitches; the drawn
        notes beside them stay."""
        c, h = split_cells(cells, self.n_tracks), split_cells(held, self.n_tracks)[..., 1, :] > 0
        onset = c[..., 0, :] * ~h
        sustain = torch.where(h, torch.ones_like(c[..., 1, :]), c[..., 1, :])
        return torch.stack([onset, sustain], -2).flatten(-3)


class IndependentOutput(OutputHead):
    """Every cell of a step independent given the context: the context is the logits."""

    def __init__(self, n_tracks: int, n_pitches: int):
        super().__init__()
        self.n_tracks = n_tracks
        self.context_size = n_tracks * 2 * n_pitches  # D

    def logits(self, context: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., D), (..., D) -> (..., D); x is not read."""
        return context

    def sample(self, context: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None,
               prev: torch.Tensor | None = None) -> torch.Tensor:
        return sample_cells(context, temperature, self.n_tracks, generator, self.onset_bias)


def _to_order(x: torch.Tensor, n_tracks: int) -> torch.Tensor:
    """(..., D) in layout order (K, 2, P) -> (..., K, 2P) in sampling order (p, onset/sustain)."""
    return split_cells(x, n_tracks).transpose(-1, -2).flatten(-2)


def _from_order(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `_to_order`: (..., K, 2P) -> (..., D)."""
    return x.unflatten(-1, (-1, 2)).transpose(-1, -2).flatten(-3)


class MadeOutput(OutputHead):
    """Ordered Bernoulli conditionals over each track's cells of a step (a MADE per track).

    Cell n of a track's order (n = 2 p + c: pitch p, c = 0 onset, 1 sustain)
    has logit ``b_n + A_n . x_<n + V_n . relu(a + W x)``, masked so that it
    reads only cells before it: hidden unit j has degree m_j in 1..N-1 and
    reads cells n < m_j; cell n reads units with m_j <= n (Germain et al.
    2015, eq. 12-13). The context of a step supplies the hidden biases ``a``
    (H per track) and the output biases ``b`` (N = 2P per track).

    With ``previous``, the step before (all of its cells, known) also feeds the hidden
    units and every output, ``a + W x + R x_prev`` and ``b + ... + Q x_prev``: a note
    sounding at the step before is likely to go on sounding, which context alone (the
    MLP bar decoder gives every step of a bar at once) cannot say, so its held notes
    broke into short ones. Steps are then drawn in order (`sample_steps`).

    Parameters
    ----------
    n_tracks, n_pitches : int
        K and P.
    hidden : int
        H, masked hidden units per track.
    previous : bool
        Read the step before.
    """

    def __init__(self, n_tracks: int, n_pitches: int, hidden: int, previous: bool = False):
        super().__init__()
        k, n = n_tracks, 2 * n_pitches
        self.n_tracks, self.n_cells, self.hidden = k, n, hidden
        self.reads_previous = previous
        self.context_size = k * (hidden + n)
        degree = 1 + torch.arange(hidden) % max(n - 1, 1)  # (H,), spread over 1..N-1
        order = torch.arange(n)  # (N,)
        self.register_buffer("in_mask", (order[None] < degree[:, None]).float(), persistent=False)
        self.register_buffer("out_mask", (degree[None] <= order[:, None]).float(),
                             persistent=False)
        self.register_buffer("direct_mask", torch.ones(n, n).tril(-1), persistent=False)
        self.w_in = nn.Parameter(torch.empty(k, hidden, n).uniform_(-1, 1) / math.sqrt(n))
        self.w_out = nn.Parameter(torch.empty(k, n, hidden).uniform_(-1, 1) / math.sqrt(hidden))
        self.w_direct = nn.Parameter(torch.zeros(k, n, n))
        if previous:  # the step before: no mask, every cell of it is known
            self.w_prev = nn.Parameter(torch.empty(k, hidden, n).uniform_(-1, 1) / math.sqrt(n))
            self.w_prev_out = nn.Parameter(torch.zeros(k, n, n))

    def _masked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (self.w_in * self.in_mask, self.w_out * self.out_mask,
                self.w_direct * self.direct_mask)  # (K, H, N), (K, N, H), (K, N, N)

    def _split(self, context: torch.Tensor, prev: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The hidden and output biases of (..., K(H + N)) contexts, (..., K, H) and
        (..., K, N), with the step before, ``prev`` (..., D), read when the head reads it
        (silence when None)."""
        c = context.unflatten(-1, (self.n_tracks, self.hidden + self.n_cells))  # (..., K, H + N)
        a, b = c[..., :self.hidden], c[..., self.hidden:]
        if self.reads_previous and prev is not None:
            po = _to_order(prev.to(context.dtype), self.n_tracks)  # (..., K, N)
            a = a + torch.einsum("...kn,khn->...kh", po, self.w_prev.to(a.dtype))
            b = b + torch.einsum("...km,knm->...kn", po, self.w_prev_out.to(a.dtype))
        return a, b

    def logits(self, context: torch.Tensor, x: torch.Tensor,
               prev: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits of a step's cells: (..., T, K(H + N)), (..., T, D) -> (..., T,
        D); a head that reads the step before reads ``prev`` (..., T, D), by default x's
        steps shifted by one (silence before the first)."""
        w_in, w_out, w_direct = self._masked()
        if self.reads_previous and prev is None:
            prev = _previous(x)
        a, b = self._split(context, prev)
        xo = _to_order(x.to(context.dtype), self.n_tracks)  # (..., K, N)
        h = torch.relu(a + torch.einsum("...kn,khn->...kh", xo, w_in.to(a.dtype)))
        out = (b + torch.einsum("...kh,knh->...kn", h, w_out.to(a.dtype))
               + torch.einsum("...km,knm->...kn", xo, w_direct.to(a.dtype)))
        return _from_order(out)  # (..., K, N) -> (..., D)

    def sample(self, context: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None,
               prev: torch.Tensor | None = None) -> torch.Tensor:
        """Draw a step's cells in order: (..., K(H + N)) -> (..., D) in {0, 1}.

        Cell n is Bernoulli(sigmoid(logit_n / temperature)) given the cells
        drawn before it; temperature 0 takes the most likely value of each in
        turn (greedy). An onset drawn on sets its sustain, which is then not
        drawn (onset => sustain).
        """
        _check_temperature(temperature)
        w_in, w_out, w_direct = self._masked()
        a, b = self._split(context.float(), prev)
        u = (torch.rand(b.shape, generator=generator, device=b.device) if temperature > 0
             else None)
        cells = torch.zeros_like(b)  # (..., K, N)
        direct = torch.zeros_like(b)  # running A x_<n
        for n in range(self.n_cells):
            # Hidden units that cell n reads (m_j <= n) have seen all their inputs in a.
            logit = b[..., n] + direct[..., n] + (torch.relu(a) * w_out[:, n]).sum(-1)
            if self.onset_bias and not n % 2:  # cells alternate onset, sustain
                logit = logit + self.onset_bias
            if temperature == 0:
                on = logit > 0
            else:
                on = u[..., n] < torch.sigmoid(logit / temperature)
            if n % 2:  # a sustain cell: on when its onset is
                on = on | (cells[..., n - 1] > 0)
            x_n = on.float()  # (..., K)
            cells[..., n] = x_n
            a = a + x_n[..., None] * w_in[:, :, n]
            direct = direct + x_n[..., None] * w_direct[:, :, n]
        return _from_order(cells).to(context.dtype)



REST, HOLD = 0, 1  # categorical classes; class 2 + p is an onset of pitch p


def _previous(x: torch.Tensor) -> torch.Tensor:
    """The step before each step, zeros before the first: (B, T, D) -> (B, T, D)."""
    return F.pad(x, (0, 0, 1, 0))[..., :-1, :]


def _top(on: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The highest pitch that is on, and whether any is: (..., P) {0, 1} -> (...,) long, bool."""
    ramp = torch.arange(1, on.shape[-1] + 1, device=on.device, dtype=on.dtype)  # (P,)
    value, pitch = (on * ramp).max(-1)  # the highest pitch on has the largest p + 1
    return pitch, value > 0


def sounding(x: torch.Tensor, n_tracks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The pitch each track sounds at a step: (..., D) -> pitch (..., K) long, sounds (..., K) bool.

    The sounding pitch is the highest sustained one (a monophonic track has at
    most one); "hold" continues it.
    """
    return _top(split_cells(x, n_tracks)[..., 1, :].float())


def cells_to_classes(x: torch.Tensor, n_tracks: int) -> torch.Tensor:
    """The categorical classes of windows of cells: (B, T, D) -> (B, T, K) long.

    Per track and step: an onset of pitch p gives onset(p) (class 2 + p; with
    several onsets, the highest pitch); else a sustain of the pitch sounding at
    the step before (`sounding`; nothing before step 0) gives HOLD; else any
    sustain without onset -- a note held across the window's start, say --
    gives an onset of that pitch (the highest); else REST. Monophonic windows
    come back exactly through `classes_to_cells`, except that a note held into
    the window starts at its first step; polyphony keeps the highest note.
    """
    cells = split_cells(x, n_tracks).float()  # (B, T, D) -> (B, T, K, 2, P)
    onset, any_onset = _top(cells[..., 0, :])  # (B, T, K) each
    sustain, any_sustain = _top(cells[..., 1, :])
    before, sounded = sounding(_previous(x), n_tracks)
    hold = sounded & (cells[..., 1, :].gather(-1, before[..., None])[..., 0] > 0.5)
    classes = torch.where(any_sustain, 2 + sustain, REST)
    classes = torch.where(hold, HOLD, classes)
    return torch.where(any_onset, 2 + onset, classes)


def classes_to_cells(classes: torch.Tensor, prev: torch.Tensor, n_pitches: int) -> torch.Tensor:
    """Cells of a step from its classes and the step before: (..., K) long, (..., D) -> (..., D).

    onset(p) sets onset and sustain of p; HOLD sustains the pitch sounding in
    ``prev`` (nothing, when nothing sounds); REST sets nothing.
    """
    held, sounds = sounding(prev, classes.shape[-1])  # (..., K) each
    onset = classes >= 2
    pitch = torch.where(onset, classes - 2, held)
    one_hot = F.one_hot(pitch, n_pitches).to(prev.dtype)  # (..., K, P)
    sustain = onset | ((classes == HOLD) & sounds)
    cells = torch.stack([one_hot * onset[..., None], one_hot * sustain[..., None]], dim=-2)
    return cells.flatten(-3)  # (..., K, 2, P) -> (..., D)


class CategoricalOutput(OutputHead):
    """One class per monophonic track and step: {rest, hold, onset of each of P pitches}.

    MusicVAE's melody representation (Roberts et al. 2018, sec. 5.1): the
    context of a step is the class logits of every track (K(P + 2)), a
    softmax per track; tracks are conditionally independent given the
    context. Hold is ruled out (logit -inf) where the previous step sounds
    nothing, so that distinct class sequences are distinct windows and the
    likelihood is a distribution over the windows `cells_to_classes` covers.
    Windows are scored through `cells_to_classes` (see it for what is lost).

    Parameters
    ----------
    n_tracks, n_pitches : int
        K and P.
    """

    def __init__(self, n_tracks: int, n_pitches: int):
        super().__init__()
        self.n_tracks, self.n_classes = n_tracks, n_pitches + 2
        self.context_size = n_tracks * self.n_classes

    def logits(self, context: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., K(P + 2)), (..., D) -> (..., K(P + 2)): the class logits; x is not read."""
        return context

    def _masked(self, logits: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """Class logits per track, hold at -inf where prev sounds nothing: -> (..., K, P + 2)."""
        c = logits.unflatten(-1, (self.n_tracks, self.n_classes)).float()  # (..., K, P + 2)
        silent = ~sounding(prev, self.n_tracks)[1]  # (..., K)
        is_hold = torch.arange(self.n_classes, device=c.device) == HOLD  # (P + 2,)
        return c.masked_fill(silent[..., None] & is_hold, -math.inf)

    def class_log_probs(self, logits: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """log p(class) per track: (..., K(P + 2)), prev (..., D) -> (..., K, P + 2)."""
        return self._masked(logits, prev).log_softmax(-1)

    def nll(self, logits: torch.Tensor, x: torch.Tensor,
            steps: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy of the classes of x in nats, summed per window (over the first
        ``steps[b]`` steps when given): -> (B,)."""
        log_p = self.class_log_probs(logits, _previous(x))  # (B, T, K, P + 2)
        target = cells_to_classes(x, self.n_tracks)[..., None]  # (B, T, K, 1)
        per_step = -log_p.gather(-1, target).flatten(2).sum(2)  # (B, T)
        return sum_steps(per_step, steps)

    def most_likely(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The argmax classes as cells, hold continuing the true previous step: (B, T, D)."""
        prev = _previous(x.to(logits.dtype))
        return classes_to_cells(self._masked(logits, prev).argmax(-1), prev, self.n_classes - 2)

    def sample(self, context: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None,
               prev: torch.Tensor | None = None) -> torch.Tensor:
        """Draw a step: (..., K(P + 2)), prev (..., D) or None (silence) -> cells (..., D).

        Each track's class is drawn from softmax(logits / temperature) by the
        Gumbel-max trick: argmax of logits / T + G, G = -log E with E ~ Exp(1)
        a standard Gumbel; temperature 0 takes the argmax.
        """
        _check_temperature(temperature)
        n_pitches = self.n_classes - 2
        if prev is None:
            prev = context.new_zeros(*context.shape[:-1], self.n_tracks * 2 * n_pitches)
        logits = self._masked(context, prev)  # (..., K, P + 2)
        if self.onset_bias:  # every class but rest and hold starts a note
            logits = logits + self.onset_bias * (
                torch.arange(self.n_classes, device=logits.device) > HOLD)
        if temperature > 0:
            e = torch.empty_like(logits).exponential_(generator=generator)
            logits = logits / temperature - e.log()
        return classes_to_cells(logits.argmax(-1), prev.to(context.dtype), n_pitches)

    def hold(self, cells: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
        """See `OutputHead.hold`: a monophonic track's step where ``held`` sustains a note
        is that note alone."""
        h = split_cells(held, self.n_tracks)
        holds = (h[..., 1, :] > 0).any(-1)[..., None, None]  # (..., K, 1, 1)
        return torch.where(holds, h.to(cells.dtype),
                           split_cells(cells, self.n_tracks)).flatten(-3)

    def sample_steps(self, context: torch.Tensor, temperature: float = 1.0,
                     generator: torch.Generator | None = None,
                     prev: torch.Tensor | None = None,
                     held: torch.Tensor | None = None) -> torch.Tensor:
        """Draw the steps of (B, T, K(P + 2)) in order, each reading the one before (the
        first ``prev`` (B, D), silence when None): (B, T, D). ``held``: as
        `OutputHead.sample_steps`; the steps after a held note read it."""
        return self.steps_in_order(context, temperature, generator, prev, held)


class MixedOutput(OutputHead):
    """One head per track, each over its own track's cells: a categorical melody beside
    ``made`` polyphonic accompaniment, say. Tracks are conditionally independent given the
    context, which is the tracks' contexts joined in track order, as are the logits (track
    k's L_k of them: P + 2 for a categorical track, 2P for a Bernoulli one).

    Parameters
    ----------
    heads : sequence of OutputHead
        One single-track head per track, in track order.
    n_pitches : int
        P, so that a step's cells split into tracks of 2P.
    """

    def __init__(self, heads, n_pitches: int):
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.n_tracks, self.n_cells = len(self.heads), 2 * n_pitches
        self.context_sizes = [h.context_size for h in self.heads]
        self.context_size = sum(self.context_sizes)
        self.logit_sizes = [self.n_cells if not isinstance(h, CategoricalOutput)
                            else h.n_classes for h in self.heads]

    def _cells(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return x.split(self.n_cells, dim=-1)

    def logits(self, context: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(..., sum C_k), (..., D) -> (..., sum L_k)."""
        parts = zip(self.heads, context.split(self.context_sizes, -1), self._cells(x))
        return torch.cat([h.logits(c, xk) for h, c, xk in parts], dim=-1)

    def nll(self, logits: torch.Tensor, x: torch.Tensor,
            steps: torch.Tensor | None = None) -> torch.Tensor:
        parts = zip(self.heads, logits.split(self.logit_sizes, -1), self._cells(x))
        return sum(h.nll(lk, xk, steps) for h, lk, xk in parts)

    def most_likely(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        parts = zip(self.heads, logits.split(self.logit_sizes, -1), self._cells(x))
        return torch.cat([h.most_likely(lk, xk) for h, lk, xk in parts], dim=-1)

    def _each(self, context, prev, draw):
        prevs = self._cells(prev) if prev is not None else [None] * self.n_tracks
        return torch.cat([draw(h, c, p) for h, c, p in
                          zip(self.heads, context.split(self.context_sizes, -1), prevs)], dim=-1)

    def sample(self, context: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None,
               prev: torch.Tensor | None = None) -> torch.Tensor:
        return self._each(context, prev, lambda h, c, p: h.sample(c, temperature, generator, p))

    def sample_steps(self, context: torch.Tensor, temperature: float = 1.0,
                     generator: torch.Generator | None = None,
                     prev: torch.Tensor | None = None,
                     held: torch.Tensor | None = None) -> torch.Tensor:
        helds = self._cells(held) if held is not None else [None] * self.n_tracks
        parts = zip(self.heads, context.split(self.context_sizes, -1),
                    self._cells(prev) if prev is not None else [None] * self.n_tracks, helds)
        return torch.cat([h.sample_steps(c, temperature, generator, p, hk)
                          for h, c, p, hk in parts], dim=-1)

    def hold(self, cells: torch.Tensor, held: torch.Tensor) -> torch.Tensor:
        return torch.cat([h.hold(c, hk) for h, c, hk in
                          zip(self.heads, self._cells(cells), self._cells(held))], dim=-1)


def track_outputs(cfg: ModelConfig) -> list[str]:
    """The output of each track: ``cfg.track_outputs`` when given, else ``cfg.output``."""
    return cfg.track_outputs.split(",") if cfg.track_outputs else [cfg.output] * cfg.n_tracks


def build_output(cfg: ModelConfig) -> OutputHead:
    """The output head named by ``cfg.output``, or one head per track (`MixedOutput`) when
    ``cfg.track_outputs`` names them."""
    if cfg.track_outputs:
        one = dataclasses.replace(cfg, n_tracks=1, track_outputs="", track_latents=False,
                                  voice_context=False)
        return MixedOutput([build_output(dataclasses.replace(one, output=o))
                            for o in track_outputs(cfg)], cfg.n_pitches)
    if cfg.output == "categorical":
        return CategoricalOutput(cfg.n_tracks, cfg.n_pitches)
    if cfg.output == "made":
        return MadeOutput(cfg.n_tracks, cfg.n_pitches, cfg.output_hidden, cfg.made_previous)
    return IndependentOutput(cfg.n_tracks, cfg.n_pitches)
