"""Rules a written part keeps (`midivae.run.guides`): the parallels guide counts as
`midivae.midi.harmony` does, a shipped model's card names its rules, and every verb that
writes parts keeps them, or refuses an unknown one in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import midivae
from midivae.errors import ModelError
from midivae.midi.harmony import harmony_stats
from midivae.midi.layout import RollLayout
from midivae.midi.roll import Track
from midivae.run.guides import (PARALLEL_NATS, check_rules, guide_for, leaps_guide,
                                parallels_guide)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LAYOUT = RollLayout(steps_per_beat=1, low=48, n_pitches=36,
                    tracks=(Track("upper"), Track("lower"), Track("drums", is_drum=True)))


def cells(*voices) -> torch.Tensor:
    """One window (1, T, D) of the layout: each voice a list of pitches (None: silence), one a
    step, each note a step long; the drum track silent."""
    t = len(voices[0])
    x = np.zeros((t, 3, 2, 36), np.float32)
    for k, voice in enumerate(voices):
        for step, pitch in enumerate(voice):
            if pitch is not None:
                x[step, k, :, pitch - 48] = 1
    return torch.from_numpy(x.reshape(1, t, -1))


def test_the_parallels_guide_costs_each_parallel_fifth_and_octave_from_the_step_before():
    guide = parallels_guide(LAYOUT, nats=3.0)
    fifths = cells([67, 69, 71], [60, 62, 64])  # two parallel fifths: C-G, D-A, E-B
    assert guide(fifths, 0).tolist() == [-6.0]
    # from step 2: the move into it (step 1 -> 2) is scored, the one before it is not
    assert guide(fifths, 2).tolist() == [-3.0]
    contrary = cells([67, 65, 64], [60, 62, 64])  # contrary motion into a unison
    assert guide(contrary, 0).tolist() == [0.0]
    octaves = cells([72, 74, None], [60, 62, 64])  # one octave, then the upper voice rests
    assert guide(octaves, 0).tolist() == [-3.0]
    both = torch.cat([fifths, contrary, octaves])  # a row each
    assert guide(both, 0).tolist() == [-6.0, 0.0, -3.0]


def test_the_stepwise_guide_costs_each_leap_of_the_top_voice_where_it_lands():
    guide = leaps_guide(LAYOUT, nats=2.0)
    # 60 -> 62 a step, 62 -> 67 a leap, 67 -> 67 struck again, a rest, 67 -> 60 a leap
    melody = cells([60, 62, 67, 67, None, 60], [48] * 6)
    assert guide(melody, 0).tolist() == [-4.0]
    assert guide(melody, 3).tolist() == [-2.0]  # the leap onto step 5 alone, over the rest
    assert guide(melody, 6).tolist() == [0.0]
    held = melody.clone().view(1, 6, 3, 2, 36)
    held[0, 3, 0, 0] = 0  # 67 held, not struck again: no move at step 3
    assert guide(held.flatten(2), 0).tolist() == [-4.0]
    # the lower voice's leaps cost nothing
    steps = cells([60, 62, 64, 62, 60, 59], [48, 50, 43, 36, 55, 40])
    assert guide(torch.cat([melody, steps]), 0).tolist() == [-4.0, 0.0]


def test_rules_are_checked_and_a_layout_with_one_pitched_track_has_no_parallels():
    assert check_rules(["no-parallels"]) == ("no-parallels",)
    with pytest.raises(ValueError, match="unknown rule 'fugue'; the rules are no-parallels"):
        check_rules(["fugue"])
    solo = RollLayout(steps_per_beat=1, low=48, n_pitches=24, tracks=(Track("melody"),))
    assert guide_for(solo, ["no-parallels"]) is None and guide_for(LAYOUT, []) is None
    assert PARALLEL_NATS > 0


def test_the_chorale_keeps_its_cards_rules_and_writes_fewer_parallels_and_leaps():
    chorale = midivae.load("chorale")
    assert chorale.rules == ("no-parallels", "stepwise-melody")
    assert midivae.load("folk").rules == ()
    kept = chorale.sample(6, seed=4)  # the card's rules
    free = chorale.sample(6, seed=4, rules=())
    assert harmony_stats(kept)["parallels_per_bar"] < harmony_stats(free)["parallels_per_bar"]
    assert harmony_stats(kept)["top_stepwise_share"] > harmony_stats(free)["top_stepwise_share"]
    melody = free[0]
    with_rule = chorale.harmonise(melody, keep=["soprano"], seed=2)
    without = chorale.harmonise(melody, keep=["soprano"], seed=2, rules=[])
    assert with_rule.bars(0, 4) != without.bars(0, 4)
    assert harmony_stats([with_rule])["parallels_per_bar"] <= harmony_stats(
        [without])["parallels_per_bar"]
    with pytest.raises(ModelError, match="unknown rule 'loud'; the rules are no-parallels"):
        chorale.inpaint(melody, (1, 2), rules=["loud"])
