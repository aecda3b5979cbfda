"""The commands that train and measure models: train, evaluate and fit-prior.

Each takes the parsed arguments and returns an exit status; heavy modules are
imported inside each command so that `midivae --help` is fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from midivae.cli.checks import (Failure, _check_device, _input_file, _output_file,
                                _writable_folder)


def _train_inputs(args):
    """The prepared set and the device, after every check that needs no training: a
    refusal here has written nothing."""
    from midivae.data import PreparedSet
    from midivae.models import PRESETS
    from midivae.run.runs import holds_run, is_run_folder
    from midivae.run.start import check_trainable

    if args.preset not in PRESETS:
        raise Failure(f"argument --preset: unknown preset {args.preset!r}; choose from "
                       f"{', '.join(sorted(PRESETS))}", 2)
    if args.resume and args.init:
        raise Failure("--resume continues a run; --init starts a new one from a model: "
                       "give one", 2)
    if (args.init or args.resume) and (
            args.latent or args.output or args.place_input or args.encoder or args.bar_decoder
            or args.bar_latents or args.track_latents or args.voice_context
            or args.track_outputs):
        raise Failure(("--init trains the given model" if args.init else
                       "--resume continues the run's model") + " as it is: --latent, --output, "
                      "--encoder, --bar-decoder, --bar-latents, --track-latents, "
                      "--voice-context, --track-outputs and --place-input would change it", 2)
    prepared = PreparedSet(args.dataset)
    check_trainable(prepared)
    if (args.patience or args.keep_best) and not prepared.n_windows["valid"]:
        raise Failure(f"{prepared.path} has no validation windows: --patience and --keep-best "
                      "choose the model on them")
    if os.path.lexists(args.out) and not os.path.isdir(args.out):
        raise Failure(f"{args.out}: is a file; --out names a run folder")
    if args.resume and not holds_run(args.out):
        raise Failure(f"{args.out} holds no run to resume (no model.safetensors)")
    if args.resume:
        _check_resume_flags(args)
    if is_run_folder(args.out) and not (args.resume or args.force):
        raise Failure(f"{args.out} holds a run; pass --resume to continue it or --force to "
                       "start it over")
    if os.path.isdir(args.out) and os.listdir(args.out) and not is_run_folder(args.out):
        raise Failure(f"{args.out} exists and is not a run folder; choose another --out")
    _writable_folder(os.path.dirname(os.path.abspath(args.out)), args.out, create=True)
    if args.init:
        init = _checkpoint_file(args.init)
        _input_file(init)
        out = os.path.realpath(args.out)
        if os.path.commonpath([os.path.realpath(init), out]) == out:
            raise Failure(f"--init {args.init} lies in --out {args.out}, which this run "
                          "starts over: train into another folder (its model is never "
                          "written over, even with --force)", 2)
    return prepared, _device(args.device)


def _check_resume_flags(args) -> None:
    """--resume keeps the run's recipe; --steps alone may move its end, to no fewer steps
    than it has done. Any other recipe flag is refused unless it repeats the run's value."""
    from midivae.run.checkpoint import read_settings

    extra = read_settings(args.out)["extra"]
    if "train" not in extra:
        return  # no training checkpoint: `train` says so
    recipe, done = extra["train"], int(extra.get("step", 0))
    if args.steps is not None and args.steps < done:
        raise Failure(f"--steps {args.steps}: {args.out} has done {done} steps already; "
                      "--resume --steps N trains it on to N steps in all", 2)
    given = {k: v for k, v in _recipe_changes(args).items() if k != "steps"}
    if args.beta is not None:
        beta = recipe.get("beta")
        given["beta"], recipe = args.beta, {**recipe, "beta": beta.get("beta_max", beta)
                                            if isinstance(beta, dict) else beta}
    changed = [f"--{k.replace('_', '-')} {v:g} (the run's is {recipe.get(k)!r})"
               if not isinstance(v, bool) else f"--{k.replace('_', '-')}"
               for k, v in given.items() if v != recipe.get(k)]
    if changed:
        raise Failure(f"--resume continues {args.out} with its own recipe: "
                      f"{', '.join(changed)} would change it; start over with --force, or "
                      "fine-tune its model with --init", 2)


