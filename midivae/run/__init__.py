"""Running models on music: training, checkpoints, generation and evaluation.

Where the model side (`midivae.models`, tensors only) meets rolls and data:
`checkpoint` (safetensors + JSON), `train` (the loop), `generate` (rolls in and
out of a `VAE`), `completion` (fill in, continue, harmonise), `evaluate`,
`runs` (run folders), `distributed` and `zoo` (the shipped models).
`midivae.api` is the front door over all of it.
"""
