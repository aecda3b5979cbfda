"""Metrics on hand-made tensors, and the IWAE bound against the ELBO."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from midivae.models.losses import bernoulli_nll, gaussian_kl
from midivae.models.metrics import (active_units, evaluate, iwae_bound, kl_per_dimension,
                             log_importance_weights, onset_prf, step_accuracy,
                             track_onset_counts, track_step_accuracy)
from conftest import DECODER_VARIANTS, decoder_settings
from midivae.models import ModelConfig, VAE


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(decoder: str, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(ModelConfig(n_steps=8, n_tracks=1, n_pitches=6, steps_per_bar=4,
                           **decoder_settings(decoder, "mlp" if decoder == "flat" else "gru"),
                           latent=4,
                           encoder_hidden=16, decoder_hidden=16, conductor_hidden=16,
                           bar_embedding=8))


def tiny_windows(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    on = (torch.rand(n, 8, 1, 1, 6, generator=g) < 0.2).float()  # (B, T, K, 1, P) onsets
    sus = torch.maximum(on, (torch.rand(n, 8, 1, 1, 6, generator=g) < 0.1).float())
    return torch.cat([on, sus], dim=3).reshape(n, 8, 12)  # (B, T, K, 2, P) -> (B, T, D)


def test_step_accuracy_by_hand():
    target = torch.zeros(2, 4, 3)
    target[0, 1, 2] = 1
    pred = target.clone()
    assert step_accuracy(pred, target) == 1.0
    pred[0, 1, 2] = 0  # one wrong cell spoils its whole step
    pred[1, 3, :] = 0.4  # probabilities under 0.5 count as off: still right
    assert step_accuracy(pred, target) == pytest.approx(7 / 8)
    with pytest.raises(ValueError, match="shapes differ"):
        step_accuracy(pred[:1], target)


def test_onset_precision_recall_f1_by_hand():
    # K=2 tracks, P=3: D = 2 * 2 * 3; index = k * 6 + channel * 3 + p
    target, pred = torch.zeros(1, 2, 12), torch.zeros(1, 2, 12)
    target[0, 0, [0, 7]] = 1  # onsets: track 0 pitch 0, track 1 pitch 1
    target[0, 1, 4] = 1  # a sustain cell: not an onset, never counted
    pred[0, 0, [0, 8]] = 1  # one right onset, one wrong (track 1 pitch 2)
    pred[0, 1, [1, 3]] = 1  # another wrong onset; pred's sustain cell 3 is not counted
    precision, recall, f1 = onset_prf(pred, target, n_tracks=2)
    assert (precision, recall) == pytest.approx((1 / 3, 1 / 2))
    assert f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert onset_prf(torch.zeros(1, 2, 12), torch.zeros(1, 2, 12), 2) == (1.0, 1.0, 1.0)
    assert onset_prf(torch.zeros(1, 2, 12), target, 2) == (0.0, 0.0, 0.0)
    # each track alone: track 0 right once of two predicted, track 1 wrong once
    assert track_onset_counts(pred, target, 2) == [(1, 2, 1), (0, 1, 1)]
    # each track's steps: track 0 right at step 0, wrong at step 1 (cells 1 and 3 drawn,
    # 4 missed); track 1 wrong at step 0 (8 for 7), right at step 1 (nothing in either);
    # the whole step right at neither
    assert track_step_accuracy(pred, target, 2) == [0.5, 0.5]
    assert step_accuracy(pred, target) == 0.0
    pred[0, 0, [7, 8]] = torch.tensor([1.0, 0.0])  # track 1 right at step 0 now
    assert track_step_accuracy(pred, target, 2) == [0.5, 1.0]
    assert step_accuracy(pred, target) == 0.5


def test_active_units_and_kl_per_dimension_by_hand():
    mu = torch.tensor([[0.0, 1.0, 0.00], [0.0, -1.0, 0.02], [0.0, 1.0, 0.0], [0.0, -1.0, 0.02]])
    # population variances of the columns: 0, 1, 1e-4 -> one active unit at 0.01
    assert active_units(mu) == 1
    assert active_units(mu, threshold=1e-5) == 2
    logvar = torch.zeros_like(mu)
    torch.testing.assert_close(kl_per_dimension(mu, logvar),
                               torch.tensor([0.0, 0.5, 0.5 * (2 * 0.02 ** 2) / 4]))


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_iwae_with_one_sample_is_the_elbo_estimate(decoder):
    model = tiny_model(decoder).eval()
    x = tiny_windows(5)
    with torch.no_grad():
        mu, logvar = model.posterior(x)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn(mu.shape, generator=torch.Generator().manual_seed(7))
        logits = model.decoder.logits(x, z)
        expected = (-bernoulli_nll(logits, x) + Normal(0.0, 1.0).log_prob(z).sum(1)
                    - Normal(mu, std).log_prob(z).sum(1))
    torch.testing.assert_close(iwae_bound(model, x, k=1, seed=7), expected)


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_iwae_bounds_the_elbo_from_above(decoder):
    model = tiny_model(decoder).eval()
    x = tiny_windows(6)
    weights = log_importance_weights(model, x, k=32, seed=3)  # (k, B)
    iwae = iwae_bound(model, x, k=32, seed=3)
    # Same draws: log-mean-exp >= mean (Jensen), strictly unless all weights agree.
    assert (iwae > weights.mean(0)).all()
    # The mean log weight estimates the ELBO, E_q[log p(x|z)] - KL (analytic KL) ...
    elbo = log_importance_weights(model, x, k=512, seed=4).mean(0)
    with torch.no_grad():
        mu, logvar = model.posterior(x)
        eps = torch.randn(256, *mu.shape, generator=torch.Generator().manual_seed(5))
        recon = torch.stack([model.log_likelihood(x, mu + torch.exp(0.5 * logvar) * e)
                             for e in eps])  # (256, B)
    torch.testing.assert_close(elbo, recon.mean(0) - gaussian_kl(mu, logvar).sum(1),
                               rtol=0.0, atol=0.5)
    # ... and the IWAE bound with many samples sits above it.
    assert (iwae_bound(model, x, k=256, seed=6) >= elbo - 0.05).all()
    with pytest.raises(ValueError, match="k"):
        iwae_bound(model, x, k=0)


def test_evaluate_reports_consistent_numbers():
    model = tiny_model("hierarchical")
    x = tiny_windows(10)
    res = evaluate(model, [(x[:6], torch.zeros(6)), (x[6:], torch.zeros(4))], k=8)
    assert model.training  # mode restored
    assert res["elbo_nats"] == pytest.approx(-(res["recon_nats"] + res["kl_nats"]))
    assert res["nelbo_bits_per_step"] == pytest.approx(-res["elbo_nats"] / (8 * math.log(2)))
    assert res["iwae_nats"] >= res["elbo_nats"] - 1.0
    for key in ("acc_teacher_forced", "acc_free_running", "onset_precision", "onset_recall",
                "onset_f1"):
        assert 0.0 <= res[key] <= 1.0, key
    assert 0 <= res["active_units"] <= 4
    model.eval()
    free = model.reconstruct(x)
    assert res["acc_free_running"] == pytest.approx(step_accuracy(free, x))
    assert res["onset_f1"] == pytest.approx(onset_prf(free, x, 1)[2])


@pytest.mark.parametrize("output", ["made", "independent", "categorical"])
@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_a_padded_windows_likelihood_is_that_of_its_first_steps_alone(decoder, output):
    """What follows step n, padding or music, changes nothing in log p(x_<n | z); all of a
    window's steps give the unmasked figure, and none gives 0."""
    torch.manual_seed(0)
    cfg = ModelConfig(n_steps=8, n_pitches=6, n_tracks=2, steps_per_bar=4, latent=4,
                      encoder_hidden=8, decoder_hidden=8, conductor_hidden=8, bar_embedding=8,
                      output_hidden=8, **decoder_settings(decoder, "lstm"), output=output)
    model = VAE(cfg).eval()
    x = (torch.rand(3, 8, cfg.cells) < 0.3).float()
    if output == "categorical":  # one note per track and step: onset or hold of a pitch
        x = torch.zeros(3, 8, 2, 2, 6)
        x[:, :, :, 1, 2] = 1
        x[:, ::3, :, 0, 2] = 1
        x = x.flatten(2)
    other = x.clone()
    other[:, 5:] = (torch.rand(3, 3, cfg.cells) < 0.5).float() if output != "categorical" else 0
    assert not torch.equal(other, x)
    z = torch.randn(3, 4)
    steps = torch.tensor([5, 5, 5])
    with torch.no_grad():
        a = model.log_likelihood(x, z, steps=steps)
        b = model.log_likelihood(other, z, steps=steps)
        full = model.log_likelihood(x, z)
        assert torch.allclose(a, b, atol=1e-5)
        assert torch.allclose(model.log_likelihood(x, z, steps=torch.tensor([8, 8, 8])), full)
        assert torch.equal(model.log_likelihood(x, z, steps=torch.tensor([0, 0, 0])),
                           torch.zeros(3))
        assert (a > full).all()  # three more steps cost something
