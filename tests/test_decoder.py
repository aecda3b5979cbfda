"""The output over a step's cells: ordered (made) conditionals and the categorical output
are distributions, and sampling follows them; checked by brute force over every window
of a tiny pitch range. The categorical classes of hand-made windows."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy import stats

from midivae.models.losses import bernoulli_nll
from conftest import DECODER_VARIANTS as ALL_VARIANTS, decoder_settings

# These tests feed decoders a 3-unit z of their own; bar latents (a code per bar) need a z
# split into whole bars and are covered by the model-level tests instead.
DECODER_VARIANTS = tuple(v for v in ALL_VARIANTS if not v.endswith("-latents"))
from midivae.models import MadeOutput, ModelConfig, VAE
from midivae.models.heads import (HOLD, REST, CategoricalOutput, cells_to_classes,
                                  classes_to_cells)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BERNOULLI = ("made", "independent")  # the outputs whose likelihood covers every binary window


def all_binary(n: int) -> torch.Tensor:
    """Every vector of n bits: (2**n, n) float."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)))


def tiny_decoder(decoder: str, output: str, seed: int = 0, n_tracks: int = 1, n_steps: int = 2,
                 **sizes):
    """A decoder over T = 2 steps of P = 2 pitches (one bar per step when hierarchical),
    with weights made large enough that its conditionals are far from 1/2."""
    torch.manual_seed(seed)
    cfg = ModelConfig(**{**dict(n_steps=n_steps, n_tracks=n_tracks, n_pitches=2, steps_per_bar=1,
                                **decoder_settings(decoder, "lstm"), output=output, latent=3,
                                encoder_hidden=8, decoder_hidden=8, conductor_hidden=8,
                                bar_embedding=4, output_hidden=6), **sizes})
    model = VAE(cfg)
    with torch.no_grad():
        for name, p in model.decoder.named_parameters():
            p.normal_(0.0, 1.0 if "head" in name else 0.5)
    return model.decoder.eval()


def valid_steps(n_pitches: int = 2) -> torch.Tensor:
    """Every step of one track that keeps onset => sustain: 3**P rows of (2P,) cells."""
    per_pitch = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]  # (onset, sustain)
    rows = []
    for combo in itertools.product(per_pitch, repeat=n_pitches):
        rows.append([c[0] for c in combo] + [c[1] for c in combo])  # layout: onsets, sustains
    return torch.tensor(rows)


