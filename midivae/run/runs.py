"""A training run is a folder: the checkpoint, a log, curves and listening samples.

``RUN/model.safetensors`` (+ ``model.json``): the latest checkpoint, written
atomically; ``RUN/log.csv``: one row per logged training step and validation;
``RUN/curves.png``: loss, KL, beta and validation -ELBO over the steps;
``RUN/samples/step_NNNNNN/``: a few prior samples and reconstructions of
validation windows as MIDI and PNG, at each validation; TensorBoard events in
``RUN/tensorboard/`` when the ``tensorboard`` package is installed.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from midivae.fileio import replace_atomically, replaced_by

COLUMNS = ("kind", "step", "epoch", "seconds", "loss", "recon_nats", "kl_nats",
           "nelbo_bits_per_step", "beta", "lr", "active_units", "grad_norm")
CHECKPOINT = "model"  # RUN/model.safetensors + RUN/model.json


RUN_ENTRIES = frozenset({f"{CHECKPOINT}.safetensors", f"{CHECKPOINT}.json", "log.csv",
                         "curves.png", "samples", "tensorboard"})
BEST = "best"  # RUN/best/model.*: the model with the best validation ELBO (--keep-best)
_SNAPSHOT = re.compile(r"at-[0-9.]+min")  # RUN/at-Mmin/model.*: --snapshot-minutes M


def _is_run_entry(name: str) -> bool:
    return name in RUN_ENTRIES or name == BEST or bool(_SNAPSHOT.fullmatch(name))


_SAFETENSORS_TMP = re.compile(r"\.tmp[A-Za-z0-9]{6}")  # safetensors writes through one


def _is_save_under_way(name: str) -> bool:
    """A temporary file of a checkpoint or log being written (or left by a killed run)."""
    return replaced_by(name) in RUN_ENTRIES or bool(_SAFETENSORS_TMP.fullmatch(name))


def _checkpoint_folders(path: Path) -> list[Path]:
    """A run's extra checkpoint folders (best, snapshots) that hold only a checkpoint."""
    own = {f"{CHECKPOINT}.safetensors", f"{CHECKPOINT}.json"}
    return [p for p in sorted(path.iterdir()) if p.is_dir() and _is_run_entry(p.name)
            and p.name not in RUN_ENTRIES and {q.name for q in p.iterdir()} <= own]


