"""The three decoders behind one interface, the VAE wrapper and the training loop."""

from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from midivae.models.losses import bernoulli_nll
from midivae.models.metrics import reconstruction_accuracy
from conftest import DECODER_VARIANTS, decoder_settings
from midivae.models import (DECODERS, OUTPUTS, PRESETS, ModelConfig, VAE, interpolate_latents,
                            lerp, preset, sample_cells, slerp)
from midivae.models.recurrent import initial_state
from midivae.run.train import lr_factor, train

T, P, S = 16, 12, 4  # steps, pitches, steps per bar of the small test windows


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_config(decoder: str, encoder: str | None = None, **overrides) -> ModelConfig:
    """``decoder``: one of DECODER_VARIANTS; ``encoder`` unless the variant needs its own
    (default: mlp for the flat decoder, else lstm)."""
    encoder = encoder or ("mlp" if decoder == "flat" else "lstm")
    settings = dict(n_steps=T, n_tracks=1, n_pitches=P, steps_per_bar=S,
                    **decoder_settings(decoder, encoder),
                    latent=16,
                    encoder_hidden=64, decoder_hidden=128, conductor_hidden=64, bar_embedding=32)
    settings.update(overrides)
    return ModelConfig(**settings)


def small_model(decoder: str, seed: int = 0, encoder: str | None = None, **overrides) -> VAE:
    torch.manual_seed(seed)
    return VAE(small_config(decoder, encoder, **overrides))


