"""Model and training settings, and the named presets.

Settings are frozen dataclasses: a checkpoint stores them as JSON next to the
weights, so a model is rebuilt from the checkpoint alone. Sizes of the data
(T steps, K tracks, P pitches) come from the `RollLayout` the model is trained
on; presets carry typical values, and `preset` overrides them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from midivae.models.losses import BetaSchedule

DECODERS = ("flat", "recurrent", "hierarchical")
BAR_DECODERS = ("lstm", "mlp")
ENCODERS = ("mlp", "lstm", "gru", "bars")
OUTPUTS = ("made", "independent", "categorical")


# Steps of a window at most: 64 bars of 4/4 at 256 steps per bar. Settings read from a
# checkpoint are checked against it, since a recurrent decoder's steps size no weight: a
# file asking for 10**9 steps would otherwise be allocated when the model samples.
MAX_STEPS = 2**14


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of a VAE over windows of shape (T, D), D = K * 2 * P."""

    # -- the data ------------------------------------------------------------
    n_steps: int = 32  # T, steps per window
    n_tracks: int = 1  # K, tracks per window
    n_pitches: int = 88  # P, pitches per track (88: piano keys 21..108)
    steps_per_bar: int = 16  # bar length in steps; the hierarchical decoder needs T % this == 0
    # -- the latent ----------------------------------------------------------
    latent: int = 64  # Z, size of z
    # -- the encoder q(z|x) --------------------------------------------------
    # "mlp" over the flattened window, "lstm"/"gru" (bidirectional) over steps, or "bars":
    # an MLP over each bar, then a bidirectional GRU over the bars
    encoder: str = "lstm"
    encoder_hidden: int = 256  # units per direction (rnn) or per hidden layer (mlp)
    encoder_layers: int = 1  # stacked rnn layers, or hidden layers of the mlp
    # -- the decoder p(x|z) --------------------------------------------------
    decoder: str = "recurrent"  # one of DECODERS
    decoder_hidden: int = 256  # LSTM units (recurrent, bar decoder) or mlp width (flat)
    decoder_layers: int = 1  # stacked LSTM layers, or hidden layers of the flat mlp
    conductor_hidden: int = 256  # hierarchical only: conductor LSTM units
    conductor_layers: int = 1  # hierarchical only: stacked conductor layers
    bar_embedding: int = 128  # hierarchical only: size of each bar's embedding
    # hierarchical only: "lstm", MusicVAE's autoregressive bar decoder, or "mlp", which gives
    # a bar's steps at once from its embedding and the previous bar's last step
    bar_decoder: str = "lstm"
    # hierarchical only: each bar's embedding also reads z through a linear map of its own,
    # a path beside the conductor LSTM (which must otherwise learn to unpack z bar by bar)
    direct_bars: bool = False
    # hierarchical decoder with the bars encoder: z is n_bars codes of latent / n_bars units,
    # one per bar. The encoder gives each bar's posterior from its GRU output at that bar
    # (which reads the whole window); each bar's embedding reads its own code through one
    # linear map shared by the bars, beside the conductor, which reads all of z.
    bar_latents: bool = False
    # with bar_latents: each bar's code is n_tracks codes of latent / (n_bars * n_tracks)
    # units, one per track. The encoder summarises each track's bar with one MLP shared by
    # the tracks, and the bar decoder runs once per track, shared by the tracks, on the bar's
    # embedding plus the track's own code and a learned embedding of the track; a track's
    # steps depend on the others' only through the bar's embedding (several voices of one
    # kind, chorales: four times the data for the weights they share)
    track_latents: bool = False
    # with track_latents: the tracks of a bar are decoded one after another, last track
    # first (the bass before the soprano, the accompaniment before the melody), and each
    # reads the notes of the tracks decoded before it in the same bar, so that the voices
    # make harmony together rather than only through their codes
    voice_context: bool = False
    place_input: bool = False  # recurrent, hierarchical: feed each step its place in the bar
    # with bar_latents: every bar decoder also reads, at each step of its bar, the cells given
    # to it (all tracks, silence where nothing is given, and which tracks are given), so that
    # a model trained with TrainConfig.infill fills in bars and adds tracks to given ones
    given_input: bool = False
    # -- the output over each step's cells ----------------------------------
    # "made": ordered Bernoulli conditionals within a step (RNN-NADE); "independent";
    # or "categorical": one of {rest, hold, onset of p} per track, for monophonic tracks
    output: str = "made"
    # one output per track, comma-separated ("categorical,made,made": a monophonic melody
    # over polyphonic accompaniment); empty: every track has ``output``
    track_outputs: str = ""
    output_hidden: int = 128  # made only: masked hidden units per track
    # made tracks, with the MLP bar decoder: each step's cells also read the step before (a
    # chord held on stays held; without it the steps of a bar are drawn apart given the
    # bar's context and held notes break into short ones)
    made_previous: bool = False
    # -- conditioning on a label (style, dataset, composer) ------------------
    n_labels: int = 0  # number of label classes; 0 = unconditioned
    label_dim: int = 16  # size of the label embedding fed to encoder and decoder

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or isinstance(value, bool)):
                raise TypeError(f"ModelConfig.{f.name} must be an int, got {value!r}")
            if f.type == "str" and not isinstance(value, str):
                raise TypeError(f"ModelConfig.{f.name} must be a str, got {value!r}")
            if f.type == "bool" and not isinstance(value, bool):
                raise TypeError(f"ModelConfig.{f.name} must be True or False, got {value!r}")
        for name in ("n_steps", "n_tracks", "n_pitches", "steps_per_bar", "latent",
                     "encoder_hidden", "encoder_layers", "decoder_hidden", "conductor_hidden",
                     "conductor_layers", "bar_embedding", "label_dim", "output_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        for name, most in (("n_steps", MAX_STEPS), ("steps_per_bar", MAX_STEPS),
                           ("n_pitches", 128)):  # 128: MIDI's pitches
            if getattr(self, name) > most:
                raise ValueError(f"ModelConfig.{name} must be <= {most}, got "
                                 f"{getattr(self, name)!r}")
        if self.decoder_layers < (0 if self.decoder == "flat" else 1):
            raise ValueError(f"ModelConfig.decoder_layers too small: {self.decoder_layers!r}")
        if self.n_labels < 0:
            raise ValueError(f"ModelConfig.n_labels must be >= 0, got {self.n_labels!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"ModelConfig.decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.bar_decoder not in BAR_DECODERS:
            raise ValueError(f"ModelConfig.bar_decoder must be one of {BAR_DECODERS}, got "
                             f"{self.bar_decoder!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"ModelConfig.output must be one of {OUTPUTS}, got {self.output!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"ModelConfig.encoder must be one of {ENCODERS}, got {self.encoder!r}")
        for part, name in (("decoder", "hierarchical"), ("encoder", "bars")):
            if getattr(self, part) == name and self.n_steps % self.steps_per_bar:
                raise ValueError(f"the {name} {part} needs whole bars: "
                                 f"n_steps={self.n_steps} is not a multiple of "
                                 f"steps_per_bar={self.steps_per_bar}")

        if self.bar_latents and (self.decoder, self.encoder) != ("hierarchical", "bars"):
            raise ValueError("bar_latents needs the hierarchical decoder and the bars encoder, "
                             f"got decoder={self.decoder!r}, encoder={self.encoder!r}")
        if self.track_latents and not self.bar_latents:
            raise ValueError("track_latents splits each bar's code by track: it needs "
                             "bar_latents")
        if self.track_latents and self.latent % (self.n_bars * self.n_tracks):
            raise ValueError(f"track_latents splits z into {self.n_bars} bars x "
                             f"{self.n_tracks} tracks' codes: latent={self.latent} is not a "
                             f"multiple of {self.n_bars * self.n_tracks}")
        if self.voice_context and not self.track_latents:
            raise ValueError("voice_context decodes the tracks of a bar one after another: "
                             "it needs track_latents")
        if self.given_input and not self.bar_latents:
            raise ValueError("given_input reads the given cells bar by bar: it needs bar_latents")
        if self.track_outputs:
            outputs = self.track_outputs.split(",")
            if len(outputs) != self.n_tracks or any(o not in OUTPUTS for o in outputs):
                raise ValueError(f"track_outputs must name one of {OUTPUTS} for "
                                 f"each of the {self.n_tracks} tracks, got "
                                 f"{self.track_outputs!r}")
        if self.made_previous and (self.decoder, self.bar_decoder) != ("hierarchical", "mlp"):
            raise ValueError("made_previous is for the hierarchical decoder's MLP bar decoder "
                             "(an LSTM bar decoder reads the step before already)")
        if self.bar_latents and self.latent % self.n_bars:
            raise ValueError(f"bar_latents splits z into {self.n_bars} bars' codes: latent="
                             f"{self.latent} is not a multiple of {self.n_bars}")

    @property
    def cells(self) -> int:
        """D = K * 2 * P, the size of one step."""
        return self.n_tracks * 2 * self.n_pitches

    @property
    def n_bars(self) -> int:
        return self.n_steps // self.steps_per_bar

    @property
    def condition_dim(self) -> int:
        """Size of the label embedding (0 when unconditioned)."""
        return self.label_dim if self.n_labels else 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Inverse of `to_dict`; raises TypeError on an unknown field.

        Settings saved before ``output`` existed describe independent cells.
        """
        return cls(**{"output": "independent", **d})


LR_DECAYS = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe: what `midivae.run.train.train` does, stored with every checkpoint."""

    batch_size: int = 64  # windows per batch
    steps: int | None = 2_000  # optimiser steps; None: until ``minutes`` (or the epochs) run out
    minutes: float | None = None  # wall-clock budget; training stops at steps or minutes
    lr: float = 1e-3  # peak AdamW learning rate
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (Loshchilov & Hutter 2019)
    warmup_steps: int = 100  # linear learning-rate warm-up
    lr_decay: str = "cosine"  # then "cosine" decay to min_lr * lr, or "constant"
    min_lr: float = 0.1  # the learning rate at the end, as a fraction of lr
    beta: BetaSchedule | float = field(default_factory=BetaSchedule)  # KL weight per step
    free_bits: float = 0.0  # KL (bits per window, or per dimension) that costs nothing
    free_bits_per_dimension: bool = False  # free bits per latent dimension (Kingma et al. 2016)
    grad_clip: float = 1.0  # max global gradient norm; 0 = no clipping
    scheduled_sampling: float = 0.0  # probability a decoder input is its own sample
    input_dropout: float = 0.0  # probability a decoder input is silenced (word dropout)
    # the share of windows trained as infilling (`midivae.models.vae.infill_masks`): given
    # some bars and tracks only, a model with given_input learns to write the rest
    infill: float = 0.0
    bf16: bool = False  # torch.autocast to bfloat16 (CUDA, or CPUs with bf16 units)
    # early stopping: end the run once the validation ELBO has not improved for this many
    # validations in a row (None: never)
    patience: int | None = None

    def __post_init__(self):
        if self.patience is not None and (isinstance(self.patience, bool)
                                          or int(self.patience) < 1):
            raise ValueError(f"TrainConfig.patience must be >= 1 or None, got {self.patience!r}")
        if self.steps is not None and (isinstance(self.steps, bool) or int(self.steps) < 1):
            raise ValueError(f"TrainConfig.steps must be >= 1 or None, got {self.steps!r}")
        if self.minutes is not None and not (math.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"TrainConfig.minutes must be > 0 or None, got {self.minutes!r}")
        if int(self.batch_size) < 1:
            raise ValueError(f"TrainConfig.batch_size must be >= 1, got {self.batch_size!r}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"TrainConfig.lr_decay must be one of {LR_DECAYS}, got "
                             f"{self.lr_decay!r}")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.warmup_steps >= 0
                and 0.0 <= self.min_lr <= 1.0 and self.grad_clip >= 0 and self.free_bits >= 0):
            raise ValueError("TrainConfig needs lr > 0, weight_decay >= 0, warmup_steps >= 0, "
                             "0 <= min_lr <= 1, grad_clip >= 0 and free_bits >= 0, got "
                             f"{self.lr!r}, {self.weight_decay!r}, {self.warmup_steps!r}, "
                             f"{self.min_lr!r}, {self.grad_clip!r}, {self.free_bits!r}")
        if not 0.0 <= self.infill <= 1.0:
            raise ValueError(f"TrainConfig.infill must be in [0, 1], got {self.infill!r}")
        if not 0.0 <= self.input_dropout < 1.0:
            raise ValueError(f"TrainConfig.input_dropout must be in [0, 1), got "
                             f"{self.input_dropout!r}")
        for name in ("beta", "scheduled_sampling"):
            value = getattr(self, name)
            if not callable(value) and not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"TrainConfig.{name} must be a number >= 0 or a function of "
                                 f"the step, got {value!r}")

    def to_dict(self) -> dict:
        """JSON-ready; a BetaSchedule becomes its fields, a plain function its name."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("beta", "scheduled_sampling"):
            value = d[name]
            if isinstance(value, BetaSchedule):
                d[name] = {"schedule": dataclasses.asdict(value)}
            elif callable(value):
                d[name] = {"function": getattr(value, "__qualname__", repr(value))}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of `to_dict`; a plain function cannot come back (ValueError)."""
        d = dict(d)
        for name in ("beta", "scheduled_sampling"):
            value = d.get(name)
            if isinstance(value, dict) and "schedule" in value:
                d[name] = BetaSchedule(**value["schedule"])
            elif isinstance(value, dict):
                raise ValueError(f"{name} was the function {value.get('function')!r}, which a "
                                 "checkpoint cannot store")
        return cls(**d)