def sampler_log_prob(logits: torch.Tensor, x: torch.Tensor, temperature: float) -> torch.Tensor:
    """log-probability that the ordered sampler draws x (B, T, D), one track.

    Each cell is drawn from sigmoid(logit / temperature) given the cells before
    it, except a sustain whose onset is on: it is set, not drawn.
    """
    b, t, d = x.shape
    nll = torch.nn.functional.binary_cross_entropy_with_logits(
        logits / temperature, x, reduction="none").reshape(b, t, 2, d // 2)
    drawn = torch.ones_like(nll)
    drawn[:, :, 1] = 1.0 - x.reshape(b, t, 2, d // 2)[:, :, 0]  # sustain after an onset: set
    return -(nll * drawn).flatten(1).sum(1)


@pytest.mark.parametrize("output", BERNOULLI)
@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_likelihood_sums_to_one_over_every_window(decoder, output):
    dec = tiny_decoder(decoder, output)
    x = all_binary(2 * 4).reshape(-1, 2, 4)  # all 256 windows of T = 2 steps of D = 4 cells
    z = torch.randn(1, 3, generator=torch.Generator().manual_seed(1)).expand(len(x), 3)
    with torch.no_grad():
        log_p = dec.log_likelihood(x, z)
    torch.testing.assert_close(torch.logsumexp(log_p, 0), torch.tensor(0.0), atol=1e-5, rtol=0)
    assert log_p.max() - log_p.min() > 2.0  # far from uniform: the check has teeth


def test_made_conditionals_of_two_tracks_sum_to_one_and_read_only_earlier_cells():
    torch.manual_seed(0)
    head = MadeOutput(n_tracks=2, n_pitches=2, hidden=5)
    with torch.no_grad():
        for p in head.parameters():
            p.normal_()
    context = torch.randn(1, head.context_size)
    x = all_binary(8)  # every step of K = 2 tracks x (onset, sustain) x P = 2
    with torch.no_grad():
        logits = head.logits(context.expand(len(x), -1), x)
    log_p = -bernoulli_nll(logits[:, None], x[:, None])
    torch.testing.assert_close(torch.logsumexp(log_p, 0), torch.tensor(0.0), atol=1e-5, rtol=0)
    # Cell order within a track: onset p0, sustain p0, onset p1, sustain p1. Layout
    # index of (track k, channel c, pitch p) is 4k + 2c + p.
    order = {4 * k + 2 * c + p: (k, 2 * p + c) for k in (0, 1) for c in (0, 1) for p in (0, 1)}
    jac = torch.autograd.functional.jacobian(lambda v: head.logits(context[0], v),
                                             torch.rand(8))  # (8 outputs, 8 inputs)
    for (i, (ki, ni)), (j, (kj, nj)) in itertools.product(order.items(), repeat=2):
        reads = bool(jac[i, j].abs() > 0)
        assert reads == (ki == kj and nj < ni), (i, j)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_made_sampling_follows_the_conditionals(decoder, temperature):
    # Chi-square goodness of fit of 20,000 draws against the probability of
    # each of the 81 valid windows (9 valid steps, two steps) under the sampler.
    dec = tiny_decoder(decoder, "made", seed=2)
    steps = valid_steps()
    windows = torch.stack([torch.stack([a, b]) for a in steps for b in steps])  # (81, 2, 4)
    z = torch.randn(1, 3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = dec.logits(windows, z.expand(len(windows), 3))
        expected = sampler_log_prob(logits, windows, temperature).exp()
        n = 20_000
        draws = dec.sample(z.expand(n, 3), temperature=temperature,
                           generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(expected.sum(), torch.tensor(1.0), atol=1e-5, rtol=0)
    index = (draws.reshape(n, 1, 8) == windows.reshape(1, 81, 8)).all(-1)  # (n, 81)
    assert bool((index.sum(1) == 1).all())  # every draw is a valid window
    observed = index.sum(0).double()
    keep = expected * n >= 5  # chi-square needs expected counts of 5 or more
    assert keep.sum() >= 10
    f_exp = expected[keep].double() * n
    f_obs = observed[keep]
    f_exp = f_exp * f_obs.sum() / f_exp.sum()
    _, p_value = stats.chisquare(f_obs, f_exp)
    assert p_value > 1e-3
    # ... and the test can reject: the same draws are far from uniform
    assert stats.chisquare(f_obs, torch.full_like(f_exp, float(f_obs.mean())))[1] < 1e-6


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_made_temperature_zero_is_greedy_in_order(decoder):
    dec = tiny_decoder(decoder, "made", seed=5)
    z = torch.randn(16, 3, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        greedy = dec.sample(z, temperature=0.0)
        logits = dec.logits(greedy, z).reshape(16, 2, 2, 2)  # (B, T, 2, P)
    cells = greedy.reshape(16, 2, 2, 2)
    on = (logits > 0).float()
    assert torch.equal(cells[:, :, 0], on[:, :, 0])  # each onset its most likely value
    # each sustain its most likely value, unless its onset set it
    assert torch.equal(cells[:, :, 1], torch.maximum(on[:, :, 1], cells[:, :, 0]))


# -- the categorical output ---------------------------------------------------------
def window(steps: list[list[tuple[int, int]]], n_pitches: int = 3) -> torch.Tensor:
    """One track's window from (onset, sustain) pairs per pitch per step: (1, T, 2P)."""
    x = torch.tensor(steps, dtype=torch.float32)  # (T, P, 2)
    return x.transpose(1, 2).reshape(1, len(steps), 2 * n_pitches)  # (T, 2, P) -> (1, T, D)


N, O, S = (0, 0), (1, 1), (0, 1)  # a pitch silent, starting, sustained


@pytest.mark.parametrize("steps, expected", [
    ([[N, N, N], [N, O, N], [N, S, N], [N, N, N]], [REST, 2 + 1, HOLD, REST]),  # onset, hold, rest
    ([[O, N, N], [O, N, N], [S, N, N]], [2, 2, HOLD]),  # re-attack of the same pitch
    ([[S, N, N], [S, N, N], [N, N, N]], [2, HOLD, REST]),  # held across the window's start
    ([[O, N, O], [S, N, S], [S, N, N]], [2 + 2, HOLD, 2]),  # several: the highest; a lone sustain
    ([[N, O, N], [N, N, S]], [2 + 1, 2 + 2]),  # a sustain of another pitch than the one before
])
def test_cells_to_classes_of_hand_made_windows(steps, expected):
    x = window(steps)
    assert cells_to_classes(x, 1)[0, :, 0].tolist() == expected


def test_classes_to_cells_inverts_cells_to_classes_on_monophonic_windows():
    x = window([[N, O, N], [N, S, N], [O, N, N], [O, N, N], [S, N, N], [N, N, N], [N, N, O]])
    classes = cells_to_classes(x, 1)  # (1, T, 1)
    prev = torch.zeros(1, 6)
    for t in range(x.shape[1]):
        prev = classes_to_cells(classes[:, t], prev, 3)
        assert torch.equal(prev, x[:, t]), t
    # a held note across the window's start comes back as an onset; hold after silence is rest
    held = window([[S, N, N]])
    assert classes_to_cells(cells_to_classes(held, 1)[:, 0], torch.zeros(1, 6), 3).tolist() == [
        [1, 0, 0, 1, 0, 0]]
    assert classes_to_cells(torch.tensor([[HOLD]]), torch.zeros(1, 6), 3).sum() == 0


def test_categorical_probabilities_of_a_step_sum_to_one():
    torch.manual_seed(0)
    head = CategoricalOutput(n_tracks=3, n_pitches=4)
    logits = 3 * torch.randn(5, head.context_size)
    prev = torch.zeros(5, 3, 2, 4)  # (B, K, 2, P)
    prev[0, 0, 1, 2] = prev[2, 1, :, 3] = 1  # track 0 of row 0 and track 1 of row 2 sound
    log_p = head.class_log_probs(logits, prev.reshape(5, -1))  # (5, K, P + 2)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(5, 3))
    hold = log_p[..., HOLD].exp()
    assert hold[0, 0] > 0 and hold[2, 1] > 0 and hold[0, 1:].sum() == 0  # hold needs a note


def monophonic_windows(n_steps: int, n_pitches: int) -> torch.Tensor:
    """Every one-track window the categorical output covers: each step silent, starting a
    pitch, or holding the pitch of the step before. (W, T, 2P)."""
    states = [None] + [(p, on) for p in range(n_pitches) for on in (True, False)]
    rows = []
    for seq in itertools.product(states, repeat=n_steps):
        if any(s is not None and not s[1] and (t == 0 or seq[t - 1] is None
                                               or seq[t - 1][0] != s[0])
               for t, s in enumerate(seq)):
            continue  # a sustain that continues nothing
        x = torch.zeros(n_steps, 2, n_pitches)
        for t, s in enumerate(seq):
            if s is not None:
                x[t, 1, s[0]] = 1
                x[t, 0, s[0]] = float(s[1])
        rows.append(x.reshape(n_steps, -1))
    return torch.stack(rows)


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_categorical_likelihood_sums_to_one_over_every_monophonic_window(decoder):
    dec = tiny_decoder(decoder, "categorical", n_steps=3)
    x = monophonic_windows(3, 2)  # every covered window of T = 3 steps, P = 2 pitches
    z = torch.randn(1, 3, generator=torch.Generator().manual_seed(1)).expand(len(x), 3)
    with torch.no_grad():
        log_p = dec.log_likelihood(x, z)
    torch.testing.assert_close(torch.logsumexp(log_p, 0), torch.tensor(0.0), atol=1e-5, rtol=0)
    assert log_p.max() - log_p.min() > 2.0  # far from uniform: the check has teeth


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_categorical_greedy_decoding_takes_the_argmax_classes(decoder):
    # a seed whose greedy windows hold every class
    dec = tiny_decoder(decoder, "categorical", seed=8 if decoder == "hierarchical/mlp" else 1,
                       n_tracks=2, n_steps=4)
    z = torch.randn(32, 3, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        greedy = dec.sample(z, temperature=0.0)
        logits = dec.logits(greedy, z)  # (B, T, K(P + 2)), reading the greedy past
    prev = torch.nn.functional.pad(greedy, (0, 0, 1, 0))[:, :-1]
    argmax = dec.head.class_log_probs(logits, prev).argmax(-1)  # (B, T, K)
    classes = cells_to_classes(greedy, 2)
    assert classes.unique().tolist() == [REST, HOLD, 2, 3]  # every class: the check has teeth
    assert torch.equal(classes, argmax)
    assert torch.equal(dec.most_likely(logits, greedy), greedy)


def test_categorical_sampling_follows_the_softmax():
    torch.manual_seed(0)
    head = CategoricalOutput(n_tracks=1, n_pitches=3)
    logits = torch.tensor([[0.5, -1.0, 1.5, 0.0, -0.5]])  # rest, hold, onset of 0, 1, 2
    prev = window([[N, S, N]]).reshape(1, 6)  # pitch 1 sounds: hold is allowed
    n = 20_000
    for temperature in (1.0, 0.5):
        cells = head.sample(logits.expand(n, -1), temperature,
                            torch.Generator().manual_seed(1), prev.expand(n, -1))
        classes = cells_to_classes(torch.stack([prev.expand(n, -1), cells], 1), 1)[:, 1, 0]
        observed = torch.bincount(classes, minlength=5).double()
        expected = torch.softmax(logits[0].double() / temperature, 0) * n
        assert stats.chisquare(observed, expected)[1] > 1e-3
    assert torch.equal(head.sample(logits, 0.0, None, prev), window([[O, N, N]]).reshape(1, 6))


@pytest.mark.parametrize("decoder", ["recurrent", "hierarchical"])
def test_input_dropout_silences_the_past_steps_fed_to_the_decoder(decoder):
    """With every input dropped the logits no longer depend on the past steps; with
    none dropped they do; the head still scores the true window either way."""
    torch.manual_seed(3)
    model = tiny_decoder(decoder, "independent", n_steps=4)
    z = torch.randn(5, 3)
    x = (torch.rand(5, 4, 4) < 0.5).float()
    other = x.clone()
    other[:, :3] = 1.0 - other[:, :3]  # every past step changed, the last step the same
    almost_all = 1.0 - 1e-9  # torch.rand is < 1, so every input is dropped
    dropped = [model.logits(w, z, input_dropout=almost_all) for w in (x, other)]
    assert torch.equal(dropped[0], dropped[1])
    kept = [model.logits(w, z) for w in (x, other)]
    assert not torch.allclose(kept[0][:, 1:], kept[1][:, 1:])
    assert torch.equal(kept[0][:, 0], kept[1][:, 0])  # step 0 reads no past step


def test_input_dropout_outside_zero_to_one_is_refused():
    from midivae.models import TrainConfig
    for bad in (-0.1, 1.0, 2.0):
        with pytest.raises(ValueError, match="input_dropout must be in"):
            TrainConfig(input_dropout=bad)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("decoder", ["recurrent", "hierarchical"])
def test_the_place_in_the_bar_reaches_the_decoder_alike_teacher_forced_and_step_by_step(
        decoder, layers):
    """With place_input, step t also reads t mod steps_per_bar: the one-pass teacher-forced
    logits equal those of the step-by-step loop fed the same true steps, and they change
    when the places' weights are taken away."""
    model = tiny_decoder(decoder, "independent", n_steps=8, steps_per_bar=4, place_input=True,
                         decoder_layers=layers)
    z = torch.randn(3, 3)
    x = (torch.rand(3, 8, 4) < 0.5).float()
    one_pass = model.logits(x, z)
    g = torch.Generator().manual_seed(0)
    looped = model.logits(x, z, sampling_prob=1e-30, generator=g)  # every input the true one
    assert torch.allclose(one_pass, looped, atol=1e-5)
    plain = tiny_decoder(decoder, "independent", n_steps=8, steps_per_bar=4,
                         decoder_layers=layers)
    assert sum(p.numel() for p in model.parameters()) - sum(
        p.numel() for p in plain.parameters()) == 4 * (4 * 8)  # 4 places x 4H gates, layer 0
    lstm = (model.rnn if decoder == "recurrent" else model.bar).lstm
    with torch.no_grad():
        lstm.weight_ih_l0[:, -4:] = 0.0  # the places' columns: now every place reads alike
    assert not torch.allclose(model.logits(x, z), one_pass, atol=1e-3)


def _zero(head):
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
    return head


@pytest.mark.parametrize("kind", ["independent", "made", "categorical"])
def test_an_onset_bias_makes_every_head_start_more_notes_or_fewer(kind):
    from midivae.models.heads import IndependentOutput, split_cells
    head = _zero({"independent": IndependentOutput(n_tracks=1, n_pitches=3),
                  "made": MadeOutput(n_tracks=1, n_pitches=3, hidden=4),
                  "categorical": CategoricalOutput(n_tracks=1, n_pitches=3)}[kind])
    context = torch.zeros(4000, head.context_size)  # every logit 0

    def onsets(bias):
        head.onset_bias = bias
        drawn = head.sample(context, 1.0, torch.Generator().manual_seed(0))
        return split_cells(drawn, 1)[:, 0, 0]  # (N, P) onsets of the one track

    assert bool((onsets(40.0).sum(-1) >= 1).all())  # a note starts at every step
    assert onsets(-40.0).sum() == 0  # none ever
    unbiased, biased = onsets(0.0).float().mean(), onsets(1.0).float().mean()
    assert biased > unbiased
    if kind != "categorical":  # each onset cell Bernoulli(sigmoid(0 + 1))
        assert abs(biased.item() - torch.sigmoid(torch.tensor(1.0)).item()) < 0.02
        assert abs(unbiased.item() - 0.5) < 0.02
    else:  # 3 onset classes of weight e against rest's and hold's (no note before: 0)
        e = torch.e
        assert abs(biased.item() - e / (3 * e + 1)) < 0.02  # a pitch's share of the steps
    # the bias raises the logit before the temperature: at 0 the most likely cells are the
    # biased logits' (logits of 0: no note unbiased, a note at every step with +0.5)
    for bias, notes in ((0.0, 0), (0.5, 3)):
        head.onset_bias = bias
        greedy = split_cells(head.sample(context[:3], 0.0), 1)[:, 0, 0]
        assert int(greedy.sum()) == notes * (1 if kind == "categorical" else 3)
