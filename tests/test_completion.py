"""Filling in, continuing and harmonising (`VAE.complete`, `midivae.run.completion`, the `Model`
verbs and the CLI): given cells are never changed, windows are placed around what they write,
and bad ranges and tracks get one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import DECODER_VARIANTS, decoder_settings, meter, midi_file, note, track
from hypothesis import given, settings
from hypothesis import strategies as st

import midivae
from midivae.cli import main
from midivae.run.completion import windows_to_write
from midivae.errors import ModelError
from midivae.models import VAE, ModelConfig
from midivae.models.prior import LatentPrior
from midivae.models.vae import infill_masks

pytestmark = pytest.mark.usefixtures("one_torch_thread")

K, P, BARS, S = 2, 12, 4, 4  # tiny windows: 4 bars of 4 steps, 2 tracks of 12 pitches


def tiny(variant: str, **extra) -> VAE:
    torch.manual_seed(0)
    cfg = ModelConfig(n_steps=BARS * S, steps_per_bar=S, n_tracks=K, n_pitches=P, latent=16,
                      encoder_hidden=16, decoder_hidden=16, conductor_hidden=16,
                      bar_embedding=8, output_hidden=8, **decoder_settings(variant, "gru"),
                      **extra)
    return VAE(cfg).eval()


VARIANTS = [*DECODER_VARIANTS, "hierarchical/mlp/track-latents+voices",
            "hierarchical/mlp/track-latents+given"]


def model_for(variant: str) -> VAE:
    base, _, more = variant.partition("+")
    extra = {"voices": {"voice_context": True, "output": "categorical"},
             "given": {"voice_context": True, "given_input": True}}.get(more, {})
    return tiny(base, **extra)


@pytest.fixture(scope="module")
def models() -> dict[str, VAE]:
    return {v: model_for(v) for v in VARIANTS}


def windows(seed: int, n: int = 3) -> torch.Tensor:
    """Monophonic windows (n, T, D): a note every other step in each track."""
    g = np.random.default_rng(seed)
    x = np.zeros((n, BARS * S, K, 2, P), np.float32)
    for b in range(n):
        for k in range(K):
            for t in range(0, BARS * S, 2):
                p = g.integers(P)
                x[b, t, k, :, p] = 1
                x[b, t + 1, k, 1, p] = 1
    return torch.from_numpy(x.reshape(n, BARS * S, -1))


@settings(max_examples=12)
@given(variant=st.sampled_from(VARIANTS), seed=st.integers(0, 2**16),
       particles=st.sampled_from([1, 3]), temperature=st.sampled_from([0.0, 0.5, 1.0]))
def test_given_cells_are_never_changed(models, variant, seed, particles, temperature):
    model = models[variant]
    x = windows(seed)
    mask = torch.from_numpy(np.random.default_rng(seed).random((3, BARS, K)) < 0.5)
    out = model.complete(x, mask, temperature=temperature, seed=seed, particles=particles)
    assert out.shape == x.shape and set(out.unique().tolist()) <= {0.0, 1.0}
    cells = mask.repeat_interleave(S, 1).repeat_interleave(2 * P, 2)
    assert torch.equal(out[cells], x[cells])
    again = model.complete(x, mask, temperature=temperature, seed=seed, particles=particles)
    assert torch.equal(out, again)  # a seed repeats


def test_complete_checks_its_mask(models):
    model, x = models["hierarchical/mlp/track-latents"], windows(0, 2)
    with pytest.raises(ValueError, match=r"bool mask of shape \(2, 4, 2\)"):
        model.complete(x, torch.ones(2, 4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="particles and rounds must be >= 1"):
        model.complete(x, torch.ones(2, 4, 2, dtype=torch.bool), particles=0)


def test_an_infilled_window_reads_only_its_given_parts(models):
    model = models["hierarchical/mlp/track-latents+given"]
    x = windows(1, 2)
    mask = torch.zeros(2, BARS, K, dtype=torch.bool)
    mask[0, :, 0] = True  # window 0: track 0 given; window 1: nothing given, an ordinary one
    out = model(x, given=mask, sample_latent=False)
    codes = out.z.view(2, BARS, K, -1)
    assert codes[0, :, 1].abs().sum() == 0 and codes[0, :, 0].abs().sum() > 0
    assert torch.allclose(out.z[1], model(x[1:], sample_latent=False).z[0], atol=1e-6)
    # what it writes of track 1 cannot depend on track 1's notes: the encoder never sees them
    y = x.clone()
    y[0].view(BARS * S, K, -1)[:, 1] = windows(9, 1)[0].view(BARS * S, K, -1)[:, 1]
    assert not torch.equal(x, y)
    assert torch.equal(model.complete(x[:1], mask[:1], seed=3),
                       model.complete(y[:1], mask[:1], seed=3))
    with pytest.raises(ValueError, match="given cells need a model with given_input"):
        models["hierarchical/mlp/track-latents"](x, given=mask)


def test_infill_masks_give_each_kind_and_nothing_at_share_zero():
    cfg = model_for("hierarchical/mlp/track-latents").config
    g = torch.Generator().manual_seed(0)
    assert not infill_masks(64, cfg, 0.0, g).any()
    masks = infill_masks(4000, cfg, 1.0, g)
    assert masks.shape == (4000, BARS, K) and masks.dtype == torch.bool
    whole_tracks = (masks.all(1) | ~masks.any(1)).all(1) & masks.any((1, 2))
    gaps = (masks.all(2) | ~masks.any(2)).all(1) & ~masks.all((1, 2))
    assert whole_tracks.float().mean() > 0.2 and gaps.float().mean() > 0.4
    assert (masks.float().mean() - 0.6).abs() < 0.1  # about 3/5 of the parts given
    half = infill_masks(4000, cfg, 0.5, g)
    assert 0.45 < half.flatten(1).any(1).float().mean() < 0.6


def test_the_conditional_prior_keeps_what_is_known_and_draws_the_rest_given_it():
    prior = LatentPrior(2)
    a = torch.tensor([[1.0, 0.0], [0.8, 0.6]])  # Cov = A A^T = [[1, .8], [.8, 1]]
    prior.mean.zero_()
    prior.scale.copy_(a)
    z = torch.tensor([[1.0, 5.0]])
    known = torch.tensor([[True, False]])
    draws = prior.conditional(z, known, 20000, torch.Generator().manual_seed(0),
                              noise=1e-4)[0]
    assert torch.all(draws[:, 0] == 1.0)
    # z1 | z0 = 1 ~ N(0.8, 1 - 0.64)
    assert abs(draws[:, 1].mean() - 0.8) < 0.02 and abs(draws[:, 1].var() - 0.36) < 0.02
    with pytest.raises(ValueError, match=r"expected z and known of shape \(B, 2\)"):
        prior.conditional(z, known[:, :1], 3)


@pytest.mark.parametrize("given_bars, expected", [
    ([1, 1, 0, 0, 1, 1, 1, 1], [1]),  # a gap of 2 in a window of 4: one bar either side
    ([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], [2, 4, 6]),  # a continuation: half a window read
    ([0, 0, 0, 0, 0, 0], [0, 2]),  # harmonise: from the start, then half a window on
    ([1, 0, 1], [0]),  # a piece shorter than a window
    ([1, 1, 1, 1, 1, 1, 1, 0], [4]),  # the last bar: the window ends with the piece
])
def test_windows_sit_around_what_they_write(given_bars, expected):
    given = np.repeat(np.array(given_bars, bool)[:, None], 2, axis=1)
    assert windows_to_write(given, 4) == expected


# -- the Model verbs on the shipped chorale model, on a real test chorale ----------------------

@pytest.fixture(scope="module")
def chorale():
    return midivae.load("chorale")


@pytest.fixture(scope="module")
def phrase(chorale, tmp_path_factory):
    """Bach's bwv66.6 as a MIDI file: 9 bars with its pickup."""
    from music21 import corpus

    path = tmp_path_factory.mktemp("phrase") / "bwv66.6.mid"
    corpus.parse("bach/bwv66.6").write("midi", fp=str(path))
    return path


