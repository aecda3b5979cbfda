"""Torch side of a prepared set: a `Dataset` of ``(x, label)`` and a `DataLoader` helper.

The only module of `midivae.data` that imports torch; `midivae.data` loads it
on first use of `WindowDataset` or `make_loader`.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from midivae.data.store import PreparedSet


class WindowDataset(Dataset):
    """The windows of one split of a prepared set.

    Parameters
    ----------
    prepared : PreparedSet or path
    split : {"train", "valid", "test"} or None
        None takes every window.
    transpose : int or (int, int)
        Augmentation: each item is shifted by a random number of semitones in
        ``[-transpose, transpose]`` (or ``[low, high]``), drawn from torch's RNG
        and limited to the shifts that keep the window in the set's pitch range;
        drum tracks are never shifted. 0 (default) disables it.

    Items are ``(x, label)``: x float32 of shape (T, D), D = K * 2 * P in the
    set's `RollLayout` (``layout.window_from_notes``, flattened), 0/1 values;
    label int64, 0 unless the set is labelled. T is bars times the steps of a
    bar, so it varies between windows in different meters.
    """

    def __init__(self, prepared: PreparedSet | str | os.PathLike, split: str | None = "train",
                 transpose: int | tuple[int, int] = 0):
        self.set = prepared if isinstance(prepared, PreparedSet) else PreparedSet(prepared)
        self.index = self.set.indices(split)
        if isinstance(transpose, int):
            transpose = (-abs(transpose), abs(transpose))
        low, high = map(int, transpose)
        if low > high:
            raise ValueError(f"transpose must be (low, high) with low <= high, got {transpose!r}")
        self.transpose = (low, high)

    @property
    def layout(self):
        """The set's `RollLayout`: ``layout.from_array(x)`` turns x back into a roll."""
        return self.set.layout

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        j = int(self.index[i])
        shift = 0
        if self.transpose != (0, 0):
            lo, hi = self.set.shift_range(j, *self.transpose)
            shift = int(torch.randint(lo, hi + 1, ()))
        x = self.layout.flatten(self.set.window_array(j, shift))  # (T, K, 2, P) -> (T, D)
        x = torch.from_numpy(x.astype(np.float32))
        return x, torch.tensor(self.set.label(j), dtype=torch.int64)


class EpochSampler(torch.utils.data.Sampler):
    """Window order of one epoch: a permutation fixed by (seed, epoch), so that a resumed
    run reads exactly the windows the interrupted one would have, from ``start`` on.

    ``set_epoch(epoch, start)`` picks the epoch and the first position to read.
    """

    def __init__(self, n: int, *, shuffle: bool = True, seed: int = 0):
        self.n, self.shuffle, self.seed = int(n), bool(shuffle), int(seed)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = int(epoch), int(start)

    def order(self) -> list[int]:
        """The whole epoch's order."""
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self):
        return iter(self.order()[self.start:])

    def __len__(self) -> int:
        return max(self.n - self.start, 0)


def pad_collate(batch: list[tuple[torch.Tensor, torch.Tensor]]):
    """Stack items into (B, T, D) and (B,), padding shorter windows with silence at the end."""
    xs, labels = zip(*batch)
    T = max(x.shape[0] for x in xs)
    out = xs[0].new_zeros((len(xs), T, xs[0].shape[1]))  # B, T, D
    for b, x in enumerate(xs):
        out[b, :x.shape[0]] = x
    return out, torch.stack(labels)


def make_loader(prepared: PreparedSet | str | os.PathLike, split: str | None = "train",
                batch_size: int = 64, *, shuffle: bool | None = None,
                transpose: int | tuple[int, int] = 0, num_workers: int = 0,
                drop_last: bool = False, distributed: bool = False, seed: int = 0,
                **kwargs) -> DataLoader:
    """A `DataLoader` over `WindowDataset` (shuffled for "train" unless told).

    Batches are ``(x, label)`` with x of shape (B, T, D); in a set of mixed meters
    windows differ in length and are padded with silence (prepare with
    ``meter="4/4"`` for equal bars). ``distributed=True`` (under torchrun) gives
    each process its own share through a `DistributedSampler` seeded by ``seed``;
    ``batch_size`` is then per process. Otherwise the order is an `EpochSampler`'s
    (a resumable permutation per epoch), and the loader's own random draws come from
    a generator seeded by ``seed``, never from torch's global one (which is left to
    augmentation and the model). Other keyword arguments go to `DataLoader`.
    """
    dataset = WindowDataset(prepared, split, transpose)
    shuffle = split == "train" if shuffle is None else shuffle
    if distributed:  # under torchrun: this process's share of the windows
        from torch.utils.data.distributed import DistributedSampler
        kwargs["sampler"] = DistributedSampler(dataset, shuffle=shuffle, seed=seed,
                                               drop_last=drop_last)
    else:
        kwargs.setdefault("sampler", EpochSampler(len(dataset), shuffle=shuffle, seed=seed))
    kwargs.setdefault("generator", torch.Generator().manual_seed(seed))
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                      drop_last=drop_last, collate_fn=pad_collate, **kwargs)
