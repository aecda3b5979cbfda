"""Tracks decoded in turn within a bar (voice_context) and an output per track
(track_outputs, MixedOutput): the likelihood is a distribution and sampling follows it,
checked by brute force on a tiny window; each track reads only the tracks decoded before it."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy import stats

from midivae.run.checkpoint import load_checkpoint, save_checkpoint
from midivae.models import ModelConfig, VAE
from midivae.models.heads import CategoricalOutput, MadeOutput, MixedOutput

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(seed=0, outputs="", n_pitches=1, voice_context=True, n_tracks=2, n_steps=2,
         steps_per_bar=1, scale=1.0, made_previous=False):
    """Two bars of one step, two tracks of one pitch: 2**8 windows in all."""
    torch.manual_seed(seed)
    cfg = ModelConfig(n_steps=n_steps, steps_per_bar=steps_per_bar, n_tracks=n_tracks,
                      n_pitches=n_pitches, decoder="hierarchical", bar_decoder="mlp",
                      encoder="bars", bar_latents=True, track_latents=True,
                      voice_context=voice_context, latent=2 * n_tracks * (n_steps //
                                                                          steps_per_bar),
                      output="made", track_outputs=outputs, encoder_hidden=8,
                      decoder_hidden=8, conductor_hidden=8, bar_embedding=4, output_hidden=3,
                      made_previous=made_previous)
    model = VAE(cfg)
    with torch.no_grad():
        for name, p in model.decoder.named_parameters():
            p.normal_(0.0, scale)
    return model.eval()


def all_binary(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)))


# (made_previous, steps a bar): the step before a bar's first is the bar before's last (1),
# or the bar's own (2)
PREVIOUS = [(False, 1), (True, 1), (True, 2)]


@pytest.mark.parametrize("made_previous,steps_per_bar", PREVIOUS)
def test_likelihood_of_voices_in_turn_sums_to_one(made_previous, steps_per_bar):
    model = tiny(made_previous=made_previous, steps_per_bar=steps_per_bar)
    x = all_binary(8).reshape(-1, 2, 4)  # every window: 2 steps x (2 tracks x on/sus)
    z = torch.randn(1, model.config.latent, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        log_p = model.decoder.log_likelihood(x, z.expand(len(x), -1))
    torch.testing.assert_close(torch.logsumexp(log_p, 0), torch.tensor(0.0), atol=1e-5, rtol=0)
    assert log_p.max() - log_p.min() > 2.0


def valid_windows():
    """The 81 windows whose every track keeps onset => sustain: (81, 2, 4)."""
    track = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
    steps = [torch.tensor([*a, *b]) for a in track for b in track]  # (on, sus) of k0, k1
    return torch.stack([torch.stack([s, t]) for s in steps for t in steps])


@pytest.mark.parametrize("made_previous,steps_per_bar", PREVIOUS)
@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_sampling_voices_in_turn_follows_the_likelihood(temperature, made_previous,
                                                        steps_per_bar):
    model = tiny(seed=2, scale=0.5, made_previous=made_previous, steps_per_bar=steps_per_bar)
    windows = valid_windows()
    z = torch.randn(1, model.config.latent, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = model.decoder.logits(windows, z.expand(len(windows), -1))
        # each cell drawn from sigmoid(logit / T) given those before, except a sustain whose
        # onset is on (set, not drawn)
        nll = torch.nn.functional.binary_cross_entropy_with_logits(
            logits / temperature, windows, reduction="none").view(-1, 2, 2, 2)
        drawn = torch.ones_like(nll)
        drawn[..., 1] = 1 - windows.view(-1, 2, 2, 2)[..., 0]
        expected = (-(nll * drawn).flatten(1).sum(1)).exp()
        n = 20_000
        draws = model.decoder.sample(z.expand(n, -1), temperature=temperature,
                                     generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(expected.sum(), torch.tensor(1.0), atol=1e-5, rtol=0)
    index = (draws.reshape(n, 1, 8) == windows.reshape(1, 81, 8)).all(-1)
    assert bool((index.sum(1) == 1).all())
    observed = index.sum(0).double()
    keep = expected * n >= 5
    assert keep.sum() >= 10
    f_exp = expected[keep].double() * n
    f_obs = observed[keep]
    f_exp = f_exp * f_obs.sum() / f_exp.sum()
    assert stats.chisquare(f_obs, f_exp)[1] > 1e-3
    assert stats.chisquare(f_obs, torch.full_like(f_exp, float(f_obs.mean())))[1] < 1e-6


def split(logits, sizes):
    return logits.split(sizes, -1)


@pytest.mark.parametrize("outputs", ["", "categorical,made,made"])
def test_a_track_reads_the_tracks_after_it_and_never_those_before(outputs):
    model = tiny(seed=5, outputs=outputs, n_pitches=6, n_tracks=3, n_steps=8, steps_per_bar=4)
    head = model.decoder.head
    sizes = (head.logit_sizes if isinstance(head, MixedOutput)
             else [12] * 3)  # made: 2P logits a track
    z = torch.randn(2, model.config.latent)
    x = (torch.rand(2, 8, model.config.cells) < 0.3).float()
    with torch.no_grad():
        base = split(model.decoder.logits(x, z), sizes)
        for track in range(3):
            changed = x.clone()
            changed.view(2, 8, 3, 12)[:, 4:, track] = 1 - changed.view(2, 8, 3, 12)[:, 4:, track]
            out = split(model.decoder.logits(changed, z), sizes)
            # bar 1 of `track` changed: the tracks before it (decoded after it) read it there
            for other in range(3):
                same = torch.allclose(out[other][:, 4:], base[other][:, 4:])
                if other < track:
                    assert not same, (track, other)
                elif other > track:
                    assert same, (track, other)
            # bar 0 reads nothing of bar 1
            assert all(torch.allclose(a[:, :4], b[:, :4]) for a, b in zip(out, base))


def test_made_tracks_with_made_previous_read_their_own_step_before():
    model = tiny(seed=6, outputs="categorical,made,made", n_pitches=6, n_tracks=3, n_steps=8,
                 steps_per_bar=4, made_previous=True)
    plain = tiny(seed=6, outputs="categorical,made,made", n_pitches=6, n_tracks=3, n_steps=8,
                 steps_per_bar=4)
    sizes = model.decoder.head.logit_sizes
    z = torch.randn(2, model.config.latent)
    x = (torch.rand(2, 8, model.config.cells) < 0.3).float()
    changed = x.clone()
    changed.view(2, 8, 3, 12)[:, 1, 2] = 1 - changed.view(2, 8, 3, 12)[:, 1, 2]  # the piano's
    with torch.no_grad():                                                       # step 1
        for m, reads in ((model, True), (plain, False)):
            base = split(m.decoder.logits(x, z), sizes)
            out = split(m.decoder.logits(changed, z), sizes)
            piano = 2  # the third track, decoded first; step 2 follows the step changed
            assert torch.allclose(out[piano][:, 0], base[piano][:, 0])  # (step 1 reads its
            assert torch.allclose(out[piano][:, 2], base[piano][:, 2]) != reads  # own cells)
            assert torch.allclose(out[piano][:, 3:], base[piano][:, 3:])


def test_input_dropout_silences_the_steps_before_that_made_tracks_read():
    model = tiny(seed=8, outputs="categorical,made,made", n_pitches=6, n_tracks=3, n_steps=8,
                 steps_per_bar=4, made_previous=True)
    sizes = model.decoder.head.logit_sizes
    z = torch.randn(2, model.config.latent)
    x = (torch.rand(2, 8, model.config.cells) < 0.3).float()
    other = x.clone()
    other.view(2, 8, 3, 12)[:, 1, 2] = 1 - other.view(2, 8, 3, 12)[:, 1, 2]  # piano, step 1
    almost_all = 1.0 - 1e-9  # torch.rand is < 1, so every step before is silenced
    with torch.no_grad():
        dropped = [split(model.decoder.logits(w, z, input_dropout=almost_all), sizes)[2]
                   for w in (x, other)]
        kept = [split(model.decoder.logits(w, z), sizes)[2] for w in (x, other)]
    assert torch.equal(dropped[0][:, 2:], dropped[1][:, 2:])  # step 2 no longer reads step 1
    assert not torch.allclose(kept[0][:, 2], kept[1][:, 2])


def test_made_previous_is_refused_where_the_bar_decoder_reads_the_past_itself():
    with pytest.raises(ValueError, match="made_previous is for the hierarchical decoder's MLP "
                                         "bar decoder"):
        ModelConfig(decoder="hierarchical", bar_decoder="lstm", made_previous=True)
    with pytest.raises(ValueError, match="made_previous is for"):
        ModelConfig(made_previous=True)  # the recurrent decoder


@pytest.mark.parametrize("made_previous", [False, True])
def test_greedy_samples_are_the_teacher_forced_choices(made_previous):
    # a categorical melody over a made track: at temperature 0, the melody drawn after the
    # accompaniment is the most likely one given the accompaniment drawn
    model = tiny(seed=7, outputs="categorical,made", n_pitches=5, n_steps=8, steps_per_bar=4,
                 made_previous=made_previous)
    z = torch.randn(4, model.config.latent)
    with torch.no_grad():
        x = model.decoder.sample(z, temperature=0)
        chosen = model.decoder.most_likely(model.decoder.logits(x, z), x)
    melody = slice(0, 10)
    torch.testing.assert_close(chosen[..., melody], x[..., melody])
    # the made track's onsets too (a sustain is set by its onset, not chosen), each read
    # after the steps drawn before it
    torch.testing.assert_close(chosen[..., 10:15], x[..., 10:15])
    assert bool((x[..., 5:10].sum(-1) <= 1).all())  # the categorical track sounds one pitch


def test_mixed_output_is_each_track_head_side_by_side():
    torch.manual_seed(0)
    cat, made = CategoricalOutput(1, 4), MadeOutput(1, 4, 3)
    mixed = MixedOutput([cat, made], n_pitches=4)
    assert mixed.context_size == 6 + 3 + 8 and mixed.logit_sizes == [6, 8]
    context = torch.randn(2, 5, mixed.context_size)
    x = (torch.rand(2, 5, 16) < 0.4).float()
    logits = mixed.logits(context, x)
    assert logits.shape == (2, 5, 14)
    torch.testing.assert_close(logits[..., 6:], made.logits(context[..., 6:], x[..., 8:]))
    expected = (cat.nll(logits[..., :6], x[..., :8]) + made.nll(logits[..., 6:], x[..., 8:]))
    torch.testing.assert_close(mixed.nll(logits, x), expected)
    drawn = mixed.sample_steps(context, temperature=1.0,
                               generator=torch.Generator().manual_seed(1))
    assert drawn.shape == (2, 5, 16)
    assert bool((drawn[..., 4:8].sum(-1) <= 1).all())  # the categorical track: one pitch


def test_settings_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="voice_context decodes the tracks of a bar one after "
                                         "another: it needs track_latents"):
        ModelConfig(n_tracks=2, voice_context=True)
    with pytest.raises(ValueError, match=r"track_outputs must name one of .* for each of the 2 "
                                         r"tracks, got 'categorical'"):
        ModelConfig(n_tracks=2, track_outputs="categorical")
    with pytest.raises(ValueError, match="got 'categorical,bernoulli'"):
        ModelConfig(n_tracks=2, track_outputs="categorical,bernoulli")


@pytest.mark.parametrize("made_previous", [False, True])
def test_a_mixed_voice_model_round_trips_through_a_checkpoint(tmp_path, made_previous):
    model = tiny(seed=9, outputs="categorical,made", n_pitches=5, n_steps=8, steps_per_bar=4,
                 made_previous=made_previous)
    assert not any("scoring" in k for k in model.state_dict())  # the heads are stored once
    save_checkpoint(model, tmp_path / "m")
    again = load_checkpoint(tmp_path / "m")
    z = torch.randn(3, model.config.latent)
    with torch.no_grad():
        a = model.decoder.sample(z, temperature=0.7, generator=torch.Generator().manual_seed(2))
        b = again.decoder.sample(z, temperature=0.7, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)
    assert again.config.track_outputs == "categorical,made" and again.config.voice_context
    assert again.config.made_previous == made_previous


@pytest.mark.parametrize("outputs,context", [("", False), ("", True), ("categorical,made", True)])
def test_a_form_repeats_bars_note_for_note(outputs, context):
    model = tiny(seed=11, outputs=outputs, n_pitches=5, n_steps=16, steps_per_bar=4,
                 voice_context=context)
    z = torch.randn(3, model.config.latent)
    repeats = torch.tensor([[-1, -1, 0, 1], [-1, 0, 0, -1], [-1, -1, -1, -1]])
    with torch.no_grad():
        x = model.decoder.sample(z, temperature=1.0, repeats=repeats,
                                 generator=torch.Generator().manual_seed(0))
    bars = x.unflatten(1, (4, 4))  # (B, bar, step, D)
    assert torch.equal(bars[0, 2], bars[0, 0]) and torch.equal(bars[0, 3], bars[0, 1])
    assert torch.equal(bars[1, 1], bars[1, 0]) and torch.equal(bars[1, 2], bars[1, 0])
    assert not torch.equal(bars[2, 2], bars[2, 0])  # no form: drawn afresh


def test_the_prior_learns_and_draws_the_training_windows_forms(tmp_path):
    model = tiny(seed=12, n_pitches=6, n_steps=16, steps_per_bar=4)
    forms = torch.tensor([[-1, -1, 0, 1]] * 3 + [[-1, -1, -1, -1]])
    model.prior.fit_forms(forms)
    torch.testing.assert_close(model.prior.form_weights, torch.tensor([0.25, 0.75]))
    drawn = model.prior.draw_forms(4000, torch.Generator().manual_seed(0))
    share = (drawn == torch.tensor([-1, -1, 0, 1])).all(1).float().mean().item()
    assert share == pytest.approx(0.75, abs=0.03)
    x = model.sample(8, temperature=1.0, seed=1)  # VAE.sample draws a form for each window
    bars = x.unflatten(1, (4, 4))
    repeated = [torch.equal(bars[b, 2], bars[b, 0]) and torch.equal(bars[b, 3], bars[b, 1])
                for b in range(8)]
    assert 3 <= sum(repeated) < 8
    save_checkpoint(model, tmp_path / "m")  # the forms travel in the checkpoint
    again = load_checkpoint(tmp_path / "m")
    torch.testing.assert_close(again.prior.forms, model.prior.forms)
    torch.testing.assert_close(again.sample(8, temperature=1.0, seed=1), x)
    with pytest.raises(ValueError, match="each bar -1 or an earlier bar"):
        model.prior.fit_forms(torch.tensor([[-1, 1, -1, -1]]))
    model.prior.fit_forms(torch.zeros(0, 4, dtype=torch.long))
    assert model.prior.draw_forms(2) is None