def test_inpaint_keeps_every_other_bar_exactly(chorale, phrase):
    piece = chorale.fit_piece(phrase)
    lines = np.append(piece.bar_starts(), piece.n_steps)
    out = chorale.inpaint(phrase, (3, 5), seed=1)
    a, b = lines[3], lines[5]
    assert out.n_steps == piece.n_steps and out.tracks == piece.tracks
    for arr in ("onset", "sustain", "velocity"):
        mine, theirs = getattr(out, arr), getattr(piece, arr)
        assert np.array_equal(mine[:, :a], theirs[:, :a])
        # after the gap: the same notes, a held note the gap does not continue starting again
        assert np.array_equal(out.sustain[:, b:], piece.sustain[:, b:])
        assert not (mine[:, a:b] == theirs[:, a:b]).all() or arr == "velocity"
    assert out.sustain[:, a:b].any(axis=(1, 2)).all()  # every voice sings in the gap
    assert out.tempos == piece.tempos and out.key_signatures == piece.key_signatures


def test_inpaint_keeps_the_notes_tied_over_the_gaps_edges_whole(chorale, phrase):
    piece = chorale.fit_piece(phrase)
    line = piece.bar_starts()[7]  # all four voices hold their chord over this bar line
    tied = piece.sustain[:, line] & ~piece.onset[:, line] & piece.sustain[:, line - 1]
    assert tied.any(axis=1).all()
    into = chorale.inpaint(phrase, (7, 8), seed=1)  # struck before the gap: their length kept
    ends = piece.sustain[:, line:].argmin(axis=1)  # (K, P): each tied note's steps past it
    for k, p in zip(*np.nonzero(tied)):
        span = slice(line, line + ends[k, p])
        assert into.sustain[k, span, p].all() and not into.onset[k, span, p].any()
    out_of = chorale.inpaint(phrase, (5, 7), seed=1)  # tied into the bar after: led into
    assert not (out_of.onset[:, line] & tied).any()
    assert out_of.sustain[:, line - 1][tied].all()
    assert np.array_equal(out_of.sustain[:, line:], piece.sustain[:, line:])