@dataclass(frozen=True)
class Preset:
    """A named pair of settings and what it is for."""

    model: ModelConfig
    train: TrainConfig
    about: str  # one line: what the preset is for and where it runs


_EXP = BetaSchedule("exponential", beta_max=0.2, rate=0.9995)
_MUSICVAE_BETA = BetaSchedule("exponential", beta_max=0.2, rate=0.99999)

PRESETS: dict[str, Preset] = {
    # -- small: train on a laptop CPU in minutes --------------------------------
    "flat-2bar-cpu": Preset(
        ModelConfig(n_steps=32, decoder="flat", encoder="mlp", encoder_hidden=512,
                    latent=64, decoder_hidden=1024, decoder_layers=2),
        TrainConfig(batch_size=256, steps=2_000, beta=_EXP, free_bits=16.0),
        "2-bar piano windows, MLP encoder and decoder; CPU, minutes"),
    "recurrent-2bar-cpu": Preset(
        ModelConfig(n_steps=32, decoder="recurrent", encoder_hidden=256, latent=64,
                    decoder_hidden=256),
        TrainConfig(batch_size=64, steps=2_000, beta=_EXP, free_bits=16.0),
        "2-bar piano windows, bi-LSTM encoder, LSTM decoder; CPU, minutes"),
    "flat-4bar-cpu": Preset(
        ModelConfig(n_steps=64, decoder="flat", encoder="mlp", encoder_hidden=96, latent=128,
                    decoder_hidden=320, decoder_layers=1),
        TrainConfig(batch_size=128, steps=None, minutes=60.0, beta=_EXP, free_bits=256.0),
        "4-bar windows of several tracks (chorales), MLP encoder and decoder; small enough "
        "to ship; CPU, an hour"),
    "flat-16bar-cpu": Preset(
        ModelConfig(n_steps=256, decoder="flat", encoder="mlp", encoder_hidden=64, latent=128,
                    decoder_hidden=128, decoder_layers=1),
        TrainConfig(batch_size=128, steps=None, minutes=60.0, beta=_EXP, free_bits=256.0),
        "16-bar melodies, MLP encoder and decoder; small enough to ship; CPU, an hour"),
    "hierarchical-2bar-cpu": Preset(
        ModelConfig(n_steps=32, decoder="hierarchical", bar_decoder="mlp", encoder="mlp",
                    encoder_hidden=512, latent=128, decoder_hidden=512, conductor_hidden=256,
                    bar_embedding=128),
        TrainConfig(batch_size=64, steps=2_000, beta=_EXP, free_bits=64.0),
        "2-bar melodies, conductor + MLP bar decoder, MLP encoder; CPU, minutes"),
    "hierarchical-4bar-cpu": Preset(
        ModelConfig(n_steps=64, decoder="hierarchical", bar_decoder="mlp", direct_bars=True,
                    encoder="mlp", encoder_hidden=512, latent=256, decoder_hidden=512,
                    conductor_hidden=256, bar_embedding=256),
        TrainConfig(batch_size=64, steps=2_000, lr=3e-3, beta=_EXP, free_bits=512.0),
        "4-bar windows (chorales: 4 voices), conductor + MLP bar decoder, MLP encoder; "
        "CPU, minutes to an hour"),
    "hierarchical-4bar-voices-cpu": Preset(
        ModelConfig(n_steps=64, decoder="hierarchical", bar_decoder="mlp", direct_bars=True,
                    encoder="bars", encoder_hidden=256, latent=512, decoder_hidden=512,
                    conductor_hidden=256, bar_embedding=256, bar_latents=True,
                    track_latents=True, output="categorical"),
        TrainConfig(batch_size=64, steps=None, minutes=60.0, lr=3e-3, beta=_EXP,
                    free_bits=1024.0),
        "4-bar windows of monophonic voices (chorales: 4 x 4 bars = 16 codes), one code per "
        "bar and voice, the voices sharing weights; CPU, an hour (the shipped chorale model)"),
    "hierarchical-8bar-pop-cpu": Preset(
        ModelConfig(n_steps=128, n_tracks=3, decoder="hierarchical", bar_decoder="mlp",
                    encoder="bars", encoder_hidden=256, latent=384, decoder_hidden=256,
                    conductor_hidden=256,
                    bar_embedding=256, bar_latents=True, track_latents=True,
                    voice_context=True, output="made", output_hidden=64,
                    track_outputs="categorical,made,made"),
        TrainConfig(batch_size=64, steps=None, minutes=60.0, lr=3e-3, beta=_EXP,
                    free_bits=512.0),
        "8-bar windows of a monophonic melody over polyphonic accompaniment (POP909: melody, "
        "bridge, piano), one code per bar and track, the tracks decoded accompaniment first, "
        "each with its own bar decoder and output; CPU, an hour (the shipped pop model)"),
    "hierarchical-8bar-pop-step-cpu": Preset(
        ModelConfig(n_steps=128, n_tracks=3, decoder="hierarchical", bar_decoder="mlp",
                    encoder="bars", encoder_hidden=256, latent=768, decoder_hidden=256,
                    conductor_hidden=256,
                    bar_embedding=256, bar_latents=True, track_latents=True,
                    voice_context=True, output="made", output_hidden=64,
                    track_outputs="categorical,made,made", made_previous=True),
        TrainConfig(batch_size=64, steps=None, minutes=90.0, lr=3e-3, beta=_EXP,
                    free_bits=2048.0),
        "hierarchical-8bar-pop-cpu with 32 units a bar and track, 2048 free bits, and made "
        "tracks whose steps read the step before (held chords stay held); CPU, 90 minutes"),
    "hierarchical-4bar-lstm-cpu": Preset(
        ModelConfig(n_steps=64, decoder="hierarchical", encoder_hidden=256, latent=128,
                    decoder_hidden=256, conductor_hidden=256, bar_embedding=128),
        TrainConfig(batch_size=64, steps=2_000, beta=_EXP, free_bits=32.0),
        "4-bar windows, MusicVAE's conductor + LSTM bar decoder, bi-LSTM encoder; CPU, "
        "minutes (the shipped pop model's)"),
    "hierarchical-16bar-cpu": Preset(
        ModelConfig(n_steps=256, decoder="hierarchical", bar_decoder="mlp", direct_bars=True,
                    encoder="bars", encoder_hidden=256, latent=256, decoder_hidden=512,
                    conductor_hidden=256, bar_embedding=256),
        TrainConfig(batch_size=64, steps=None, minutes=60.0, lr=3e-3, beta=_EXP,
                    free_bits=512.0),
        "16-bar melodies, conductor + MLP bar decoder, bar-wise encoder; CPU, an hour"),
    "hierarchical-16bar-melody-cpu": Preset(
        ModelConfig(n_steps=256, decoder="hierarchical", bar_decoder="mlp", encoder="bars",
                    encoder_hidden=256, latent=512, decoder_hidden=512, conductor_hidden=256,
                    bar_embedding=256, bar_latents=True, output="categorical"),
        TrainConfig(batch_size=64, steps=None, minutes=60.0, lr=3e-3, beta=_EXP,
                    free_bits=512.0),
        "16-bar melodies, one code per bar (16 x 32 units), conductor + MLP bar decoder, "
        "bar-wise encoder, no direct map from z to the bars (half the weights of "
        "hierarchical-16bar-cpu); CPU, an hour (the shipped folk model)"),
    "hierarchical-16bar-4track-cpu": Preset(
        ModelConfig(n_steps=256, n_tracks=4, n_pitches=64, decoder="hierarchical",
                    encoder_hidden=256, latent=128, decoder_hidden=256,
                    conductor_hidden=256, bar_embedding=128),
        TrainConfig(batch_size=32, steps=2_000, beta=_EXP, free_bits=64.0),
        "16-bar, 4-track windows (e.g. drums, bass, piano, strings); CPU, an hour"),
    # -- large: MusicVAE sizes (Roberts et al. 2018, table 4), for GPUs -----------
    "flat-16bar-gpu": Preset(
        ModelConfig(n_steps=256, decoder="flat", encoder="lstm", encoder_hidden=1024,
                    latent=512, decoder_hidden=4096, decoder_layers=2),
        TrainConfig(batch_size=512, steps=50_000, beta=_MUSICVAE_BETA, free_bits=256.0),
        "16-bar piano windows, bi-LSTM encoder, MLP decoder; one GPU"),
    "recurrent-2bar-gpu": Preset(
        ModelConfig(n_steps=32, decoder="recurrent", encoder_hidden=2048, latent=512,
                    decoder_hidden=2048, decoder_layers=3),
        TrainConfig(batch_size=512, steps=50_000, beta=BetaSchedule(
            "exponential", beta_max=0.5, rate=0.99999), free_bits=0.0, bf16=True),
        "MusicVAE mel_2bar sizes over piano rolls; one GPU"),
    "hierarchical-16bar-gpu": Preset(
        ModelConfig(n_steps=256, decoder="hierarchical", encoder_hidden=2048,
                    encoder_layers=2, latent=512, decoder_hidden=1024, decoder_layers=2,
                    conductor_hidden=1024, conductor_layers=2, bar_embedding=512),
        TrainConfig(batch_size=512, steps=50_000, beta=_MUSICVAE_BETA, free_bits=256.0,
                    bf16=True),
        "MusicVAE hierdec-mel_16bar sizes over piano rolls; one GPU"),
    "hierarchical-16bar-trio-gpu": Preset(
        ModelConfig(n_steps=256, n_tracks=3, n_pitches=64, decoder="hierarchical",
                    encoder_hidden=2048, encoder_layers=2, latent=512, decoder_hidden=1024,
                    decoder_layers=2, conductor_hidden=1024, conductor_layers=2,
                    bar_embedding=512),
        TrainConfig(batch_size=256, steps=100_000, beta=_MUSICVAE_BETA, free_bits=256.0,
                    bf16=True),
        "MusicVAE hierdec-trio_16bar sizes (drums, bass, melody as 3 roll tracks); one GPU"),
}


def preset(name: str, **overrides) -> tuple[ModelConfig, TrainConfig]:
    """The settings of a named preset, with ModelConfig fields overridden.

    >>> model_cfg, train_cfg = preset("recurrent-2bar-cpu", n_pitches=48)
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    p = PRESETS[name]
    return dataclasses.replace(p.model, **overrides), p.train
