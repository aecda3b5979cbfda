"""The training loop: batches of windows in, a trained model and its history out.

Small on purpose, in the spirit of nanoGPT's ``train.py``: AdamW (Loshchilov &
Hutter 2019) with a linear learning-rate warm-up and an optional cosine decay
(Loshchilov & Hutter 2017, as in nanoGPT), a KL weight
per step (`midivae.models.losses.BetaSchedule`), free bits, optional scheduled
sampling, gradient clipping, optional bfloat16 autocast, periodic validation
and checkpoints. Nothing is printed: each record goes to the ``log`` callback
and into the returned `History`. Deterministic for a seed on CPU (the seed
drives the reparameterisation noise and a shuffling DataLoader's order).
Runs on CUDA when asked (``device="cuda"``); nothing requires a GPU.
Under ``torchrun`` (see `midivae.run.distributed`) the step runs under torch's
DistributedDataParallel: every process starts from rank 0's weights and
gradients are averaged during the backward pass; rank 0 alone logs and writes
checkpoints. Records hold rank 0's own batch's loss terms.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch

from midivae.run import distributed
from midivae.run.checkpoint import save_checkpoint
from midivae.models.metrics import active_units, mean_loss_terms
from midivae.models.config import TrainConfig
from midivae.run.priors import fit_prior, to_device

Schedule = Callable[[int], float]


@dataclass
class History:
    """What `train` recorded."""

    train: list[dict] = field(default_factory=list)  # one record per logged step
    valid: list[dict] = field(default_factory=list)  # one record per validation
    best: dict | None = None  # the validation record with the highest ELBO
    stopped_early: bool = False  # ended by ``TrainConfig.patience``, not by its budget


def _as_schedule(value: float | Schedule, name: str) -> Schedule:
    if callable(value):
        return value
    if not math.isfinite(float(value)) or float(value) < 0:
        raise ValueError(f"{name} must be a number >= 0 or a function of the step, got {value!r}")
    return lambda step: float(value)


def _batches(loader: Iterable, epoch: int = 0, skip: int = 0) -> Iterator[tuple[int, object]]:
    """(epoch, batch) for ever, from batch ``skip`` of epoch ``epoch`` on.

    A loader whose sampler has ``set_epoch(epoch, start)`` (`EpochSampler`) starts
    there without reading the skipped windows; any other loader is read and the
    skipped batches dropped.
    """
    while True:
        empty = True
        sampler = getattr(loader, "sampler", None)
        ahead = skip
        if hasattr(sampler, "set_epoch"):
            try:
                sampler.set_epoch(epoch, start=skip * loader.batch_size)
                ahead = 0
            except TypeError:  # a DistributedSampler: reshuffles per epoch, no start
                sampler.set_epoch(epoch)
        for batch in loader:
            empty = False
            if ahead:
                ahead -= 1
                continue
            yield epoch, batch
        if empty and not skip:
            raise ValueError("train_loader yielded no batches")
        epoch, skip = epoch + 1, 0


class _CtrlC:
    """Ctrl-C (SIGINT) held until the step ends: the first press sets ``pressed`` and the
    training loop stops at the end of the step, once its records, validation and checkpoints
    are done, so that what it saves is what a periodic checkpoint at that step holds (an
    interrupt inside a step would save random number generators that have run ahead of the
    weights, or lose the step's validation). A second press stops at once (``forced``).

    Installed only in the main thread and where Ctrl-C would raise KeyboardInterrupt anyway
    (Python's default handler); `remove` puts the handler before back.
    """

    def __init__(self):
        self.pressed = self.forced = False
        self._before = None

    def install(self) -> None:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._before = signal.signal(signal.SIGINT, self._press)

    def _press(self, signum, frame) -> None:
        if self.pressed:
            self.forced = True
            raise KeyboardInterrupt
        self.pressed = True

    def remove(self) -> None:
        if self._before is not None:
            signal.signal(signal.SIGINT, self._before)
            self._before = None


def _adamw(model, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay; with 0 it is Adam), fused into one kernel per step
    where this torch supports it (CPU and CUDA, torch >= 2.4): on CPU the unfused update
    costs as much as a fifth of a flat model's step."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay,
                                 fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)


def lr_factor(step: int, progress: float, *, warmup_steps: int = 0, decay: str = "constant",
              min_lr: float = 0.1) -> float:
    """The learning rate at a step as a fraction of the peak.

    A linear warm-up over the first ``warmup_steps`` steps, then, for
    ``decay="cosine"``, ``min_lr + (1 - min_lr) * (1 + cos(pi * progress)) / 2``
    (SGDR, Loshchilov & Hutter 2017, without restarts), ``progress`` in [0, 1]
    the share of training done (of the steps, or of the time budget).
    """
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if decay == "constant":
        return warm
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return warm * (min_lr + (1.0 - min_lr) * cosine)


def _optimise(step_module, model, opt: torch.optim.Optimizer, x: torch.Tensor, label, *,
              beta: float, sampling_prob: float, free_bits: float, per_dimension: bool,
              grad_clip: float, bf16: bool, input_dropout: float = 0.0, infill: float = 0.0):
    """One optimiser step on one batch; returns the loss terms, the gradient norm and mu.

    ``step_module`` is `midivae.run.distributed.wrap(model)`: the model and its loss,
    under DistributedDataParallel when several processes train.
    """
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        terms, out = step_module(x, label, beta=beta, free_bits=free_bits,
                                 per_dimension=per_dimension, sampling_prob=sampling_prob,
                                 input_dropout=input_dropout, infill=infill)
    opt.zero_grad(set_to_none=True)
    terms.loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(),
                                          grad_clip if grad_clip > 0 else math.inf)
    opt.step()
    return terms, norm, out.mu.detach()


def validate(model, loader: Iterable, *, beta: float, free_bits: float = 0.0,
             device: str | torch.device = "cpu", seed: int = 0) -> dict[str, float]:
    """Mean loss terms over a loader; see `midivae.models.metrics.mean_loss_terms`."""
    return mean_loss_terms(model, loader, beta=beta, free_bits=free_bits, device=device,
                           seed=seed)


def train(model, train_loader: Iterable, cfg: TrainConfig | None = None, *,
          epochs: int | None = None, valid_loader: Iterable | None = None,
          valid_every: int = 500, device: str | torch.device = "cpu", seed: int = 0,
          log: Callable[[dict], None] | None = None, log_every: int = 10,
          checkpoint: str | os.PathLike | None = None, checkpoint_every: int | None = None,
          checkpoint_minutes: float | None = None, preset: str = "", resume: str | os.PathLike | None = None,
          on_step: Callable[[int, dict], None] | None = None, info: dict | None = None,
          snapshots: dict[float, str | os.PathLike] | None = None,
          best: str | os.PathLike | None = None, prior_from: Iterable | None = None,
          **changes) -> History:
    """Train a `midivae.models.VAE` on batches of ``(x, label)``, x float (B, T, D).

    Parameters
    ----------
    cfg : TrainConfig, optional
        The recipe (default ``TrainConfig()``); ``changes`` are TrainConfig fields
        replaced on top of it (``train(model, loader, steps=100, lr=1e-2)``).
    epochs : int, optional
        Passes over ``train_loader`` instead of ``cfg.steps`` (not both).
    valid_loader, valid_every
        Validation batches, run every ``valid_every`` steps and at the end.
    device : str or torch.device
        Where to train ("cpu", "cuda", ...); the model is moved there.
    seed : int
        Seeds torch's global generator at the start.
    log : callable(dict), optional
        Receives every record (``record["kind"]`` is "train" or "valid").
    log_every : int
        Steps between training records (the last step is always recorded).
    checkpoint, checkpoint_every, checkpoint_minutes
        Where to save (see `midivae.run.checkpoint.save_checkpoint`): every
        ``checkpoint_every`` steps and every ``checkpoint_minutes`` of wall-clock
        time (whichever are given), at the end, and on KeyboardInterrupt after at
        least one step, before the interrupt is raised again; its ``extra`` then
        says ``"interrupted": True``. Ctrl-C (SIGINT, in the main thread) ends the
        run at the end of the step it falls in, after that step's records and
        validation, so the checkpoint is the one a periodic save at that step
        would write, and a resumed run ends as an uninterrupted one; a second
        Ctrl-C stops at once and saves nothing (the last checkpoint stands). Each
        checkpoint holds what a resumed run needs: the recipe, ``preset``, the
        step and epoch, the optimiser's state and the random number generators'
        states.
    snapshots : dict of minutes to path, optional
        Also save a checkpoint to each path once that many minutes of training
        have passed (the figures of one run at 10, 30 and 60 minutes).
    best : path, optional
        Also save a checkpoint there after each validation whose ELBO is the
        highest so far: the model chosen on the validation split. With
        ``cfg.patience`` the run ends once that many validations in a row
        have not beaten it (early stopping); ``History.best`` holds its record.
    prior_from : iterable of batches, optional
        Training windows (unshuffled, unaugmented: `prior_loader`); before
        each checkpoint is saved, the model's sampling prior is fitted to their
        posteriors (`fit_prior`), so every saved model samples from the prior
        that fits its weights. It draws no random numbers.
    resume : path, optional
        A checkpoint of an earlier run to continue exactly where it stopped:
        its weights, optimiser, schedule, step, epoch, random number
        generators and data order (with a loader from `make_loader`), and its
        recipe and seed (give no ``cfg``, ``epochs``, ``seed`` or changes but
        ``steps``). The run then ends with the weights an uninterrupted run would
        have. ``steps`` moves its end: the run goes on to that many steps in all
        (at least the steps done), the learning-rate decay stretched to them.
    on_step : callable(step, terms), optional
        Called after every optimiser step with the batch's loss terms (a
        progress bar); rank 0 only.
    info : dict, optional
        JSON-ready facts about the run (data set, augmentation) stored in every
        checkpoint's ``extra["run"]``.

    The learning rate warms up linearly, then follows ``cfg.lr_decay`` (see
    `lr_factor`) over the steps or the ``cfg.minutes`` budget, whichever is
    spent first. Training records carry ``active_units``, counted over the
    batch's posterior means (`midivae.models.metrics.active_units`); validation records
    count them over the whole validation set.

    Returns
    -------
    History
    """
    if epochs is not None and "steps" in changes:
        raise ValueError(f"give exactly one of steps and epochs, got steps={changes['steps']!r}, "
                         f"epochs={epochs!r}")
    saved = None
    if resume is not None:
        if cfg is not None or set(changes) - {"steps"} or epochs is not None:
            raise ValueError("a resumed run keeps its own recipe: give no cfg, epochs or "
                             "changes but steps")
        saved = _resumed(resume)
        cfg, seed, preset = saved["cfg"], saved["seed"], preset or saved["preset"]
        if changes.get("steps") is not None and changes["steps"] < saved["step"]:
            raise ValueError(f"steps={changes['steps']!r}: the run to resume has done "
                             f"{saved['step']} steps already")
    cfg = dataclasses.replace(cfg or TrainConfig(), **changes)
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs!r}")
        cfg = dataclasses.replace(cfg, steps=epochs * len(train_loader))
    if cfg.steps is None and cfg.minutes is None:
        raise ValueError("give steps, epochs or minutes: training would never end")
    if (cfg.patience is not None or best is not None) and valid_loader is None:
        raise ValueError("early stopping and keeping the best model need a valid_loader")
    device = torch.device(device)
    torch.manual_seed(seed)
    model.to(device).train()
    rank, _ = distributed.world()
    step_module = distributed.wrap(model)  # DDP under torchrun: rank 0's weights, averaged grads
    beta_at = _as_schedule(cfg.beta, "beta")
    sampling_at = _as_schedule(cfg.scheduled_sampling, "scheduled_sampling")
    opt = _adamw(model, cfg.lr, cfg.weight_decay)
    total = cfg.steps
    history, step, epoch, in_epoch, spent = History(), 0, 0, 0, 0.0
    stale = 0  # validations in a row that have not beaten history.best
    if saved is not None:
        step, epoch, in_epoch, spent = saved["step"], saved["epoch"], saved["batch"], saved["seconds"]
        history.best, stale = saved["best"], saved["stale"]
        _restore(model, opt, saved, device)
    start = time.monotonic() - spent

    def progress() -> float:
        done = step / total if total else 0.0
        if cfg.minutes is not None:
            done = max(done, (time.monotonic() - start) / (60.0 * cfg.minutes))
        return done

    def emit(record: dict, into: list) -> None:
        into.append(record)
        if log is not None and rank == 0:
            log(record)

    saved_at = [time.monotonic()]

    pending = sorted((snapshots or {}).items())

    def save(epoch: int, to=None, **more) -> None:
        if to is None:
            saved_at[0] = time.monotonic()
        if prior_from is not None:
            fit_prior(model, prior_from, device=device)
        extra = {"step": step, "epoch": epoch, "batch": in_epoch, "seed": seed, "preset": preset,
                 "seconds": round(time.monotonic() - start, 3), "train": cfg.to_dict(),
                 "run": info or {}, "best": history.best, "stale": stale,
                 "stopped_early": history.stopped_early,
                 "last": history.train[-1:], **more}
        state, optimizer = training_state(opt, device)
        save_checkpoint(model, checkpoint if to is None else to,
                        extra={**extra, "optimizer": optimizer}, state=state)

    if saved is not None:
        if (total is not None and step >= total) or saved["stopped_early"]:
            history.stopped_early = saved["stopped_early"]
            return history  # the run had already finished: nothing to continue
        torch.set_rng_state(saved["rng"])  # last: after everything that draws on building
    ctrl_c = _CtrlC()
    try:
        ctrl_c.install()
        for epoch_now, batch in _batches(train_loader, epoch, in_epoch):
            if epoch_now != epoch:
                epoch, in_epoch = epoch_now, 0
            x, label = to_device(batch, model, device)
            b = beta_at(step)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, progress(), warmup_steps=cfg.warmup_steps,
                                                 decay=cfg.lr_decay, min_lr=cfg.min_lr)
            terms, norm, mu = _optimise(step_module, model, opt, x, label, beta=b,
                                        sampling_prob=sampling_at(step), free_bits=cfg.free_bits,
                                        per_dimension=cfg.free_bits_per_dimension,
                                        grad_clip=cfg.grad_clip, bf16=cfg.bf16,
                                        input_dropout=cfg.input_dropout, infill=cfg.infill)
            step, in_epoch = step + 1, in_epoch + 1
            last = step == total or (cfg.minutes is not None and progress() >= 1.0)
            if on_step is not None and rank == 0:
                on_step(step, {"loss": terms.loss.item(), "kl_nats": terms.kl.item(),
                               "beta": b})
            if step % log_every == 0 or last:
                record = {"kind": "train", "step": step, "epoch": epoch, **terms.to_dict(),
                          "grad_norm": float(norm), "lr": opt.param_groups[0]["lr"],
                          "active_units": active_units(mu.float())}
                if not math.isfinite(record["loss"]):
                    raise FloatingPointError(f"training loss is {record['loss']} at step {step}")
                emit(record, history.train)
            if valid_loader is not None and (step % valid_every == 0 or last):
                emit({"kind": "valid", "step": step, "epoch": epoch,
                      **validate(model, valid_loader, beta=b, free_bits=cfg.free_bits,
                                 device=device, seed=seed)}, history.valid)
                if history.best is None or history.valid[-1]["elbo_nats"] > history.best["elbo_nats"]:
                    history.best, stale = history.valid[-1], 0
                    if best is not None and rank == 0:
                        save(epoch, to=best)
                else:
                    stale += 1
                    if cfg.patience is not None and stale >= cfg.patience:
                        last = history.stopped_early = True
            due = (checkpoint_minutes is not None
                   and time.monotonic() - saved_at[0] >= 60.0 * checkpoint_minutes)
            if checkpoint is not None and rank == 0 and (
                    (checkpoint_every and step % checkpoint_every == 0) or due or last):
                save(epoch)
            while pending and rank == 0 and time.monotonic() - start >= 60.0 * pending[0][0]:
                save(epoch, to=pending.pop(0)[1])
            if ctrl_c.pressed:  # Ctrl-C: at a step's end, saved as a periodic checkpoint
                raise KeyboardInterrupt
            if last:
                break
    except KeyboardInterrupt:  # keep what was learnt, then stop as asked
        if checkpoint is not None and rank == 0 and step > 0 and not ctrl_c.forced:
            save(epoch, interrupted=True)
        raise
    finally:
        ctrl_c.remove()
    return history


def _resumed(path) -> dict:
    """What `train` needs to continue the run saved at ``path``."""
    from midivae.run.checkpoint import load_checkpoint, read_settings, read_state
    from midivae.errors import CheckpointError

    extra = read_settings(path)["extra"]
    state = read_state(path)
    if "train" not in extra or "rng/torch" not in state:
        raise CheckpointError(f"{path}: not a training checkpoint (no recipe or training state "
                              "in it); start a new run, or fine-tune from it")
    try:
        cfg = TrainConfig.from_dict(extra["train"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its recipe cannot be resumed ({e})") from None
    return {"cfg": cfg, "seed": int(extra.get("seed", 0)), "preset": extra.get("preset", ""),
            "step": int(extra["step"]), "epoch": int(extra["epoch"]),
            "batch": int(extra.get("batch", 0)), "seconds": float(extra.get("seconds", 0.0)),
            "best": extra.get("best"), "stale": int(extra.get("stale", 0)),
            "stopped_early": bool(extra.get("stopped_early", False)),
            "optimizer": extra["optimizer"], "state": state, "rng": state["rng/torch"],
            "weights": load_checkpoint(path).state_dict()}


def _restore(model, opt: torch.optim.Optimizer, saved: dict, device: torch.device) -> None:
    """The saved weights and optimiser state, in place."""
    model.load_state_dict(saved["weights"])
    per_param: dict[int, dict] = {}
    for key, value in saved["state"].items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            per_param.setdefault(int(index), {})[name] = value
    for st in per_param.values():  # step counters were stored as (1,) tensors
        if "step" in st and st["step"].dim() == 1:
            st["step"] = st["step"].reshape(())
    opt.load_state_dict({"state": per_param, "param_groups": saved["optimizer"]["param_groups"]})
    if device.type == "cuda" and "rng/cuda" in saved["state"]:
        torch.cuda.set_rng_state(saved["state"]["rng/cuda"], device)


def training_state(opt: torch.optim.Optimizer, device: torch.device
                   ) -> tuple[dict[str, torch.Tensor], dict]:
    """What a resumed run needs beyond the weights: (tensors, JSON-ready record).

    Tensors: the optimiser's per-parameter state as ``optimizer/<index>/<name>``
    and the random number generators as ``rng/torch`` (and ``rng/cuda``).
    The record holds the optimiser's parameter groups (learning rates, betas).
    """
    sd = opt.state_dict()
    tensors = {f"optimizer/{index}/{name}": value.detach().cpu().reshape(-1)
               if value.dim() == 0 else value.detach().cpu()
               for index, st in sd["state"].items() for name, value in st.items()
               if isinstance(value, torch.Tensor)}
    tensors["rng/torch"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors["rng/cuda"] = torch.cuda.get_rng_state(device)
    return tensors, {"param_groups": sd["param_groups"]}