@pytest.mark.parametrize("bars, message", [
    ((3, 3), r"need 0 <= start < stop"), ((-1, 2), r"need 0 <= start < stop"),
    ((5, 40), r"bwv66\.6\.mid has 9 bars: the bars to write reach past its end"),
    ((1.5, 3), r"give \(start, stop\)"), ("1-3", r"give \(start, stop\)")])
def test_inpaint_refuses_a_bad_range_naming_it(chorale, phrase, bars, message):
    with pytest.raises(ModelError, match=message):
        chorale.inpaint(phrase, bars)


def test_harmonise_keeps_the_soprano_and_writes_one_note_at_a_time_under_it(chorale, phrase,
                                                                             tmp_path):
    piece = chorale.fit_piece(phrase)
    soprano = piece.replace(onset=piece.onset[:1], sustain=piece.sustain[:1],
                            velocity=piece.velocity[:1], tracks=piece.tracks[:1])
    soprano.save(tmp_path / "melody.mid")
    out = chorale.harmonise(tmp_path / "melody.mid", seed=2)
    assert np.array_equal(out.sustain[0], piece.sustain[0])
    assert np.array_equal(out.onset[0], piece.onset[0])
    assert (out.sustain[1:].sum(axis=2) <= 1).all()  # each voice one note at a time
    assert out.sustain[1:].any(axis=(1, 2)).all()
    low = [np.flatnonzero(out.sustain[3].any(0)).mean(), np.flatnonzero(out.sustain[0].any(0))
           .mean()]
    assert low[0] < low[1]  # the bass sits below the soprano
    with pytest.raises(ModelError, match=r"model 'chorale' has the tracks soprano, alto, tenor, "
                                         r"bass; keep some of them"):
        chorale.harmonise(phrase, keep=["melody"])
    with pytest.raises(ModelError, match="keeps every track"):
        chorale.harmonise(phrase, keep=["soprano", "alto", "tenor", "bass"])


def test_continuation_reads_the_notes_and_keeps_the_piece(chorale, phrase):
    piece = chorale.fit_piece(phrase)
    whole = chorale.continuation(phrase, 3, whole=True, seed=4)
    cont = chorale.continuation(phrase, 3, seed=4)
    assert whole[:piece.n_steps] == piece
    assert cont.n_steps == 3 * 16 and whole.n_steps == piece.n_steps + 48
    assert whole[piece.n_steps:] == cont
    with pytest.raises(ValueError, match="bars must be a whole number >= 1"):
        chorale.continuation(phrase, 0)