def _checkpoint_file(path: str) -> str:
    from midivae.run.checkpoint import checkpoint_paths
    return str(checkpoint_paths(path)[0])


def _device(name: str) -> str:
    """``auto``: CUDA, else Apple's MPS, else the CPU; any other name must work here."""
    import torch
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    _check_device(name)
    return name


def _as_flags(message: str, args) -> str:
    """A `ModelConfig` error in the words of the command line: each setting the user gave a
    flag for in ``args``, named as the field (``bar_latents``, ``latent=512``), becomes the
    flag (``--bar-latents``, ``--latent=512``); the preset's settings keep their names."""
    import re
    for name, value in vars(args).items():
        if value is None or value is False:
            continue
        if "_" in name:
            message = re.sub(rf"(?<![\w.-]){name}\b", "--" + name.replace("_", "-"), message)
        else:
            message = re.sub(rf"(?<![\w.-]){name}=", f"--{name}=", message)
    return message


def _recipe_changes(args) -> dict:
    """The TrainConfig fields set on the command line, on top of the preset's."""
    changes = {}
    for field in ("steps", "batch_size", "lr", "free_bits", "minutes", "warmup_steps",
                  "input_dropout", "patience", "infill"):
        if getattr(args, field) is not None:
            changes[field] = getattr(args, field)
    if args.free_bits_per_dimension:
        changes["free_bits_per_dimension"] = True
    if args.minutes is not None and args.steps is None:
        changes["steps"] = None  # the budget alone ends the run
    return changes


def _cmd_train(args) -> int:
    from midivae.run import distributed

    prepared, device_name = _train_inputs(args)
    device = distributed.setup(device_name)  # joins torchrun's process group, if any
    if distributed.world()[0] != 0:  # rank 0 alone writes into the run folder
        return _train(args, prepared, device)
    with _claimed(args.out):
        return _train(args, prepared, device)


@contextlib.contextmanager
def _claimed(out: str):
    """The run folder ``out``, made if need be and locked for this command alone
    (`midivae.fileio.locked`, as builds of a prepared set take turns): a second writer is
    refused in one line, so that two runs never interleave their logs or swap their files.
    A folder made here is removed again if it is still empty at the end (a refusal)."""
    from midivae.errors import FolderBusyError
    from midivae.fileio import locked

    made = not os.path.isdir(out)
    os.makedirs(out, exist_ok=True)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(out, wait=False))
        except FolderBusyError as err:
            raise Failure(f"{err} (another midivae writing into it); wait for it to end, or "
                          "choose another --out") from None
        if made:  # removed while still locked: no other writer has it yet
            stack.callback(lambda: os.path.isdir(out) and not os.listdir(out) and os.rmdir(out))
        yield


