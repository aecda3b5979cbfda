"""VAE models over piano-roll tensors: tensors in, tensors out, no MIDI.

A window is a float tensor (B, T, D), D = K * 2 * P (see `midivae.layout`).
"""

from midivae.models.config import (DECODERS, ENCODERS, PRESETS, ModelConfig, Preset,
                                   TrainConfig, preset)
from midivae.models.encoder import MLPEncoder, RNNEncoder, build_encoder
from midivae.models.flat import Decoder, FlatDecoder, sample_cells
from midivae.models.hierarchical import HierarchicalDecoder
from midivae.models.recurrent import RecurrentDecoder, StepLSTM
from midivae.models.vae import (VAE, VAEOutput, build_decoder, interpolate_latents, lerp,
                                slerp)

__all__ = ["VAE", "VAEOutput", "ModelConfig", "TrainConfig", "Preset", "PRESETS", "preset",
           "DECODERS", "ENCODERS", "Decoder", "FlatDecoder", "RecurrentDecoder",
           "HierarchicalDecoder", "StepLSTM", "MLPEncoder", "RNNEncoder", "build_encoder",
           "build_decoder", "sample_cells", "slerp", "lerp", "interpolate_latents"]