# -- the command line -------------------------------------------------------------------------

def test_the_commands_write_and_refuse_with_one_line(phrase, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["inpaint", str(phrase), "--bars", "4-5", "--out", str(out), "--png"]) == 0
    said = capsys.readouterr().out
    assert "bwv66.6_inpainted.mid" in said and "bars 4-5 written by chorale" in said
    assert (out / "bwv66.6_inpainted.png").exists()
    assert main(["harmonise", str(phrase), "--keep", "soprano", "bass", "--out", str(out)]) == 0
    assert "soprano, bass kept, alto, tenor written" in capsys.readouterr().out
    assert main(["continue", str(phrase), "--bars", "2", "--out", str(out)]) == 0
    cases = {("inpaint", "--bars", "0-2"): "bars count from 1 and A <= B, got '0-2'",
             ("inpaint", "--bars", "5-x"): "expected bars A-B (e.g. 5-8) or one bar A",
             ("inpaint", "--bars", "30-31"): "argument --bars 30-31: ",
             ("harmonise", "--keep", "sopran"): "model 'chorale' has no track 'sopran'",
             ("harmonise", "--keep", "soprano", "alto", "tenor", "bass"): "nothing is left"}
    for args, message in cases.items():
        assert run([args[0], str(phrase), *args[1:], "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()  # a refusal writes nothing


def run(argv) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's errors exit from parse_args
        return e.code


def test_a_one_track_melody_file_is_harmonised_as_the_soprano(chorale, tmp_path):
    path = tmp_path / "tune.mid"
    midi_file(track(meter(0, 4, 4), *[x for i in range(16) for x in
                                      note(i * 480, (i + 1) * 480, [67, 69, 71, 72][i % 4])])
              ).save(path)
    with pytest.warns(UserWarning, match="no track matches the tracks of model 'chorale'"):
        out = chorale.harmonise(path, seed=0)
    assert out.n_tracks == 4 and out.onset[0].sum() == 16
    assert out.sustain[1:].any(axis=(1, 2)).all()


def test_rewriting_redraws_every_track_given_the_others_and_a_seed_repeats_it(models):
    model = models["hierarchical/mlp/track-latents+given"]
    assert model.rewrites and model.rewrite_rounds == 3
    x = windows(5)
    assert torch.equal(model.rewrite(x, rounds=0), x)
    out = model.rewrite(x, rounds=1, temperature=1.0, seed=2, particles=2)
    assert out.shape == x.shape and set(out.unique().tolist()) <= {0.0, 1.0}
    track = lambda w, k: w.view(*w.shape[:2], K, 2 * P)[:, :, k]  # noqa: E731
    assert all(not torch.equal(track(out, k), track(x, k)) for k in range(K))  # each redrawn
    assert torch.equal(out, model.rewrite(x, rounds=1, temperature=1.0, seed=2, particles=2))
    drawn = model.sample(3, temperature=1.0, seed=4)  # three rounds by default
    assert torch.equal(drawn, model.sample(3, temperature=1.0, seed=4, rounds=3))
    assert not torch.equal(drawn, model.sample(3, temperature=1.0, seed=4, rounds=0))


def test_a_model_that_does_not_read_given_tracks_does_not_rewrite(models):
    model = models["hierarchical/mlp/track-latents+voices"]
    assert not model.rewrites and model.rewrite_rounds == 0
    x = windows(1)
    assert torch.equal(model.rewrite(x), x)
    with pytest.raises(ValueError, match="needs a model with given_input"):
        model.rewrite(x, rounds=1)
    assert torch.equal(model.sample(2, seed=3), model.sample(2, seed=3, rounds=0))


def test_the_chorale_models_rewritten_samples_make_more_chords(chorale):
    from midivae.midi.harmony import harmony_stats

    drawn = harmony_stats(chorale.sample(8, temperature=0.5, seed=0, rounds=0))
    rewritten = harmony_stats(chorale.sample(8, temperature=0.5, seed=0))
    assert rewritten["chord_share"] > drawn["chord_share"] + 0.1
    assert rewritten["crossing_share"] < drawn["crossing_share"]
    with pytest.raises(ModelError, match="rounds must be a whole number >= 0"):
        chorale.sample(1, rounds=-1)
    with pytest.raises(ModelError, match="needs a model trained to infill"):
        midivae.load("folk").sample(1, rounds=1)


@pytest.mark.parametrize("kind", ["bytes", "mido", "pretty_midi"])
def test_every_model_verb_takes_what_quantize_reads(chorale, phrase, kind):
    import mido
    import pretty_midi

    piece = {"path": str(phrase), "bytes": phrase.read_bytes(),
             "mido": mido.MidiFile(str(phrase)),
             "pretty_midi": pretty_midi.PrettyMIDI(str(phrase))}[kind]
    reference = chorale.reconstruct(str(phrase))
    assert np.array_equal(chorale.reconstruct(piece).onset, reference.onset)
    assert len(chorale.variations(piece, 2, seed=0)) == 2
    assert len(chorale.interpolate(piece, piece, 3)) == 3
    one, two = chorale.encode(piece)[0], chorale.encode([piece, piece])[0]
    assert len(two) == 2 * len(one) and torch.allclose(two[len(one):], one, atol=1e-5)
    assert len(chorale.fit(piece)) == len(chorale.fit(str(phrase)))
    vector = torch.zeros(chorale.vae.config.latent)
    assert np.array_equal(chorale.steer(piece, vector).onset, reference.onset)
    assert np.array_equal(chorale.fit_piece(piece).onset, chorale.fit_piece(str(phrase)).onset)
    for made in (chorale.inpaint(piece, (1, 2), particles=1),
                 chorale.harmonise(piece, "soprano", particles=1),
                 chorale.continuation(piece, 4, particles=1)):
        assert isinstance(made, midivae.PianoRoll) and made.n_notes


def test_a_piece_of_another_kind_is_refused_naming_what_is_taken(chorale):
    with pytest.raises(TypeError, match="a piece is a PianoRoll, a MIDI file path or bytes, "
                       "a mido.MidiFile or a pretty_midi.PrettyMIDI; got int"):
        chorale.reconstruct(3)


def test_a_given_bar_holding_a_note_scores_a_draw_that_does_not_sound_it_as_unlikely(models):
    # the categorical head's hold class continues whatever sounds before it, so a given bar
    # that holds pitch 3 from the step before scored alike after a draw ending on pitch 5,
    # and a filled-in gap could leave the given note without its start
    from midivae.models.hierarchical import DANGLING, _bar_log_likelihood, _dangling

    def cells(onset=(), sustain=()):
        c = torch.zeros(1, 2, P)
        c[0, 0, list(onset)] = 1
        c[0, 1, list(sustain)] = 1
        return c.flatten(1)  # (1, 2P): one track's onset then sustain cells
    held = cells(sustain=[3, 7])  # 3 and 7 held from before, no onset
    assert _dangling(cells(sustain=[3]), held, P).tolist() == [1.0]  # 7 was not sounding
    assert _dangling(cells(onset=[3, 7], sustain=[3, 7]), held, P).tolist() == [0.0]
    assert _dangling(cells(), cells(onset=[3], sustain=[3]), P).tolist() == [0.0]  # a start
    model = models["hierarchical/mlp/track-latents+voices"]
    dec = model.decoder.bar if hasattr(model.decoder, "bar") else model.decoder.bars[0]
    bar = torch.cat([cells(sustain=[3])] + [cells(onset=[4], sustain=[4])] * (S - 1))[None]
    cond = torch.randn(1, dec.net[0].in_features - dec.cells)  # the bar's condition
    for before, lost in ((cells(onset=[3], sustain=[3]), 0.0), (cells(sustain=[5]), DANGLING)):
        plain = _bar_log_likelihood(dec, bar, cond, before)
        assert torch.allclose(_bar_log_likelihood(dec, bar, cond, before, P), plain - lost)


def held_window() -> tuple[torch.Tensor, torch.Tensor]:
    """One window: track 0 starts pitch 5 at step 2 (bar 0) and holds it to step 6 (bar 1);
    track 1 starts pitch 8 at step 5 (bar 1) and holds it into bar 2; bars 1 and 2 to write."""
    x = torch.zeros(1, BARS * S, K, 2, P)
    x[0, 2, 0, :, 5] = 1
    x[0, 3:7, 0, 1, 5] = 1
    x[0, 5, 1, :, 8] = 1
    x[0, 6:10, 1, 1, 8] = 1
    mask = torch.ones(1, BARS, K, dtype=torch.bool)
    mask[:, 1:3] = False
    return x.flatten(2), mask


def test_the_notes_held_over_from_given_bars_are_found_where_they_sound():
    from midivae.models.vae import held_over

    x, mask = held_window()
    cfg = tiny("hierarchical/mlp").config
    held = held_over(x, mask, cfg).unflatten(-1, (K, 2, P))
    expected = torch.zeros_like(held)
    expected[0, 4:7, 0, 1, 5] = 1  # the note started in bar 0, to its end; not the one of bar 1
    assert torch.equal(held, expected)
    x2 = x.unflatten(-1, (K, 2, P)).clone()
    x2[0, 5, 0, 0, 5] = 1  # struck again at step 5: held over at step 4 only
    expected[0, 5:7] = 0
    assert torch.equal(held_over(x2.flatten(2), mask, cfg).unflatten(-1, (K, 2, P)), expected)
    whole = torch.zeros_like(mask)
    whole[:, :, 0] = True  # track 0 given throughout: nothing of it runs into track 1
    assert not held_over(x, whole, cfg).any()


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.startswith("hierarchical")])
def test_a_note_started_in_a_given_bar_keeps_its_length_in_the_bars_written(models, variant):
    model = models[variant]
    x, mask = held_window()
    for seed in range(4):
        out = model.complete(x, mask, temperature=1.0, seed=seed, particles=3)
        cells = out.unflatten(-1, (K, 2, P))
        assert cells[0, 4:7, 0, 1, 5].eq(1).all() and cells[0, 4:7, 0, 0, 5].eq(0).all()
        if model.config.output == "categorical":  # a monophonic voice: that note alone
            assert cells[0, 4:7, 0].sum().item() == 3


