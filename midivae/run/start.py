"""What a training run on a prepared set starts from: a model sized for the set from a
named preset, and the set's loaders."""

from __future__ import annotations

import dataclasses

from midivae.run import distributed


def check_trainable(prepared, *, train_split: bool = True) -> None:
    """DatasetError unless every window of ``prepared`` has one length (one meter) and,
    with ``train_split``, the train split holds windows."""
    from midivae.errors import DatasetError
    if prepared.window_steps is None:
        raise DatasetError(f"{prepared.path}: windows of mixed meters differ in length; "
                           "prepare the set with one meter (--meter 4/4) to train on it")
    if train_split and prepared.n_windows["train"] == 0:
        raise DatasetError(f"{prepared.path}: the train split holds no window")


def model_for_set(prepared, preset_name: str, *, seed: int | None = None, **overrides):
    """A fresh `VAE` sized for a prepared set, from a named preset.

    The window length, tracks and pitches come from the set; the set must hold
    windows of one meter (prepare with ``meter="4/4"``, say) so that every
    window has the same length. A labelled set (``prepare("a+b")``, or a folder
    with ``labels=True``) gives a model conditioned on its labels, whose names
    travel in ``model.layout.labels``. With ``seed``, the initial weights are drawn from
    torch's generator seeded with it (torch's global one is left as it was), so one seed
    gives one model; without, from the global generator. Settings asking for more weights than
    ``midivae.bounds.MAX_PARAMETERS`` raise `BoundError` before anything is allocated.
    Returns ``(model, train_config)``.
    """
    import torch

    from midivae.models import VAE, preset
    from midivae.models.size import check_weights, meta_weights

    check_trainable(prepared, train_split=False)
    layout = prepared.layout
    if layout.velocities is not None and layout.accents is None:  # its notes' accents too
        layout = dataclasses.replace(layout, accents=prepared.typical_accents())
    sizes = dict(n_steps=prepared.window_steps, n_tracks=layout.n_tracks,
                 n_pitches=layout.n_pitches, steps_per_bar=layout.steps_per_bar,
                 n_labels=len(prepared.labels))
    model_cfg, train_cfg = preset(preset_name, **{**sizes, **overrides})
    check_weights(meta_weights(model_cfg)[1])  # BoundError for too many weights (--latent)
    if seed is None:
        return VAE(model_cfg, layout=layout), train_cfg  # the set's layout carries its labels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VAE(model_cfg, layout=layout), train_cfg


def model_and_loaders(prepared, preset_name: str, *, batch_size: int | None = None,
                      transpose: int = 0, seed: int = 0, **model_changes):
    """Everything a training run on a prepared set needs, from a named preset.

    Returns ``(model, train_config, train_loader, valid_loader)``; the batch size
    is the preset's unless given (per process under torchrun, where each process
    reads its own share); the validation loader is None when the set has no
    validation window. ``seed`` draws the initial weights and orders the windows:
    with `train`'s same ``seed``, a run is repeatable. Used by ``midivae train``, the
    example and the tests.
    """
    model, cfg = model_for_set(prepared, preset_name, seed=seed, **model_changes)
    if batch_size is not None:
        cfg = dataclasses.replace(cfg, batch_size=batch_size)
    return (model, cfg, *loaders(prepared, cfg.batch_size, transpose=transpose, seed=seed))


def loaders(prepared, batch_size: int, *, transpose: int = 0, seed: int = 0):
    """(train loader, validation loader or None) of a prepared set, for `train`."""
    from midivae.data import make_loader

    check_trainable(prepared)
    n_train = prepared.n_windows["train"]
    n_procs = distributed.world()[1]
    loader = make_loader(prepared, "train", batch_size=batch_size, transpose=transpose,
                         drop_last=n_train >= batch_size * n_procs,
                         distributed=n_procs > 1, seed=seed)
    valid = (make_loader(prepared, "valid", batch_size=256) if prepared.n_windows["valid"]
             else None)
    return loader, valid
