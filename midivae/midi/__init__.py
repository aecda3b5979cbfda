"""The MIDI side: piano rolls and everything that reads, writes, shows or measures them.

numpy, mido, pretty_midi and music21; never torch. The core (`roll`: `PianoRoll`
and `Track`; `keys`; `smf`, the Standard MIDI File reader) imports nothing else
here; `quantize` (MIDI -> roll), `render` (roll -> MIDI), `notation` (MusicXML),
`plot`, `audio`, `roles` (which track is which), `layout` (rolls <-> model
windows), `score` (music21 scores), and the yardsticks `musicstats`, `harmony`
and `novelty` build on it.
"""
