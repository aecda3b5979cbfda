"""Roles: specs, matching, merging, and the tracks that match none."""

from __future__ import annotations

import pytest
from conftest import make_roll

from midivae import DatasetError, Track
from midivae.midi.roles import GM_FAMILY_ROLES, Role, assign_roles, parse_roles

TRACKS = [Track("Flute solo", 73), Track("Bass", 33), Track("Kit", 0, True), Track("Pad", 88)]


def band():
    # (track, pitch, start, end, velocity): the pad (track 3) has no notes
    return make_roll([(0, 72, 0, 2, 90), (1, 40, 0, 4, 70), (2, 36, 0, 1, 100),
                      (0, 40, 2, 3, 110)], 4, 4, tracks=TRACKS)


def test_names_spec_merges_by_name_and_returns_the_dropped_tracks_with_notes():
    roll, dropped = assign_roles(band(), "names:bass,flute")
    assert [t.name for t in roll.tracks] == ["bass", "flute"]
    assert dropped == ["Kit (drums)"]  # the silent pad is not reported
    assert sorted(roll.notes()[["track", "pitch", "start", "end"]].tolist()) == [
        (0, 40, 0, 4), (1, 40, 2, 3), (1, 72, 0, 2)]


def test_order_spec_takes_tracks_by_position_whatever_their_names():
    roll, dropped = assign_roles(band(), "order:lead,low")
    assert [t.name for t in roll.tracks] == ["lead", "low"]
    assert dropped == ["Kit (drums)"]
    assert sorted(roll.notes()[["track", "pitch"]].tolist()) == [(0, 40), (0, 72), (1, 40)]


def test_overlapping_notes_merge_and_keep_the_louder_velocity():
    both = [Role("all", match=lambda t: not t.is_drum)]
    roll, _ = assign_roles(band(), both)
    assert roll.velocity[0, 0, 40] == 70 and roll.velocity[0, 2, 40] == 110
    assert roll.sustain[0, :, 40].tolist() == [True] * 4


def test_gm_roles_put_each_program_family_in_its_slot_and_drums_last():
    roll, dropped = assign_roles(band(), GM_FAMILY_ROLES)
    assert dropped == [] and roll.n_tracks == 17
    by_name = {t.name: k for k, t in enumerate(roll.tracks)}
    assert roll.onset[by_name["pipe"], 0, 72] and roll.onset[by_name["bass"], 0, 40]
    assert roll.onset[by_name["drums"], 0, 36] and roll.tracks[-1].is_drum


@pytest.mark.parametrize("spec, message", [
    ("names:a,A", "names A, a more than once"), ("order:", "unknown spec"),
    ("nonsense", "unknown spec 'nonsense'"), ("names:", "unknown spec")])
def test_bad_specs_raise_dataset_error_naming_the_spec(spec, message):
    with pytest.raises(DatasetError, match=message):
        parse_roles(spec)
