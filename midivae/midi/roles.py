"""Roles: a fixed track layout that any file's tracks are mapped onto.

A model sees a fixed number of tracks (K), each with a meaning: "soprano",
"bass", "drums". A `Role` is one such slot and says which of a file's tracks
belong in it; `assign_roles` merges every track into the first role it
matches and returns the names of the tracks that matched none. A role spec
is the text form used by `midivae prepare --roles` (see ``ROLE_PRESETS``).
numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from midivae.errors import DatasetError
from midivae.midi.roll import N_PITCHES, PianoRoll, Track


@dataclass(frozen=True)
class Role:
    """A slot of a fixed track layout: tracks that ``match`` are merged into it."""

    name: str  # the roll track's name
    program: int = 0  # General MIDI program written for the slot
    is_drum: bool = False  # the slot holds drums
    match: Callable[[Track], bool] | None = None  # default: the slot's GM program family
    position: int | None = None  # if set, only the file's track at this index (0-based) matches

    def matches(self, track: Track, index: int | None = None) -> bool:
        """Whether ``track`` (the file's track number ``index``) belongs in this slot."""
        if self.position is not None:
            return index == self.position
        if self.match is not None:
            return bool(self.match(track))
        return track.is_drum == self.is_drum and (
            self.is_drum or track.program // 8 == self.program // 8)


GM_FAMILIES = ("piano", "chromatic percussion", "organ", "guitar", "bass", "strings",
               "ensemble", "brass", "reed", "pipe", "synth lead", "synth pad",
               "synth effects", "ethnic", "percussive", "sound effects")
# One role per General MIDI program family (programs 8f..8f+7), plus drums.
GM_FAMILY_ROLES = tuple(Role(name, program=8 * f) for f, name in enumerate(GM_FAMILIES)) + (
    Role("drums", program=0, is_drum=True),)

ROLE_PRESETS = {
    "merge": "every pitched track merged into one track 'all'; drum tracks dropped",
    "merge+drums": "two tracks: 'pitched' (all pitched tracks merged) and 'drums'",
    "gm": "one track per General MIDI family (16) plus drums: midivae.midi.roles.GM_FAMILY_ROLES",
    "names:A,B,...": "one track per name; a track goes to the first name its name contains",
    "order:A,B,...": "the k-th track of the file (in file order) becomes track A, B, ...",
}


class _NameContains:
    """Role matcher: the track's name contains ``name`` (case-insensitive); picklable."""

    def __init__(self, name: str):
        self.name = name.lower()

    def __call__(self, track: Track) -> bool:
        return self.name in track.name.lower()


def _is_drum(track: Track) -> bool:
    return track.is_drum


def _is_pitched(track: Track) -> bool:
    return not track.is_drum


def parse_roles(spec: str) -> list[Role]:
    """The roles a spec names (see ``ROLE_PRESETS``); DatasetError naming the spec otherwise."""
    if spec == "merge":
        return [Role("all", 0, match=_is_pitched)]
    if spec == "merge+drums":
        return [Role("pitched", 0, match=_is_pitched), Role("drums", 0, True, match=_is_drum)]
    if spec == "gm":
        return list(GM_FAMILY_ROLES)
    kind, _, names = str(spec).partition(":")
    names = [n.strip() for n in names.split(",") if n.strip()]
    if kind in ("names", "order") and names:
        lowered = [n.lower() for n in names]
        twice = sorted({n for n in names if lowered.count(n.lower()) > 1})
        if twice:
            raise DatasetError(f"roles: {spec!r} names {', '.join(twice)} more than once")
        if kind == "names":
            return [Role(n, 0, match=_NameContains(n)) for n in names]
        return [Role(n, 0, position=k) for k, n in enumerate(names)]
    raise DatasetError(f"roles: unknown spec {spec!r}; use one of {', '.join(ROLE_PRESETS)}")


def role_of_each(tracks: Sequence[Track], roles: Sequence[Role]) -> list[int | None]:
    """For each of a file's tracks, the index of the first role it matches (None: none)."""
    return [next((i for i, role in enumerate(roles) if role.matches(track, k)), None)
            for k, track in enumerate(tracks)]


def track_label(track: Track, index: int) -> str:
    """How messages name a file's track: its name, else its number (from 1) and program."""
    return repr(track.name) if track.name else f"track {index + 1} (program {track.program})"


def mapped_roles(names: Sequence[str], mapping: dict[str, str | int]) -> list[Role]:
    """One role per layout track ``names``, filled as ``mapping`` says: a layout track name ->
    the file's track whose name contains that text (case-insensitive), or its number counted
    from 1; a layout track the mapping leaves out gets no track. DatasetError naming the
    mapping when it names a track the layout does not have."""
    unknown = sorted(set(mapping) - set(names))
    if unknown:
        raise DatasetError(f"map: {', '.join(map(repr, unknown))} is no track of the model "
                           f"(it has {', '.join(names)})")
    roles = []
    for name in names:
        source = mapping.get(name)
        if source is None:
            roles.append(Role(name, 0, match=_nothing))
        elif isinstance(source, int) or str(source).isdigit():
            if int(source) < 1:
                raise DatasetError(f"map: {name}={source}: tracks are counted from 1")
            roles.append(Role(name, 0, position=int(source) - 1))
        else:
            roles.append(Role(name, 0, match=_NameContains(str(source))))
    return roles


def parse_mapping(text: str) -> dict[str, str]:
    """``"soprano=Piano,bass=2"`` as {"soprano": "Piano", "bass": "2"}; DatasetError naming
    the text when a part is not NAME=TRACK or names a model track twice."""
    mapping = {}
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        name, eq, source = (x.strip() for x in part.partition("="))
        if not eq or not name or not source:
            raise DatasetError(f"map: {part!r} is not MODEL_TRACK=FILE_TRACK (a name or a "
                               "number from 1)")
        if name in mapping:
            raise DatasetError(f"map: {name!r} is given twice")
        mapping[name] = source
    if not mapping:
        raise DatasetError(f"map: {text!r} maps no track")
    return mapping


def _nothing(track: Track) -> bool:
    return False


def assign_roles(roll: PianoRoll, roles: str | Sequence[Role]) -> tuple[PianoRoll, list[str]]:
    """Map a roll's tracks onto the fixed layout ``roles`` (a spec or a list of `Role`).

    Each track is merged into the first role it matches (sustain and onsets
    or-ed, the louder velocity kept); roles no track matches stay empty.

    Returns
    -------
    (PianoRoll, list of str)
        The roll with one track per role, and the names of the tracks that had
        notes but matched no role (dropped).
    """
    if isinstance(roles, str):
        roles = parse_roles(roles)
    if not roles:
        raise ValueError("roles must name at least one role")
    shape = (len(roles), roll.n_steps, N_PITCHES)
    onset, sustain = np.zeros(shape, bool), np.zeros(shape, bool)
    vel = None if roll.velocity is None else np.zeros(shape, np.uint8)
    dropped = []
    for k, (track, r) in enumerate(zip(roll.tracks, role_of_each(roll.tracks, roles))):
        if r is None:
            if roll.onset[k].any():
                name = track.name or f"program {track.program}"
                dropped.append(name + (" (drums)" if track.is_drum else ""))
            continue
        onset[r] |= roll.onset[k]
        sustain[r] |= roll.sustain[k]
        if vel is not None:
            vel[r] = np.maximum(vel[r], roll.velocity[k])
    return roll.replace(onset=onset, sustain=sustain, velocity=vel,
                        tracks=[Track(r.name, r.program, r.is_drum) for r in roles]), dropped