def holds_run(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a run's checkpoint."""
    return (Path(path) / f"{CHECKPOINT}.safetensors").is_file()


def is_run_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder of nothing but what a run writes, holding its checkpoint
    or a log that a run began (one stopped before its first checkpoint): a user's own
    ``log.csv`` alone is no run."""
    entries = {p.name for p in Path(path).iterdir()} if Path(path).is_dir() else set()
    return (bool(entries) and all(_is_run_entry(n) or _is_save_under_way(n) for n in entries)
            and (holds_run(path) or _log_header(Path(path) / "log.csv") == list(COLUMNS)))


def _log_header(path: Path) -> list[str] | None:
    """The first row of a CSV file, or None if it is no readable text file."""
    if not path.is_file():  # missing, a folder, or a FIFO that would block the read
        return None
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return next(csv.reader([f.readline()]), [])
    except (OSError, UnicodeDecodeError):  # unreadable, or not text
        return None


class RunFolder:
    """Writes a run's log, curves and samples (rank 0 of a training job only).

    ``resume`` from the checkpoint of ``step``: the log keeps its rows up to that step; the
    rows a killed run wrote after its last checkpoint (and a row cut short) go, as the
    resumed run logs those steps again.
    """

    def __init__(self, path: str | os.PathLike, *, resume: bool = False,
                 step: int | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoint = self.path / CHECKPOINT
        self.log_path = self.path / "log.csv"
        if not resume:  # started over: an earlier run's best and snapshots no longer apply
            for folder in _checkpoint_folders(self.path):
                for f in folder.iterdir():
                    f.unlink()
                folder.rmdir()
        if not resume or not self.log_path.exists():
            with open(self.log_path, "w", newline="") as f:
                csv.writer(f).writerow(COLUMNS)
        elif step is not None:
            self._keep_rows_until(step)
        self._tensorboard = _tensorboard_writer(self.path / "tensorboard")

    def log(self, record: dict) -> None:
        """Append one training or validation record."""
        with open(self.log_path, "a", newline="") as f:
            csv.writer(f).writerow(_cell(record.get(c)) for c in COLUMNS)
        if self._tensorboard is not None:
            for key in COLUMNS[3:]:
                if isinstance(record.get(key), (int, float)):
                    self._tensorboard.add_scalar(f"{record['kind']}/{key}", record[key],
                                                 record["step"])

    def _keep_rows_until(self, step: int) -> None:
        with open(self.log_path, newline="") as f:
            rows = list(csv.reader(f))
        kept = rows[:1] + [r for r in rows[1:] if len(r) == len(COLUMNS) and r[1].isdigit()
                           and int(r[1]) <= step]
        if kept != rows:
            def write(tmp: Path) -> None:
                with open(tmp, "w", newline="") as f:
                    csv.writer(f).writerows(kept)
            replace_atomically(self.log_path, write)

    def rows(self) -> list[dict]:
        with open(self.log_path, newline="") as f:
            return list(csv.DictReader(f))

    def write_curves(self) -> Path:
        """``curves.png``: training loss and validation -ELBO, KL, beta and learning rate."""
        import matplotlib
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        matplotlib.use("Agg", force=False)

        rows = self.rows()
        series = {kind: [r for r in rows if r["kind"] == kind] for kind in ("train", "valid")}
        fig = Figure(figsize=(9, 6), dpi=100)
        FigureCanvasAgg(fig)
        panels = [("nelbo_bits_per_step", "-ELBO (bits/step)"), ("kl_nats", "KL (nats/window)"),
                  ("beta", "beta (KL weight)"), ("lr", "learning rate")]
        for i, (key, title) in enumerate(panels):
            ax = fig.add_subplot(2, 2, i + 1)
            for kind, style in (("train", "-"), ("valid", "o-")):
                pts = [(int(r["step"]), float(r[key])) for r in series[kind] if r[key] != ""]
                if pts:
                    ax.plot(*zip(*pts), style, label=kind, markersize=3)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
            if i == 0 and ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        # fixed margins: a layout engine took most of the picture's time
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.08, top=0.95, hspace=0.4, wspace=0.22)
        out = self.path / "curves.png"
        replace_atomically(out, lambda tmp: fig.savefig(tmp, format="png"))
        return out

    def write_samples(self, model, step: int, windows=None, *, n: int = 2,
                      seed: int = 0) -> Path:
        """MIDI and PNG of ``n`` prior samples (temperature 1, seeded: the training's own
        random numbers are not touched) and of the reconstructions of ``windows``."""
        import warnings

        from midivae.run.generate import layout_of, reconstruct, sample

        folder = self.path / "samples" / f"step_{step:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        was_training = model.training
        model.eval()
        try:
            with warnings.catch_warnings():  # silent early samples are expected, not news
                warnings.simplefilter("ignore")
                label = 0 if model.config.n_labels else None
                rolls = [("sample", r) for r in sample(model, n, temperature=1.0, rounds=0,
                                                       seed=seed + step, label=label)]
            if windows is not None:
                x, labels = windows[0][:n].to(model.device), windows[1][:n].to(model.device)
                labels = labels if model.config.n_labels else None
                rolls += [("original", r) for r in layout_of(model).from_windows(x.cpu().numpy())]
                rolls += [("reconstruction", r) for r in reconstruct(model, x, label=labels)]
        finally:
            model.train(was_training)
        counts: dict[str, int] = {}
        for kind, roll in rolls:
            i = counts[kind] = counts.get(kind, -1) + 1
            roll.to_midi(folder / f"{kind}_{i}.mid")
            if roll.n_notes:
                roll.plot(folder / f"{kind}_{i}.png")
        return folder

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()


def _cell(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def _tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(folder))