def random_windows(n: int, n_tracks: int = 1, seed: int = 0) -> torch.Tensor:
    """Monophonic random melodies with rests, one per track: float (n, T, K * 2 * P)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, T, n_tracks, 2, P), np.float32)
    for i in range(n):
        for k in range(n_tracks):
            t = 0
            while t < T:
                length = int(rng.integers(1, 5))
                if rng.random() < 0.75:
                    p = rng.integers(P)
                    x[i, t, k, 0, p] = 1
                    x[i, t:t + length, k, 1, p] = 1
                t += length
    return torch.from_numpy(x.reshape(n, T, -1))  # (n, T, K, 2, P) -> (n, T, D)


def onset_implies_sustain(x: torch.Tensor, n_tracks: int = 1) -> bool:
    cells = x.reshape(*x.shape[:2], n_tracks, 2, -1)  # (B, T, K, 2, P)
    return bool((cells[..., 0, :] <= cells[..., 1, :]).all())


# -- shapes and plumbing -------------------------------------------------------
@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_shapes(decoder):
    model = small_model(decoder)
    x = random_windows(5)
    out = model(x)
    assert out.logits.shape == (5, T, 2 * P)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (5, 16)
    assert model.encode(x).shape == (5, 16)
    for y in (model.decode(out.mu), model.sample(3, seed=0), model.reconstruct(x)):
        assert y.shape[1:] == (T, 2 * P)
        assert set(y.unique().tolist()) <= {0.0, 1.0}
    assert model.log_likelihood(x, out.mu).shape == (5,)


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_multitrack_gru_and_stacked_layers(decoder):
    model = small_model(decoder, n_tracks=3, encoder="gru" if decoder != "flat" else "mlp",
                        encoder_layers=2, decoder_layers=2, conductor_layers=2,
                        latent=24)  # whole codes for 4 bars x 3 tracks with track latents
    x = random_windows(2, n_tracks=3)
    assert model(x).logits.shape == (2, T, 3 * 2 * P)
    y = model.sample(4, temperature=1.0, seed=1)
    assert y.shape == (4, T, 3 * 2 * P)
    assert onset_implies_sustain(y, n_tracks=3)


def test_the_bars_encoder_reads_every_bar_with_weights_shared_over_the_bars():
    model = small_model("hierarchical/mlp", encoder="bars", n_labels=2)
    x = random_windows(3)
    label = torch.tensor([0, 1, 0])
    mu, logvar = model.posterior(x, label)
    assert mu.shape == logvar.shape == (3, 16)
    for bar in range(T // S):  # a change in any bar moves mu
        changed = x.clone()
        changed[:, bar * S:(bar + 1) * S] = 1.0 - changed[:, bar * S:(bar + 1) * S]
        assert not torch.allclose(model.posterior(changed, label)[0], mu), bar
    # one bar MLP for every bar: its input is one bar, whatever the window's length
    assert model.encoder.bar[0].in_features == S * 2 * P
    longer = small_model("hierarchical/mlp", encoder="bars", n_steps=2 * T)
    assert longer.encoder.bar[0].weight.shape == model.encoder.bar[0].weight.shape
    with pytest.raises(ValueError, match="bars encoder needs whole bars"):
        small_config("flat", encoder="bars", n_steps=T + 1)


def test_bar_latents_give_each_bar_its_own_code_read_through_one_shared_map():
    model = small_model("hierarchical/mlp/bar-latents", n_labels=2)
    enc, dec = model.encoder, model.decoder
    n_bars, code = T // S, 16 // (T // S)
    x = random_windows(3)
    label = torch.tensor([0, 1, 1])
    with torch.no_grad():
        mu, logvar = model.posterior(x, label)
        out, _ = enc.rnn(enc.bar(x.reshape(3, n_bars, S * 2 * P)))  # (B, bars, 2H)
        cond = model.label_embedding(label)[:, None].expand(-1, n_bars, -1)
        by_hand = enc.head.proj(torch.cat([out, cond], dim=-1))  # one head for every bar
        torch.testing.assert_close(mu, by_hand[..., :code].flatten(1))
        torch.testing.assert_close(logvar, by_hand[..., code:].flatten(1))
        # the decoder: bar i's embedding adds one shared linear map of bar i's code alone
        z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
        zc = torch.cat([z, model.label_embedding(label)], dim=-1)  # the conductor reads both
        conducted = dec.embed(dec.conductor(zc[:, None].expand(-1, n_bars, -1),
                                            initial_state(dec.conductor_init, zc, 1, 64))[0])
        own = torch.stack([z[:, i * code:(i + 1) * code] @ dec.own.weight.T + dec.own.bias
                           for i in range(n_bars)], dim=1)
        torch.testing.assert_close(dec.bar_embeddings(zc), torch.tanh(conducted + own))
    assert dec.own.weight.shape == (32, code)
    assert small_model("hierarchical/mlp").decoder.own is None  # off by default
    with pytest.raises(ValueError, match="needs the hierarchical decoder and the bars encoder"):
        small_config("hierarchical/mlp", bar_latents=True)
    with pytest.raises(ValueError, match="latent=18 is not a multiple of 4"):
        small_config("hierarchical/mlp/bar-latents", latent=18)


def test_track_latents_give_each_bar_and_track_its_own_code_and_decode_tracks_apart():
    k, n_bars, code = 3, T // S, 24 // (T // S * 3)
    model = small_model("hierarchical/mlp/track-latents", n_tracks=k, latent=24, n_labels=2)
    enc, dec = model.encoder, model.decoder
    x = random_windows(3, n_tracks=k)
    label = torch.tensor([1, 0, 1])
    with torch.no_grad():
        mu, logvar = model.posterior(x, label)
        cells = x.reshape(3, n_bars, S, k, 2 * P)
        cond = model.label_embedding(label)
        for bar in range(n_bars):
            for track in range(k):  # track's bar alone, its one-hot id
                one_hot = torch.zeros(3, k)
                one_hot[:, track] = 1
                own = enc.bar(torch.cat([cells[:, bar, :, track].flatten(1), one_hot], -1))
                summaries = torch.cat([enc.bar(torch.cat(
                    [cells[:, :, :, j].flatten(2), torch.eye(k)[j].expand(3, n_bars, k)], -1))
                    for j in range(k)], dim=-1)  # (B, bars, K * H): every track, every bar
                out = enc.rnn(summaries)[0][:, bar]  # the GRU at this bar
                by_hand = enc.head.proj(torch.cat([own, out, cond], -1))
                at = (bar * k + track) * code  # z is bar by bar, then track by track
                torch.testing.assert_close(mu[:, at:at + code], by_hand[:, :code])
                torch.testing.assert_close(logvar[:, at:at + code], by_hand[:, code:])
        # the decoder: a track's logits read its own cells only (given z) ...
        zc = torch.cat([mu, cond], dim=-1)
        logits = dec.logits(x, zc)  # categorical heads: K * (P + 2) logits a step
        assert logits.shape == (3, T, k * 2 * P)
        changed = x.reshape(3, T, k, 2 * P).clone()
        changed[:, :, 0] = 1.0 - changed[:, :, 0]
        other = dec.logits(changed.flatten(2), zc).reshape(3, T, k, 2 * P)
        torch.testing.assert_close(other[:, :, 1:], logits.reshape(3, T, k, 2 * P)[:, :, 1:])
        assert not torch.allclose(other[:, :, 0], logits.reshape(3, T, k, 2 * P)[:, :, 0])
        # ... from an embedding of its bar and its own code, and one decoder shared by tracks
        bars = dec.bar_embeddings(zc).reshape(3, k, n_bars, -1)  # (B * K, bars, E) by track
        plain = dec.own_track.weight.shape
        assert plain == (32, code) and dec.bar.net[0].in_features == 32 + 2 * P
        codes = mu.reshape(3, n_bars, k, code)
        shared = bars.atanh()[:, 1] - bars.atanh()[:, 0]  # the bar's own part cancels
        torch.testing.assert_close(
            shared, (codes[:, :, 1] - codes[:, :, 0]) @ dec.own_track.weight.T
            + dec.track_embedding[1] - dec.track_embedding[0], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="track_latents splits each bar's code by track: it "
                                         "needs bar_latents"):
        small_config("hierarchical/mlp", n_tracks=k, track_latents=True)
    with pytest.raises(ValueError, match="latent=16 is not a multiple of 12"):
        small_config("hierarchical/mlp/track-latents", n_tracks=k)


def test_the_sampling_prior_is_standard_until_fitted_to_the_aggregate_posterior():
    model = small_model("hierarchical/mlp/bar-latents", latent=4)
    prior = model.prior
    assert not prior.fitted  # N(0, I): exactly torch.randn's draws
    torch.testing.assert_close(prior.draw(3, torch.Generator().manual_seed(5)),
                               torch.randn(3, 4, generator=torch.Generator().manual_seed(5)))
    mu = torch.tensor([[0.0, 0, 0, 1], [2, 0, 0, -1]])
    logvar = torch.log(torch.tensor([[1.0, 1, 4, 1], [1, 3, 2, 1]]))
    prior.fit(mu, logvar)
    assert prior.fitted
    # by hand: mean (1, 0, 0, 0); Cov(mu) over the two windows has 1 at (0, 0), (3, 3), and
    # -1 at (0, 3) and (3, 0); plus the mean posterior variances (1, 2, 3, 1) on the diagonal
    cov = torch.tensor([[2.0, 0, 0, -1], [0, 2, 0, 0], [0, 0, 3, 0], [-1, 0, 0, 2]])
    torch.testing.assert_close(prior.mean, torch.tensor([1.0, 0, 0, 0]))
    torch.testing.assert_close(prior.scale @ prior.scale.T, cov)
    z = prior.draw(20_000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.cov(z.T), cov, atol=0.1, rtol=0.05)
    # rank 2: the eigenvalue 3 twice, along unit 2 and along (1, 0, 0, -1) / sqrt(2)
    prior.fit(mu, logvar, rank=2)
    torch.testing.assert_close(prior.scale @ prior.scale.T, torch.tensor(
        [[1.5, 0, 0, -1.5], [0, 0, 0, 0], [0, 0, 3, 0], [-1.5, 0, 0, 1.5]]))
    assert prior.draw(5)[:, 1].abs().max() < 1e-6  # no variance off those two directions
    # with noise: the two directions left out (eigenvalues 1 along (1, 0, 0, 1) / sqrt(2)
    # and 2 along unit 1) both get their mean, 1.5 (probabilistic PCA)
    prior.fit(mu, logvar, rank=2, noise=True)
    torch.testing.assert_close(prior.scale @ prior.scale.T, torch.tensor(
        [[2.25, 0, 0, -0.75], [0, 1.5, 0, 0], [0, 0, 3, 0], [-0.75, 0, 0, 2.25]]))
    # diagonal noise: each unit gets back what the kept directions leave of its variance,
    # (2 - 1.5, 2 - 0, 3 - 3, 2 - 1.5), so the diagonal is the data's
    prior.fit(mu, logvar, rank=2, noise="diagonal")
    torch.testing.assert_close(prior.scale @ prior.scale.T, torch.tensor(
        [[2.0, 0, 0, -1.5], [0, 2, 0, 0], [0, 0, 3, 0], [-1.5, 0, 0, 2]]))
    with pytest.raises(ValueError, match=r"noise must be one of isotropic, diagonal, got 'pca'"):
        prior.fit(mu, logvar, rank=2, noise="pca")
    with pytest.raises(ValueError, match=r"rank must be in 1..4, got 5"):
        prior.fit(mu, logvar, rank=5)
    assert model.sample(2, seed=0).shape == (2, T, 2 * P)
    with pytest.raises(ValueError, match="needs at least 2 windows, got 1"):
        prior.fit(mu[:1], logvar[:1])
    with pytest.raises(ValueError, match=r"expected mu and logvar of shape \(N, 4\)"):
        prior.fit(mu[:, :3], logvar[:, :3])


def test_the_sampling_prior_fitted_by_group_is_a_mixture_of_each_groups_gaussian(tmp_path):
    from midivae.run.checkpoint import load_checkpoint, save_checkpoint
    model = small_model("hierarchical/mlp/bar-latents", latent=4)
    prior = model.prior
    mu = torch.tensor([[0.0, 0, 0, 0], [2, 0, 0, 0], [10, 10, 10, 10], [12, 10, 10, 10],
                       [11, 10, 13, 10], [50, 50, 50, 50]])
    logvar = torch.log(torch.full_like(mu, 0.5))
    groups = torch.tensor([3, 3, 7, 7, 7, 9])  # group 9: one window, fewer than min_group
    prior.fit(mu, logvar, None, groups, min_group=2)
    assert prior.components == 2
    torch.testing.assert_close(prior.weights, torch.tensor([0.4, 0.6]))
    torch.testing.assert_close(prior.means, torch.tensor([[1.0, 0, 0, 0], [11, 10, 11, 10]]))
    # by hand: group 3's Cov(mu) is 1 at (0, 0); group 7's is 2/3 at (0, 0), 2 at (2, 2) and
    # 0 between; both plus the posterior variance 0.5 on the diagonal
    cov3 = torch.diag(torch.tensor([1.5, 0.5, 0.5, 0.5]))
    cov7 = torch.diag(torch.tensor([2 / 3 + 0.5, 0.5, 2.5, 0.5]))
    for c, cov in enumerate((cov3, cov7)):
        torch.testing.assert_close(prior.scales[c] @ prior.scales[c].T, cov)
    z = prior.draw(20_000, torch.Generator().manual_seed(0))
    second = z[:, 1] > 5  # group 7's draws, group 3's the others
    assert abs(second.float().mean().item() - 0.6) < 0.02
    torch.testing.assert_close(torch.cov(z[second].T), cov7, atol=0.1, rtol=0.05)
    torch.testing.assert_close(z[~second].mean(0), prior.means[0], atol=0.05, rtol=0)
    # a walk: each latent a draw of the same component, successive ones correlated by
    # sqrt(1 - a^2); its first latents are the draws themselves
    walk = prior.walk(20_000, 3, 0.6, torch.Generator().manual_seed(0))
    torch.testing.assert_close(walk[:, 0], z)
    assert bool(((walk[:, :, 1] > 5) == second[:, None]).all())  # one key throughout
    for step in (1, 2):
        torch.testing.assert_close(torch.cov(walk[second, step].T), cov7, atol=0.1, rtol=0.05)
    e0, e1 = (walk[second, i, 2] - prior.means[1, 2] for i in (0, 1))
    assert torch.corrcoef(torch.stack([e0, e1]))[0, 1].item() == pytest.approx(0.8, abs=0.02)
    # rank 1: each Gaussian keeps its largest direction only
    prior.fit(mu, logvar, 1, groups, min_group=2)
    assert prior.scales.shape == (2, 4, 1)
    torch.testing.assert_close(prior.scales[1] @ prior.scales[1].T,
                               torch.diag(torch.tensor([0.0, 0, 2.5, 0])))
    # the mixture travels in the checkpoint, whatever its size
    save_checkpoint(model, tmp_path / "m")
    loaded = load_checkpoint(tmp_path / "m").prior
    for name in ("weights", "means", "scales", "mean", "scale"):
        torch.testing.assert_close(getattr(loaded, name), getattr(prior, name))
    torch.testing.assert_close(loaded.draw(5, torch.Generator().manual_seed(1)),
                               prior.draw(5, torch.Generator().manual_seed(1)))
    # rank 1 with noise: the directions left out vary by their mean variance, group 3's
    # (0.5, 0.5, 0.5) -> 0.5 and group 7's (2/3 + 0.5, 0.5, 0.5) -> 13/18
    prior.fit(mu, logvar, 1, groups, min_group=2, noise=True)
    torch.testing.assert_close(prior.noises ** 2, torch.tensor([0.5, 13 / 18]))
    z = prior.draw(20_000, torch.Generator().manual_seed(0))
    second = z[:, 1] > 5
    torch.testing.assert_close(torch.cov(z[second].T), torch.diag(torch.tensor(
        [13 / 18, 13 / 18, 2.5, 13 / 18])), atol=0.1, rtol=0.05)
    walk = prior.walk(4, 2, 0.6, torch.Generator().manual_seed(3))
    torch.testing.assert_close(walk[:, 0], prior.draw(4, torch.Generator().manual_seed(3)))
    save_checkpoint(model, tmp_path / "n")
    torch.testing.assert_close(load_checkpoint(tmp_path / "n").prior.noises, prior.noises)
    known = torch.tensor([[True, False, False, False]] * 2)
    drawn = prior.conditional(z[:2], known, 3, torch.Generator().manual_seed(0))
    assert drawn.shape == (2, 3, 4) and torch.equal(drawn[..., 0], z[:2, None, 0].expand(2, 3))
    # diagonal: group 3 keeps unit 0 (1.5) and gives back 0.5 in each other unit; group 7
    # keeps unit 2 (2.5) and gives back 2/3 + 0.5 in unit 0 and 0.5 in units 1 and 3
    prior.fit(mu, logvar, 1, groups, min_group=2, noise="diagonal")
    torch.testing.assert_close(prior.noises ** 2, torch.tensor(
        [[0.0, 0.5, 0.5, 0.5], [2 / 3 + 0.5, 0.5, 0, 0.5]]))
    z = prior.draw(20_000, torch.Generator().manual_seed(0))
    second = z[:, 1] > 5
    torch.testing.assert_close(torch.cov(z[second].T), cov7, atol=0.1, rtol=0.05)
    torch.testing.assert_close(torch.cov(z[~second].T), cov3, atol=0.1, rtol=0.05)
    save_checkpoint(model, tmp_path / "d")
    loaded = load_checkpoint(tmp_path / "d").prior
    torch.testing.assert_close(loaded.draw(5, torch.Generator().manual_seed(1)),
                               prior.draw(5, torch.Generator().manual_seed(1)))
    drawn = prior.conditional(z[:2], known, 3, torch.Generator().manual_seed(0))
    assert drawn.shape == (2, 3, 4) and torch.equal(drawn[..., 0], z[:2, None, 0].expand(2, 3))
    prior.fit(mu, logvar, 1, groups, min_group=2)  # without: no noise, the draws as before
    assert len(prior.noises) == 0
    # components given: every draw of the walk from those (the clip's key), none drawn
    keys = torch.tensor([1, 0, 1])
    walk = prior.walk(3, 4, 0.6, torch.Generator().manual_seed(2), components=keys)
    assert ((walk[..., 1] > 5) == (keys == 1)[:, None]).all()
    assert torch.equal(prior.draw(3, torch.Generator().manual_seed(2), keys), walk[:, 0])
    assert prior.draw_components(5, torch.Generator().manual_seed(0)).shape == (5,)
    with pytest.raises(ValueError, match=r"expected \(2,\) components, got \(3,\)"):
        prior.draw(2, components=keys)
    prior.fit(mu, logvar)  # without groups: one Gaussian again
    assert prior.components == 0 and prior.fitted
    assert prior.draw_components(5) is None  # and components given are not read
    torch.testing.assert_close(prior.draw(3, torch.Generator().manual_seed(4), keys),
                               prior.draw(3, torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match=r"no group holds 20 windows: \{3: 2, 7: 3, 9: 1\}"):
        prior.fit(mu, logvar, None, groups)
    with pytest.raises(ValueError, match=r"expected one group per window, \(6,\), got \(5,\)"):
        prior.fit(mu, logvar, None, groups[:5])


@pytest.mark.parametrize("decoder, encoder", [
    (d, e) for d in DECODER_VARIANTS for e in ("lstm", "bars")
    if not (d.endswith("-latents") and e == "lstm")])  # bar latents need the bars encoder
@pytest.mark.parametrize("sampling_prob", [0.0, 0.5])
def test_gradients_reach_every_parameter(decoder, sampling_prob, encoder):
    model = small_model(decoder, n_labels=3, encoder=encoder)
    x = random_windows(6)
    model.loss(x, torch.tensor([0, 1, 2, 0, 1, 2]), beta=1.0,
               sampling_prob=sampling_prob).loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_kl_term_matches_torch_distributions(decoder):
    model = small_model(decoder)
    x = random_windows(7)
    with torch.no_grad():
        # move the posterior away from the prior so the check is not trivial
        model.encoder.head.proj.bias.normal_(0.0, 1.0)
        mu, logvar = model.posterior(x)
        terms = model.loss(x, beta=0.3)
    q = Normal(mu, torch.exp(0.5 * logvar))
    expected = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1).mean()
    assert expected > 1.0
    torch.testing.assert_close(terms.kl, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms.loss, terms.reconstruction + 0.3 * terms.kl)


def test_eval_uses_posterior_mean_and_training_samples():
    model = small_model("recurrent")
    x = random_windows(3)
    model.eval()
    out = model(x)
    assert torch.equal(out.z, out.mu)
    assert not torch.equal(model(x, sample_latent=True).z, out.mu)
    model.train()
    assert not torch.equal(model(x).z, model(x).mu)


# -- the decoders' own invariants ------------------------------------------------
@pytest.mark.parametrize("output", ["made", "independent"])  # categorical: test_decoder.py
@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_free_running_at_temperature_zero_agrees_with_teacher_forcing(decoder, output):
    # Feeding the decoder its own most likely output must give back logits whose
    # signs are that output: the step-by-step and the teacher-forced paths agree.
    model = small_model(decoder, seed=3, output=output).eval()
    with torch.no_grad():
        z = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
        x_hat = model.decode(z, temperature=0.0)
        logits = model.decoder.logits(x_hat, z).reshape(4, T, 2, P)  # (B, T, K=1, 2, P) folded
    on = (logits > 0).float()
    cells = x_hat.reshape(4, T, 2, P)
    assert cells.sum() > 0 and (1 - cells).sum() > 0
    assert torch.equal(cells[:, :, 0], on[:, :, 0])
    assert torch.equal(cells[:, :, 1], torch.maximum(on[:, :, 1], on[:, :, 0]))


@pytest.mark.parametrize("decoder", ["recurrent", "hierarchical", "hierarchical/mlp"])
def test_scheduled_sampling_at_zero_probability_is_teacher_forcing(decoder):
    model = small_model(decoder)
    x = random_windows(3)
    z = torch.randn(3, 16)
    with torch.no_grad():
        stepped = model.decoder.logits(x, z, sampling_prob=1e-9,
                                       generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(stepped, model.decoder.logits(x, z), rtol=1e-4, atol=1e-5)
        mixed = model.decoder.logits(x, z, sampling_prob=1.0)
    assert mixed.shape == (3, T, 2 * P) and not torch.allclose(mixed, model.decoder.logits(x, z))


@pytest.mark.parametrize("decoder", ["hierarchical", "hierarchical/mlp"])
def test_hierarchical_bars_see_the_previous_bars_last_step_only(decoder):
    x = random_windows(2)
    z = torch.randn(2, 16)
    hier = small_model(decoder).decoder
    before = hier.logits(x, z)
    changed = x.clone()
    changed[:, :S - 1] = 1.0 - changed[:, :S - 1]  # rewrite bar 0 but for its last step
    after = hier.logits(changed, z)
    assert torch.equal(before[:, S:], after[:, S:])  # no decoder state crosses a bar line
    assert not torch.equal(before[:, 1:S], after[:, 1:S])
    carried = x.clone()
    carried[:, S - 1] = 1.0 - carried[:, S - 1]  # bar 0's last step is bar 1's first input
    after = hier.logits(carried, z)
    assert not torch.allclose(before[:, S], after[:, S])
    assert torch.equal(before[:, 2 * S:], after[:, 2 * S:])
    rec = small_model("recurrent").decoder  # the flat-over-time decoder does carry state
    assert not torch.allclose(rec.logits(x, z)[:, S:], rec.logits(changed, z)[:, S:])


def test_the_mlp_bar_decoder_reads_no_past_step_of_its_own_bar():
    # Independent cells: a step's logits read z and the previous bar's last step only, so
    # free-running cannot drift from what teacher forcing learnt within a bar.
    hier = small_model("hierarchical/mlp", output="independent").decoder
    x = random_windows(2)
    z = torch.randn(2, 16)
    changed = x.clone()
    changed[:, S:2 * S] = 1.0 - changed[:, S:2 * S]  # rewrite all of bar 1
    before, after = hier.logits(x, z), hier.logits(changed, z)
    assert torch.equal(before[:, :2 * S], after[:, :2 * S])  # bar 1 itself unchanged
    # bar 2 reads bar 1's last step, in every one of its steps; bar 3 does not
    assert not torch.allclose(before[:, 2 * S:3 * S], after[:, 2 * S:3 * S])
    assert torch.equal(before[:, 3 * S:], after[:, 3 * S:])


def test_direct_bars_give_each_bar_its_own_linear_map_of_z_beside_the_conductor():
    model = small_model("hierarchical/mlp", direct_bars=True)
    dec = model.decoder
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        conducted = dec.embed(dec.conductor(z[:, None].expand(-1, T // S, -1),
                                            initial_state(dec.conductor_init, z, 1, 64))[0])
        w = dec.direct.weight.view(T // S, 32, 16)  # (bars, E, Z): one map per bar
        b = dec.direct.bias.view(T // S, 32)
        direct = torch.einsum("nez,bz->bne", w, z) + b  # (B, bars, E)
        torch.testing.assert_close(dec.bar_embeddings(z), torch.tanh(conducted + direct))
    x = random_windows(4)
    model.loss(x, beta=1.0).loss.backward()
    assert dec.direct.weight.grad.abs().sum() > 0
    assert small_model("hierarchical/mlp").decoder.direct is None  # off by default


@pytest.mark.parametrize("output", ["made", "categorical"])
@pytest.mark.parametrize("decoder", ["hierarchical", "hierarchical/mlp"])
def test_hierarchical_sampling_carries_the_last_step_drawn_into_the_next_bar(decoder, output):
    model = small_model(decoder, seed=4, output=output).eval()
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x_hat = model.decode(z, temperature=0.0)
        assert x_hat.sum() > 0
        emb = model.decoder.bar_embeddings(z)  # (B, n_bars, E)
        for bar in range(1, T // S):
            _, cells = model.decoder.bar.step_by_step(emb[:, bar], S, temperature=0.0,
                                                      first=x_hat[:, bar * S - 1])
            assert torch.equal(cells, x_hat[:, bar * S:(bar + 1) * S])


@pytest.mark.parametrize("decoder", ["hierarchical", "hierarchical/mlp"])
def test_a_note_held_across_a_bar_line_is_reconstructed(decoder):
    # Each window holds one pitch through both bars. z is zero, so only the
    # carried step can tell the second bar which pitch is still sounding: a bar
    # that started from a zero input could not be right at the bar line.
    torch.manual_seed(0)
    model = VAE(small_config(decoder, n_steps=2 * S))
    x = torch.zeros(P, 2 * S, 2, P)
    for p in range(P):
        x[p, 0, 0, p] = 1
        x[p, :, 1, p] = 1
    x = x.reshape(P, 2 * S, 2 * P)  # (B, T, 2, P) -> (B, T, D)
    z = torch.zeros(P, 16)
    opt = torch.optim.Adam(model.decoder.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        (-model.decoder.log_likelihood(x, z).mean()).backward()
        opt.step()
    with torch.no_grad():
        pred = (model.decoder.logits(x, z) > 0).float()
    assert torch.equal(pred[:, S:], x[:, S:])  # the whole second bar, bar line included


# -- generation -------------------------------------------------------------------
@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_sampling_is_deterministic_for_a_seed(decoder):
    model = small_model(decoder)
    a = model.sample(6, temperature=1.0, seed=11)
    assert torch.equal(a, model.sample(6, temperature=1.0, seed=11))
    assert not torch.equal(a, model.sample(6, temperature=1.0, seed=12))
    assert onset_implies_sustain(a)
    z = torch.zeros(2, 16)
    assert torch.equal(model.decode(z, temperature=0.7, seed=5),
                       model.decode(z, temperature=0.7, seed=5))


def test_sample_cells_draws_at_a_temperature_and_keeps_onset_implies_sustain():
    # one track, two pitches: onset logits (1.0, -2.0), sustain logits (-1.0, 3.0)
    logits = torch.tensor([1.0, -2.0, -1.0, 3.0]).expand(20_000, 4)
    g = torch.Generator().manual_seed(0)
    for temperature in (0.5, 1.0, 2.0):
        draws = sample_cells(logits, temperature, 1, g).mean(0)
        p = torch.sigmoid(logits[0] / temperature)
        expected = torch.cat([p[:2], 1 - (1 - p[2:]) * (1 - p[:2])])  # sustain: either drawn
        torch.testing.assert_close(draws, expected, rtol=0.0, atol=0.015)
    assert sample_cells(logits[:1], 0.0, 1).tolist() == [[1.0, 0.0, 1.0, 1.0]]
    with pytest.raises(ValueError, match="temperature"):
        sample_cells(logits, -1.0, 1)


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_temperature_towards_zero_gives_the_most_likely_cells(decoder):
    model = small_model(decoder)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(2))
    assert torch.equal(model.decode(z, temperature=1e-9, seed=1), model.decode(z, temperature=0))


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_interpolation_endpoints_are_the_inputs_latents(decoder):
    model = small_model(decoder).eval()
    x = random_windows(2, seed=4)
    za, zb = model.encode(x)
    for method in ("slerp", "lerp"):
        path = interpolate_latents(za, zb, 5, method)
        assert path.shape == (5, 16)
        assert torch.equal(path[0], za) and torch.equal(path[-1], zb)
    windows = model.interpolate(x[0], x[1], 5)
    assert windows.shape == (5, T, 2 * P)
    assert torch.equal(windows[0], model.reconstruct(x[:1])[0])
    assert torch.equal(windows[-1], model.reconstruct(x[1:])[0])


def test_slerp_and_lerp_by_hand():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    t = torch.tensor([0.0, 0.5, 1.0])
    torch.testing.assert_close(lerp(a, b, t), torch.tensor([[1.0, 0.0], [0.5, 1.0], [0.0, 2.0]]))
    # 90 degrees apart: the midpoint weighs both by sin(45 deg) / sin(90 deg)
    h = float(np.sqrt(0.5))
    torch.testing.assert_close(slerp(a, b, t)[1], torch.tensor([h, 2 * h]))
    torch.testing.assert_close(slerp(a, a, t), lerp(a, a, t))  # parallel: no division by 0
    with pytest.raises(ValueError, match="method"):
        interpolate_latents(a, b, 3, "cubic")


def test_attribute_vector_is_a_difference_of_mean_latents():
    model = small_model("flat").eval()
    x = random_windows(6)
    v = model.attribute_vector(x[:2], x[2:])
    torch.testing.assert_close(v, model.encode(x[:2]).mean(0) - model.encode(x[2:]).mean(0))
    assert torch.equal(model.apply_attribute(x[:1], v, 0.0), model.reconstruct(x[:1]))
    moved = model.decode(model.encode(x[:1]) + 3.0 * v)
    assert torch.equal(model.apply_attribute(x[:1], v, 3.0), moved)


@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_label_conditioning_changes_outputs(decoder):
    model = small_model(decoder, n_labels=3).eval()
    x = random_windows(2)
    assert not torch.allclose(model.encode(x, 0), model.encode(x, 1))
    z = model.encode(x, 0)
    code0 = torch.cat([z, model.label_embedding(torch.tensor([0, 0]))], 1)
    code2 = torch.cat([z, model.label_embedding(torch.tensor([2, 2]))], 1)
    assert not torch.allclose(model.decoder.logits(x, code0), model.decoder.logits(x, code2))
    assert torch.equal(model.decode(z, label=1), model.decode(z, label=torch.tensor([1, 1])))
    with pytest.raises(ValueError, match="label"):
        model.encode(x)
    with pytest.raises(ValueError, match="label"):
        model.encode(x, 3)


# -- learning ---------------------------------------------------------------------
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("decoder", DECODER_VARIANTS)
def test_each_decoder_overfits_eight_windows(decoder, output):
    """Every window reconstructed exactly, teacher-forced and free-running, within 500
    steps (checked every 20; the variants need 60-280, so training stops when they do)."""
    x = random_windows(8, seed=1)
    model = small_model(decoder, seed=1, output=output)
    assert reconstruction_accuracy(model, x, free_running=True) < 0.5
    records = []

    class Overfitted(Exception):
        pass

    def check(record):
        if record["kind"] != "train":
            return
        records.append(record)
        model.eval()
        exact = (reconstruction_accuracy(model, x, free_running=False) == 1.0
                 and reconstruction_accuracy(model, x, free_running=True) == 1.0)
        model.train()
        if exact:
            raise Overfitted

    with pytest.raises(Overfitted):
        train(model, [(x, torch.zeros(8, dtype=torch.long))], steps=500, lr=1e-2, beta=0.0,
              grad_clip=1.0, seed=1, log_every=20, log=check)
    assert records[-1]["step"] <= 500
    assert records[-1]["recon_nats"] < records[0]["recon_nats"]


def test_training_is_deterministic_for_a_seed():
    x = random_windows(16, seed=2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=4,
                                         shuffle=True)
    runs = []
    for _ in range(2):
        model = small_model("hierarchical", seed=5)
        hist = train(model, loader, epochs=2, beta=0.5, scheduled_sampling=0.2, seed=9,
                     log_every=1)
        runs.append((hist, model.state_dict()))
    assert len(runs[0][0].train) == 8
    assert runs[0][0].train == runs[1][0].train
    for name, t in runs[0][1].items():
        assert torch.equal(t, runs[1][1][name]), name


def test_train_records_validation_logs_and_checks_arguments(tmp_path):
    x = random_windows(8)
    batches = [(x[:4], torch.zeros(4, dtype=torch.long)), (x[4:], torch.zeros(4, dtype=torch.long))]
    seen = []
    model = small_model("flat")
    hist = train(model, batches, steps=6, beta=lambda step: 0.1 * step, free_bits=4.0,
                 valid_loader=batches, valid_every=3, log=seen.append, log_every=2, bf16=True)
    assert [r["step"] for r in hist.train] == [2, 4, 6]
    assert [r["step"] for r in hist.valid] == [3, 6]
    assert [r["beta"] for r in hist.train] == pytest.approx([0.1, 0.3, 0.5])
    assert seen == sorted(hist.train + hist.valid, key=lambda r: (r["step"], r["kind"]))
    v = hist.valid[-1]
    assert v["elbo_nats"] == pytest.approx(-(v["recon_nats"] + v["kl_nats"]))
    with pytest.raises(ValueError, match="exactly one"):
        train(model, batches, steps=2, epochs=1)
    with pytest.raises(ValueError, match="beta"):
        train(model, batches, steps=2, beta=-1.0)


# -- settings ---------------------------------------------------------------------
def test_presets_are_valid_and_the_cpu_ones_run():
    for name, p in PRESETS.items():
        assert p.about and p.model.decoder in DECODERS, name
        if name.endswith("-cpu"):
            torch.manual_seed(0)
            model = VAE(dataclasses.replace(p.model, n_pitches=8))
            x = torch.zeros(2, p.model.n_steps, model.config.cells)
            assert model.loss(x, beta=p.train.beta(0)).loss.isfinite()
    cfg, train_cfg = preset("recurrent-2bar-cpu", n_pitches=48)
    assert cfg.n_pitches == 48 and train_cfg.lr > 0
    with pytest.raises(ValueError, match="unknown preset"):
        preset("nope")


def test_bad_settings_and_inputs_raise():
    with pytest.raises(ValueError, match="multiple of steps_per_bar"):
        small_config("hierarchical", n_steps=18)
    with pytest.raises(ValueError, match="decoder"):
        small_config("transformer")
    with pytest.raises(ValueError, match="latent"):
        small_config("flat", latent=0)
    with pytest.raises(TypeError, match="latent must be an int"):
        small_config("flat", latent=5.5)
    with pytest.raises(ValueError, match="output"):
        small_config("flat", output="nade")
    model = small_model("flat")
    with pytest.raises(ValueError, match=r"\(B, 16, 24\)"):
        model(torch.zeros(2, 15, 24))
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        model.decode(torch.zeros(2, 8))


def test_models_never_import_the_midi_layer():
    forbidden = ("mido", "pretty_midi", "music21", "midivae.midi.quantize", "midivae.midi.render",
                 "midivae.midi.layout", "midivae.data", "midivae.midi.roll", "midivae.run.generate")
    root = Path(__file__).resolve().parents[1] / "midivae" / "models"
    files = sorted(root.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"


def test_settings_saved_before_the_output_field_describe_independent_cells():
    d = small_config("recurrent").to_dict()
    assert ModelConfig.from_dict(d).output == "made"
    del d["output"]
    assert ModelConfig.from_dict(d).output == "independent"


def test_log_likelihood_is_minus_bernoulli_nll_of_the_logits():
    model = small_model("recurrent")
    x = random_windows(3)
    z = torch.randn(3, 16)
    torch.testing.assert_close(model.log_likelihood(x, z),
                               -bernoulli_nll(model.decoder.logits(x, z), x))


# -- the recipe -------------------------------------------------------------------
def test_lr_factor_by_hand():
    assert [lr_factor(s, 0.0, warmup_steps=4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert lr_factor(10, 0.0, decay="cosine", min_lr=0.1) == pytest.approx(1.0)
    assert lr_factor(10, 0.5, decay="cosine", min_lr=0.1) == pytest.approx(0.55)
    assert lr_factor(10, 1.0, decay="cosine", min_lr=0.1) == pytest.approx(0.1)
    assert lr_factor(1, 1.0, warmup_steps=4, decay="cosine", min_lr=0.0) == 0.0


def test_train_follows_the_lr_schedule_and_reports_active_units():
    x = random_windows(8)
    batches = [(x[:4], torch.zeros(4)), (x[4:], torch.zeros(4))]
    model = small_model("recurrent")
    hist = train(model, batches, steps=8, lr=0.01, warmup_steps=2, lr_decay="cosine",
                 min_lr=0.0, weight_decay=0.1, log_every=1, valid_loader=batches,
                 valid_every=4, free_bits=1.0, free_bits_per_dimension=True)
    lrs = [r["lr"] for r in hist.train]  # the rate used at step s is recorded at s + 1
    expected = [0.01 * lr_factor(s, s / 8, warmup_steps=2, decay="cosine", min_lr=0.0)
                for s in range(8)]
    assert lrs == pytest.approx(expected)
    assert lrs[1] == max(lrs) and lrs[-1] < 0.1 * lrs[1]
    for r in hist.train + hist.valid:
        assert 0 <= r["active_units"] <= 16
    with pytest.raises(ValueError, match="lr_decay"):
        train(model, batches, steps=2, lr_decay="step")


def test_train_stops_when_its_minutes_are_spent():
    x = random_windows(4)
    model = small_model("flat")
    start = time.monotonic()
    hist = train(model, [(x, torch.zeros(4))], steps=None, minutes=1.5 / 60, lr_decay="cosine",
                 log_every=10**6)
    assert 1.5 <= time.monotonic() - start < 30
    assert len(hist.train) == 1 and hist.train[0]["step"] > 1  # the last step is recorded
    assert hist.train[0]["lr"] < 0.2 * 1e-3  # the cosine reached the end of its budget
    with pytest.raises(ValueError, match="minutes"):
        train(model, [(x, torch.zeros(4))], minutes=0.0)
    with pytest.raises(ValueError, match="never end"):
        train(model, [(x, torch.zeros(4))], steps=None)


# -- every track plays ---------------------------------------------------------------
def _window(tracks_playing: list[bool], pitch: int = 0) -> torch.Tensor:
    """One (T, K * 2 * P) window: a note at step 0 in each track that plays."""
    x = torch.zeros(T, len(tracks_playing), 2, P)
    for k, plays in enumerate(tracks_playing):
        if plays:
            x[0, k, :, pitch] = 1
    return x.flatten(1)


def test_silent_tracks_are_those_that_sound_no_note():
    from midivae.models.vae import silent_tracks
    x = torch.stack([_window([True, False]), _window([False, False]), _window([True, True])])
    held = x[2].view(T, 2, 2, P).clone()
    held[0, 1] = 0
    held[1:4, 1, 1, 5] = 1  # track 1 of a fourth window sustains without an onset: it plays
    onset = x[1].view(T, 2, 2, P).clone()
    onset[3, 0, 0, 2] = 1  # an onset alone plays too
    x = torch.cat([x, held.flatten(1)[None], onset.flatten(1)[None]])
    assert silent_tracks(x, 2).tolist() == [[False, True], [True, True], [False, False],
                                            [False, False], [False, True]]


def test_redraw_silent_draws_again_only_the_windows_with_a_silent_track():
    from midivae.models.vae import SILENT_REDRAWS, redraw_silent
    x = torch.stack([_window([True, True]), _window([True, False]), _window([False, True])])
    asked = []

    def draw(rows):  # row 1 plays from the second redraw on; row 2 never does
        asked.append(rows.tolist())
        return torch.stack([_window([int(r) == 1 and len(asked) >= 2, True], pitch=len(asked))
                            for r in rows])
    out = redraw_silent(x, 2, draw)
    assert asked[:2] == [[1, 2], [1, 2]] and asked[2:] == [[2]] * (SILENT_REDRAWS - 2)
    assert torch.equal(out[0], x[0])  # every track played: never drawn again
    assert torch.equal(out[1], _window([True, True], pitch=2))  # the draw that plays, kept
    assert torch.equal(out[2], _window([False, True], pitch=SILENT_REDRAWS))  # the last
    assert torch.equal(x[1], _window([True, False]))  # the windows given are not changed
    assert redraw_silent(x, 2, draw, redraws=0) is not x  # a copy, even with no redraw
    assert len(asked) == SILENT_REDRAWS


def test_a_model_draws_again_a_sample_with_a_silent_track():
    # a head a track; the categorical one sounds nothing when its onsets are kept down
    model = small_model("recurrent", n_tracks=2, track_outputs="made,categorical").eval()
    with model.onset_biases([40.0, 40.0]):  # every track plays: the first 4 of 4 + 3 drawn
        assert torch.equal(model.sample(4, seed=3, every_track=True),  # (3 = 4 // 4 + 2 spare)
                           model.sample(7, seed=3)[:4])
    with model.onset_biases([0.0, -40.0]):  # track 1 never plays: drawn again, kept silent
        plain, every = model.sample(4, seed=3), model.sample(4, seed=3, every_track=True)
        assert silent_tracks_of(plain)[:, 1].all() and silent_tracks_of(every)[:, 1].all()
        assert not torch.equal(plain, every)
    with model.onset_biases([0.0, -6.0]):  # often silent (half the windows): drawing again
        plain = silent_tracks_of(model.sample(64, seed=5)).any(1).sum()  # makes it rare
        every = silent_tracks_of(model.sample(64, seed=5, every_track=True)).any(1).sum()
        assert plain >= 24 and every <= plain / 5
    with model.onset_biases([0.0, -5.0]):  # a quarter silent: the 4 spares of 8 stand in,
        drawn = model.sample(12, seed=5)  # in order: the first 8 of 8 + 4 that play
        plays = drawn[~silent_tracks_of(drawn).any(1)]
        assert 8 <= len(plays) < 12
        assert torch.equal(model.sample(8, seed=5, every_track=True), plays[:8])
    label = torch.tensor([0, 1, 0])  # a label a window: no spares (redrawn with their own)
    conditioned = small_model("recurrent", n_tracks=2, track_outputs="made,categorical",
                              n_labels=2).eval()
    with conditioned.onset_biases([0.0, -6.0]):
        x = conditioned.sample(3, seed=1, label=label, every_track=True)
        assert x.shape == conditioned.sample(3, seed=1, label=label).shape


def silent_tracks_of(x):
    from midivae.models.vae import silent_tracks
    return silent_tracks(x, 2)
