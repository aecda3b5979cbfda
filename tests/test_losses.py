"""Bernoulli reconstruction, Gaussian KL, free bits and the beta schedules, by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from midivae.models.losses import (LN2, BetaSchedule, bernoulli_nll, elbo_loss, gaussian_kl,
                            kl_penalty)


def test_bernoulli_nll_by_hand():
    logits = torch.tensor([[[0.0, 2.0], [-1.0, 0.0]]])  # (B=1, T=2, D=2)
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    # -log sigmoid(0) = ln 2; -log(1 - sigmoid(2)) = log(1 + e^2); -log(1 - sigmoid(-1)) = log(1 + e^-1)
    expected = 2 * math.log(2) + math.log(1 + math.e ** 2) + math.log(1 + math.e ** -1)
    assert bernoulli_nll(logits, x).item() == pytest.approx(expected, rel=1e-6)
    assert bernoulli_nll(logits.expand(3, 2, 2), x.expand(3, 2, 2)).shape == (3,)
    # the first steps only: step 0 alone is ln 2 + log(1 + e^2); both steps give the whole
    first = bernoulli_nll(logits.expand(3, 2, 2), x.expand(3, 2, 2), torch.tensor([0, 1, 2]))
    torch.testing.assert_close(first, torch.tensor(
        [0.0, math.log(2) + math.log(1 + math.e ** 2), expected]))


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    assert torch.equal(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2, 3))


def test_free_bits_per_window_by_hand():
    kl = torch.tensor([[1.0, 2.0], [0.5, 0.5]], requires_grad=True)  # nats; totals 3 and 1
    free_bits = 2.0 / LN2  # a threshold of exactly 2 nats
    cost = kl_penalty(kl, free_bits)
    assert cost.item() == pytest.approx((3.0 - 2.0 + 0.0) / 2)  # window 2 is under: costs 0
    cost.backward()
    assert kl.grad.tolist() == [[0.5, 0.5], [0.0, 0.0]]  # no gradient under the threshold
    assert kl_penalty(kl, 0.0).item() == pytest.approx(2.0)  # plain mean of the totals


def test_free_bits_per_dimension_by_hand():
    kl = torch.tensor([[1.0, 0.2], [3.0, 0.2]])  # batch means: 2.0 and 0.2 nats
    assert kl_penalty(kl, 1.0 / LN2, per_dimension=True).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="free_bits"):
        kl_penalty(kl, -1.0)


@pytest.mark.parametrize("schedule, expected", [
    (BetaSchedule("constant", beta_max=0.7), {0: 0.7, 1: 0.7, 10_000: 0.7}),
    (BetaSchedule("linear", beta_max=2.0, warmup_steps=10), {0: 0.0, 5: 1.0, 10: 2.0, 20: 2.0}),
    # MusicVAE: beta_max * (1 - rate**t); rate 0.9 -> 0, 0.1, 0.19, 0.271
    (BetaSchedule("exponential", beta_max=1.0, rate=0.9), {0: 0.0, 1: 0.1, 2: 0.19, 3: 0.271}),
    # Fu et al. 2019, cycles of 10 steps, rising over the first half
    (BetaSchedule("cyclical", beta_max=1.0, warmup_steps=10, ramp=0.5),
     {0: 0.0, 2: 0.4, 5: 1.0, 9: 1.0, 10: 0.0, 13: 0.6, 25: 1.0}),
])
def test_beta_schedules_by_hand(schedule, expected):
    assert {step: schedule(step) for step in expected} == pytest.approx(expected)


def test_bad_beta_schedules_raise():
    for kwargs, field in [({"kind": "cosine"}, "kind"), ({"beta_max": -1.0}, "beta_max"),
                          ({"warmup_steps": 0}, "warmup_steps"), ({"rate": 1.0}, "rate"),
                          ({"ramp": 0.0}, "ramp")]:
        with pytest.raises(ValueError, match=field):
            BetaSchedule(**kwargs)
    with pytest.raises(ValueError, match="step"):
        BetaSchedule()(-1)


def test_elbo_loss_terms_and_units():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 8, 6, generator=g)
    x = (torch.rand(4, 8, 6, generator=g) < 0.3).float()
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    terms = elbo_loss(logits, x, mu, logvar, beta=0.25, free_bits=1.0)
    recon = bernoulli_nll(logits, x).mean()
    kl = gaussian_kl(mu, logvar)
    torch.testing.assert_close(terms.reconstruction, recon)
    torch.testing.assert_close(terms.kl, kl.sum(1).mean())
    torch.testing.assert_close(terms.loss, recon + 0.25 * kl_penalty(kl, 1.0))
    d = terms.to_dict()
    assert d["elbo_nats"] == pytest.approx(-(d["recon_nats"] + d["kl_nats"]))
    assert d["recon_bits_per_step"] == pytest.approx(d["recon_nats"] / (8 * math.log(2)))
    assert d["nelbo_bits_per_step"] == pytest.approx(
        d["recon_bits_per_step"] + d["kl_bits_per_step"])
    assert terms.elbo.item() == pytest.approx(d["elbo_nats"])
