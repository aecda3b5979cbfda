"""VAE models over piano-roll tensors: tensors in, tensors out, no MIDI.

A window is a float tensor (B, T, D), D = K * 2 * P (see `midivae.midi.layout`).
"""

from midivae.models.config import (DECODERS, ENCODERS, OUTPUTS, PRESETS, ModelConfig, Preset,
                                   TrainConfig, preset)
from midivae.models.decoder import Decoder, build_decoder
from midivae.models.heads import (CategoricalOutput, IndependentOutput, MadeOutput, build_output,
                                  sample_cells)
from midivae.models.encoder import MLPEncoder, RNNEncoder, build_encoder
from midivae.models.flat import FlatDecoder
from midivae.models.hierarchical import HierarchicalDecoder
from midivae.models.recurrent import RecurrentDecoder, StepLSTM
from midivae.models.vae import VAE, VAEOutput, interpolate_latents, lerp, slerp

__all__ = ["VAE", "VAEOutput", "ModelConfig", "TrainConfig", "Preset", "PRESETS", "preset",
           "DECODERS", "ENCODERS", "OUTPUTS", "Decoder", "IndependentOutput", "MadeOutput",
           "CategoricalOutput",
           "build_output", "FlatDecoder", "RecurrentDecoder",
           "HierarchicalDecoder", "StepLSTM", "MLPEncoder", "RNNEncoder", "build_encoder",
           "build_decoder", "sample_cells", "slerp", "lerp", "interpolate_latents"]