def test_a_note_tied_into_a_given_bar_is_started_by_the_last_note_written_before_it():
    from midivae.models.vae import led_into

    mask = torch.ones(1, BARS, K, dtype=torch.bool)
    mask[:, 1] = False  # bar 1 written, bar 2 given
    x = torch.zeros(1, BARS * S, K, 2, P)
    x[0, 8:10, 0, 1, 3] = 1  # track 0's given bar 2 holds pitch 3 from before, no onset
    x[0, 8, 1, :, 9] = 1  # track 1's starts its own note: nothing to lead into
    fill = x.clone()
    fill[0, 4, 0, :, 1] = 1  # the written bar: pitch 1 at step 4, pitch 2 at steps 6-7
    fill[0, 6, 0, :, 2] = 1
    fill[0, 7, 0, 1, 2] = 1
    for variant, kept in (("hierarchical/mlp/track-latents+voices", False),
                          ("hierarchical/mlp/track-latents", True)):
        cfg = model_for(variant).config  # categorical (one note at a time), then Bernoulli
        out = led_into(fill.flatten(2), x.flatten(2), mask, cfg).unflatten(-1, (K, 2, P))
        expected = fill.clone()
        expected[0, 6:8, 0, :, 2] = 1 if kept else 0
        expected[0, 7, 0, 0, 2] = 0
        expected[0, 6, 0, 0, 3] = 1  # pitch 3 starts at the last onset, held to the bar line
        expected[0, 6:8, 0, 1, 3] = 1
        assert torch.equal(out, expected)
        joined = fill.clone()
        joined[0, 7, 0, 1, 3] = 1  # already sounding at the bar line: left as it is
        assert torch.equal(led_into(joined.flatten(2), x.flatten(2), mask, cfg), joined.flatten(2))


def test_the_verbs_that_write_parts_report_each_window_written(chorale, phrase):
    calls = []
    out = chorale.harmonise(phrase, keep=["soprano"], seed=1, particles=2,
                            progress=lambda done, total: calls.append((done, total)))
    n = len(calls)
    assert n >= 2 and calls == [(i, n) for i in range(1, n + 1)]
    assert out == chorale.harmonise(phrase, keep=["soprano"], seed=1, particles=2)  # the same
    calls.clear()
    chorale.inpaint(phrase, (3, 5), seed=1, particles=2, progress=lambda *a: calls.append(a))
    assert calls == [(1, 1)]