def _train(args, prepared, device) -> int:
    """`_cmd_train` once the run folder is this command's."""
    import dataclasses

    from midivae.errors import BoundError
    from midivae.run import distributed
    from midivae.run.checkpoint import load_checkpoint
    from midivae.run.evaluate import layout_differences
    from midivae.run.runs import RunFolder
    from midivae.models import preset as preset_settings
    from midivae.run.start import loaders, model_and_loaders
    from midivae.run.priors import prior_loader
    from midivae.run.train import train

    rank, n_procs = distributed.world()
    if args.resume:
        model = load_checkpoint(args.out)
        differences = layout_differences(model, prepared)
        saved = _saved_run(args.out)
        if differences:  # another set than the run's: its windows would not fit the model
            raise Failure(f"{args.out} does not fit {prepared.path}: " + "; ".join(differences)
                          + "; resume the run on its own set"
                          + (f", {saved['dataset']}" if saved["dataset"] else ""))
        loader, valid = loaders(prepared, saved["batch_size"], transpose=saved["transpose"],
                                seed=saved["seed"])
        cfg, preset, transpose = None, saved["preset"], saved["transpose"]
        steps = args.steps or saved["steps"]  # --steps moves the run's end
    elif args.init:  # fine-tune: the given model as it is, the preset's recipe
        model = load_checkpoint(args.init)
        differences = layout_differences(model, prepared)
        if differences:
            raise Failure(f"{args.init} does not fit {prepared.path}: "
                           + "; ".join(differences))
        cfg = preset_settings(args.preset)[1]
        if args.infill and not model.config.given_input:
            raise Failure(f"{args.init} reads no given cells (it was trained without "
                          "--infill): --infill trains a new model", 2)
        loader, valid = loaders(prepared, args.batch_size or cfg.batch_size,
                                transpose=args.transpose, seed=args.seed)
    else:
        model_changes = {"latent": args.latent} if args.latent else {}
        if args.output:
            model_changes["output"] = args.output
        if args.place_input:
            model_changes["place_input"] = True
        if args.encoder:
            model_changes["encoder"] = args.encoder
        if args.bar_decoder:
            model_changes["bar_decoder"] = args.bar_decoder
        if args.bar_latents:
            model_changes["bar_latents"] = True
        if args.track_latents:
            model_changes["track_latents"] = True
        if args.voice_context:
            model_changes["voice_context"] = True
        if args.track_outputs:
            model_changes["track_outputs"] = args.track_outputs
        if args.infill:
            model_changes["given_input"] = True
        try:
            model, cfg, loader, valid = model_and_loaders(
                prepared, args.preset, batch_size=args.batch_size, transpose=args.transpose,
                seed=args.seed, **model_changes)
        except BoundError as err:  # a model too large to build (--latent 2000000)
            raise Failure(str(err), 2) from None
        except ValueError as err:  # settings that do not fit together, or not this set
            raise Failure(f"{prepared.path}: {_as_flags(str(err), args)}", 2) from None
    if not args.resume:
        cfg = dataclasses.replace(cfg, **_recipe_changes(args))
        if args.beta is not None:
            cfg = dataclasses.replace(cfg, beta=dataclasses.replace(cfg.beta, beta_max=args.beta)
                                      if hasattr(cfg.beta, "beta_max") else args.beta)
        if device.type == "cuda" and _bf16_ok():
            cfg = dataclasses.replace(cfg, bf16=True)
        preset, transpose = args.preset, args.transpose
    run = None if rank else RunFolder(args.out, resume=args.resume,
                                      step=saved["step"] if args.resume else None)
    n_params = sum(p.numel() for p in model.parameters())
    if rank == 0:
        what = (f"resuming {args.out}" if args.resume else f"training {preset}"
                + (f" from {args.init}" if args.init else ""))
        until = ((f"{steps} steps in all" if steps else "its own budget") if args.resume else
                 " and ".join(([f"{cfg.steps} steps"] if cfg.steps else [])
                              + ([f"{cfg.minutes:g} minutes"] if cfg.minutes else [])))
        print(f"{what} ({n_params / 1e6:.2f}M parameters) on {prepared.path} for {until} "
              f"on {device}" + (f" x {n_procs} processes" if n_procs > 1 else "")
              + (f", conditioned on {', '.join(prepared.labels)}" if prepared.labels else ""))
    bar = _train_bar(args, steps if args.resume else cfg.steps)
    first_valid = next(iter(valid)) if valid is not None else None

    def log(r: dict) -> None:
        run.log(r)
        line = (f"  {r['kind']:5s} step {r['step']:5d}  -elbo {r['nelbo_bits_per_step']:.3f} "
                f"bits/step  recon {r['recon_nats']:.1f}  kl {r['kl_nats']:.1f} nats/window"
                + (f"  {r['active_units']} active" if "active_units" in r else ""))
        if bar is None:
            print(line, flush=True)
        elif r["kind"] == "valid":
            bar.write(line)
        if r["kind"] == "valid":
            run.write_samples(model, r["step"], first_valid)

    def on_step(step: int, terms: dict) -> None:
        if bar is not None:
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{terms['loss']:.1f}", kl=f"{terms['kl_nats']:.1f}",
                            beta=f"{terms['beta']:.3f}", refresh=False)

    common = dict(valid_loader=valid, valid_every=args.valid_every, device=device,
                  log=log if rank == 0 else None, log_every=args.log_every,
                  checkpoint=run.checkpoint if run else None,
                  checkpoint_every=args.checkpoint_every,
                  checkpoint_minutes=args.checkpoint_minutes, on_step=on_step,
                  snapshots={m: Path(args.out) / f"at-{m:g}min" / "model"
                             for m in args.snapshot_minutes or ()},
                  best=Path(args.out) / "best" / "model" if args.keep_best else None,
                  prior_from=prior_loader(prepared) if rank == 0 else None,
                  info={"dataset": str(prepared.path), "transpose": transpose,
                        "roles": prepared.manifest["settings"].get("roles")})
    try:
        if args.resume:
            train(model, loader, resume=args.out,
                  **({"steps": args.steps} if args.steps else {}), **common)
        else:
            train(model, loader, cfg, seed=args.seed, preset=preset, **common)
    except KeyboardInterrupt:
        if rank == 0 and run.checkpoint.with_suffix(".safetensors").exists():
            from midivae.run.checkpoint import read_settings
            run.write_curves()
            step = read_settings(run.checkpoint)["extra"].get("step")
            print(f"midivae train: interrupted; the model at step {step} is saved in "
                  f"{args.out} (continue with --resume)", file=sys.stderr)
            return 130
        raise
    finally:
        if bar is not None:
            bar.close()
        if run is not None:
            run.close()
        distributed.teardown(clean=sys.exc_info()[0] is None)
    if rank == 0:
        if prepared.n_windows["valid"]:  # the prior's rank, chosen as fit-prior --rank auto
            from midivae.run.checkpoint import load_checkpoint
            for path in (run.checkpoint, Path(args.out) / "best" / "model"):
                if path.with_suffix(".safetensors").exists():
                    print(_fit_prior_file(path, load_checkpoint(path), prepared, "auto",
                                          by_key=not args.single_prior and "auto"))
        print(f"saved {args.out} (curves.png, log.csv, samples/)")
        run.write_curves()
    return 0


