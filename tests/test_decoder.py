"""The output over a step's cells: ordered (made) conditionals are a distribution, and
sampling follows them; checked by brute force over every window of a tiny pitch range."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy import stats

from midivae.losses import bernoulli_nll
from midivae.models import DECODERS, OUTPUTS, MadeOutput, ModelConfig, VAE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def all_binary(n: int) -> torch.Tensor:
    """Every vector of n bits: (2**n, n) float."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)))


def tiny_decoder(decoder: str, output: str, seed: int = 0, n_tracks: int = 1):
    """A decoder over T = 2 steps of P = 2 pitches (one bar per step when hierarchical),
    with weights made large enough that its conditionals are far from 1/2."""
    torch.manual_seed(seed)
    cfg = ModelConfig(n_steps=2, n_tracks=n_tracks, n_pitches=2, steps_per_bar=1,
                      decoder=decoder, output=output, latent=3, encoder_hidden=8,
                      decoder_hidden=8, conductor_hidden=8, bar_embedding=4, output_hidden=6)
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


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("decoder", DECODERS)
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
@pytest.mark.parametrize("decoder", DECODERS)
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


@pytest.mark.parametrize("decoder", DECODERS)
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