def _bf16_ok() -> bool:
    import torch
    return bool(torch.cuda.is_bf16_supported())


def _saved_run(path: str) -> dict:
    from midivae.run.checkpoint import read_settings
    extra = read_settings(path)["extra"]
    run = extra.get("run", {})
    return {"batch_size": int(extra["train"]["batch_size"]), "preset": extra.get("preset", ""),
            "steps": extra["train"].get("steps"), "step": int(extra.get("step", 0)),
            "seed": int(extra.get("seed", 0)), "transpose": int(run.get("transpose", 0)),
            "dataset": str(run.get("dataset", ""))}


def _train_bar(args, total: int | None):
    """A tqdm bar of ``total`` steps (None: a time budget) with ETA, loss, KL and beta;
    None when quiet or not on a terminal."""
    if args.quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)


def _cmd_evaluate(args) -> int:
    import json

    from midivae.api import load
    from midivae.cli.checks import _warnings_said
    from midivae.errors import MidivaeError
    from midivae.fileio import replace_atomically
    from midivae.run.evaluate import evaluate_source

    _model_and_source(args)
    if args.json:
        _output_file(args.json, force=args.force, inputs=_evaluate_inputs(args))
    model = load(args.checkpoint or args.model)
    name = args.checkpoint or args.model or model.name
    if args.rounds and not model.vae.rewrites:
        raise Failure(f"{name}: --rounds {args.rounds} redraws each track given "
                      "the others: it needs a model trained to infill with several tracks", 2)
    label = None if args.label is None else model.label_index(args.label)
    failed = None
    with _warnings_said("evaluate"):  # each file skipped, said also when then none is left
        try:
            res = evaluate_source(
                model.vae, args.dataset, split=args.split, strict=args.strict,
                roles=model.roles, label=label, name=f"model {model.name!r}", k=args.iwae,
                n_samples=args.samples, temperature=args.temperature, seed=args.seed,
                max_windows=args.limit, rounds=args.rounds,
                rules=model.rules if args.rules is None else args.rules,
                # a shipped model's samples as `sample` draws them (its card's onset biases,
                # its windows with a silent track drawn again if it asks for that)
                onset_biases=model.onset_bias_by_track(), every_track=model.every_track)
        except MidivaeError as err:
            failed = err
    if failed is not None:
        raise failed
    res["checkpoint"] = str(name)
    if model.onset_bias:
        res["onset_bias"] = dict(model.onset_bias)
    _print_evaluation(args, name, res)
    if args.json:
        text = json.dumps(res, indent=1, sort_keys=True)
        replace_atomically(args.json, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        print(f"wrote {args.json}")
    return 0


def _sampling_said(biased: dict | None, every_track: bool | None) -> str:
    """What the samples were drawn with, in parentheses ("" for plain draws)."""
    said = (["onset biases " + ", ".join(f"{t} {b:+g}" for t, b in biased.items())
             + ", the model card's"] if biased else [])
    said += ["a window with a silent track drawn again"] if every_track else []
    return f" ({'; '.join(said)})" if said else ""


def _model_and_source(args) -> None:
    """``args.checkpoint`` (None: --model or the default) and ``args.dataset`` from the
    positional arguments of `evaluate`, [CKPT] SOURCE."""
    given = args.given
    if len(given) > 2:
        raise Failure(f"expected [CKPT] SOURCE, got {len(given)} arguments", 2)
    if len(given) == 2 and args.model is not None:
        raise Failure(f"give the model once: CKPT {given[0]!r} or --model {args.model!r}", 2)
    args.checkpoint, args.dataset = (None, *given) if len(given) == 1 else given


def _evaluate_inputs(args) -> list:
    """Every file `evaluate` reads: the model's, and the set's or the MIDI files."""
    from midivae.cli.generation import _read_files
    from midivae.data.folder import midi_files
    from midivae.data.store import SET_FILES

    source = Path(args.dataset)
    if not source.is_dir():
        return [*_read_files(args), source]
    return [*_read_files(args), *(source / f for f in SET_FILES), *midi_files(source)]


def _print_evaluation(args, name: str, res: dict) -> None:
    """The report of `evaluate`, from its figures."""
    m, dist = res["metrics"], res["distance"]
    where = (f"{res['set']} ({res['split']}, {res['windows']} windows)" if "set" in res
             else f"{res['source']} ({res['windows']} windows)")
    print(f"{name} on {where}")
    if "fitted" in res:
        f = res["fitted"]
        print("  fitted to the model" + (f" ({'; '.join(f['changes'])})" if f["changes"] else "")
              + f": {f['summary']}")
    print(f"  -elbo {m['nelbo_bits_per_step']:.3f} bits/step"
          + (f", iwae({args.iwae}) {m['iwae_bits_per_step']:.3f}" if args.iwae else "")
          + f", kl {m['kl_nats']:.1f} nats/window, {m['active_units']} active units")
    print(f"  step accuracy: teacher-forced {m['acc_teacher_forced']:.3f}, free-running "
          f"{m['acc_free_running']:.3f}"
          + (" (by track: " + ", ".join(f"{f:.3f}" for f in m["acc_free_running_by_track"])
             + ")" if "acc_free_running_by_track" in m else "")
          + f"; onset P/R/F1 {m['onset_precision']:.3f} / "
          f"{m['onset_recall']:.3f} / {m['onset_f1']:.3f}"
          + (" (by track: " + ", ".join(f"{f:.3f}" for f in m["onset_f1_by_track"]) + ")"
             if "onset_f1_by_track" in m else ""))
    rounds, biased = res["rounds"], res.get("onset_bias")
    print(f"  {args.samples} samples at temperature {args.temperature}"
          + (f", tracks rewritten {rounds} times" if rounds else "")
          + (f" keeping {', '.join(res['rules'])}" if rounds and res.get("rules") else "")
          + ("," if rounds else "")
          + _sampling_said(biased, res.get("every_track"))
          + " vs the data "
          f"(distance {dist['distance']['value']:.3f}):")
    trained = res.get("train", {})
    for key in dist["distance"]["keys"] + ["silent_share", "empty_beat_share"]:
        if key in dist:
            print(f"    {key:24s} {dist[key]['a']:8.3f}  data {dist[key]['b']:8.3f}"
                  + (f"  training {trained[key]:8.3f}" if key in trained else ""))
    if "harmony" in res:
        h = res["harmony"]
        print("  how the tracks sound together (null: each track from another window in the "
              "same key):")
        for key, value in h["samples"].items():
            print(f"    {key:24s} {value:8.3f}  data {h['data'][key]:8.3f}  null "
                  f"{h['null'][key]:8.3f}")
    if "novelty" in res:
        n = res["novelty"]
        print(f"  nearest training window (of {n['train_windows']}), median overlap of "
              f"sounding cells: samples {n['samples_overlap_median']:.3f}, test windows "
              f"{n['test_overlap_median']:.3f}; samples copying a window {n['copies']} of "
              f"{n['samples']}, a whole bar {n['bar_copies']} (test windows: "
              f"{n['test_copies']} and {n['test_bar_copies']} of {n['test_windows']})")
    elif "novelty_left_out" in res:
        print(f"  novelty left out: {res['novelty_left_out']}")


def _cmd_fit_prior(args) -> int:
    from midivae.run.checkpoint import load_checkpoint
    from midivae.data import PreparedSet
    from midivae.run.evaluate import layout_differences

    model = load_checkpoint(args.checkpoint)
    prepared = PreparedSet(args.dataset)
    differences = layout_differences(model, prepared)
    if differences:
        raise Failure(f"{args.checkpoint} does not fit {prepared.path}: " + "; ".join(differences))
    if not prepared.n_windows["train"]:
        raise Failure(f"{prepared.path}: the train split holds no window", 2)
    if args.rank == "auto" and not prepared.n_windows["valid"]:
        raise Failure(f"{prepared.path}: --rank auto chooses on the validation split, which "
                      "holds no window", 2)
    if args.noise and not isinstance(args.rank, int):
        raise Failure("--noise spreads the directions a rank leaves out: give --rank K", 2)
    if isinstance(args.rank, int) and args.rank > model.config.latent:
        raise Failure(f"--rank {args.rank}: the model's z has {model.config.latent} units", 2)
    try:
        print(_fit_prior_file(args.checkpoint, model, prepared, args.rank, by_key=args.by_key,
                              noise=args.noise))
    except ValueError as err:  # --by-key: no key holds enough windows
        raise Failure(f"{prepared.path}: {err}", 2) from None
    return 0


KEY_WINDOWS = 20  # LatentPrior.fit's min_group: windows a key needs for a Gaussian of its own


def _fit_prior_file(path, model, prepared, rank: int | str | None, *,
                    by_key: bool | str = False, noise: str | None = None) -> str:
    """Fit the prior of ``model``, loaded from checkpoint ``path``, to ``prepared``'s
    training windows (``rank``: a number, "auto" or None for full; ``by_key``: one Gaussian
    per key, or "auto": per key where two keys or more hold `KEY_WINDOWS` windows each, else
    one) and rewrite the checkpoint in place, keeping its training state and storage type;
    returns what was done, in one line."""
    from midivae.run.checkpoint import read_settings, read_state, save_checkpoint, stored_half
    from midivae.run.evaluate import choose_prior_rank, window_forms, window_keys
    from midivae.run.priors import posteriors, prior_loader

    mu, logvar = posteriors(model, prior_loader(prepared))
    forms = model.config.decoder == "hierarchical"  # it decodes bar by bar: it can repeat one
    if forms:
        model.prior.fit_forms(window_forms(prepared, len(mu)))
    groups = window_keys(prepared, len(mu)) if by_key in (True, "auto") else None
    if by_key == "auto":
        counts = groups[groups >= 0].bincount() if (groups >= 0).any() else groups[:0]
        by_key = int((counts >= KEY_WINDOWS).sum()) >= 2
        groups = groups if by_key else None
    said = ""
    if rank == "auto":
        rank, scores = choose_prior_rank(model, prepared, mu, logvar, groups=groups)
        said = " (chosen on the validation windows; samples' distance to them: " + ", ".join(
            f"{r or 'full'} {d:.3f}" for r, d in scores.items()) + ")"
    else:
        model.prior.fit(mu, logvar, rank, groups, noise=noise)
    extra = read_settings(path)["extra"]
    extra["prior"] = {"rank": rank, "windows": len(mu), "dataset": str(prepared.path),
                      **({"noise": noise} if noise else {}),
                      **({"keys": model.prior.components} if by_key else {}),
                      **({"forms": len(model.prior.form_weights)} if forms else {})}
    save_checkpoint(model, path, extra=extra, state=read_state(path),
                    half=stored_half(path))  # an exported model stays float16
    return (f"{path}: its prior is fitted to {len(mu)} training windows of "
            f"{prepared.path}" + (f", one Gaussian for each of {model.prior.components} keys"
                                  if by_key else "") + f", rank {rank or 'full'}"
            + (f" with the rest as {noise} noise" if noise else "") + said)
