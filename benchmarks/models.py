"""Speed of the VAE family on CPU: training throughput against the matmul bound, and sampling.

For each CPU preset this times full training steps (forward, backward, fused
Adam) on random windows and reports windows per second. It counts the model's
matrix-multiply FLOPs analytically -- every Linear and every LSTM/GRU gate
product, forward plus the weight and input gradients of each (none for the
window itself or a zero initial state); the formula is checked against
torch.utils.flop_counter.FlopCounterMode -- then times torch.matmul on exactly
those GEMM shapes, forward and backward, in alternating rounds with the model.
That is the machine's bound at these sizes; the ratio model FLOP/s / matmul
FLOP/s says how close the model gets. Elementwise work (gates, loss, Adam) is
the overhead the ratio exposes. The bound is torch.matmul's (MKL sgemm), not
the hardware peak: oneDNN's fused LSTM kernels, which nn.LSTM uses on CPU, can
beat it at the same shapes, so LSTM models may show ratios above 1.
Timings are the best of several runs, as on a shared machine other jobs only
add time. Finally it times sampling a 16-bar, 4-track window at batch 1
(latency) and batch 256 (throughput), with the made and the categorical
output; the categorical hierarchical decoder at batch 1 should stay under 50 ms
(issue 9), and the run fails when it takes over 100 ms.

    .venv/bin/python benchmarks/models.py            # a few minutes on 2 idle cores
    .venv/bin/python benchmarks/models.py --quick    # a smoke run
    .venv/bin/python benchmarks/models.py --bf16     # also bf16 autocast rows
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
import warnings

import torch
from torch.utils.flop_counter import FlopCounterMode

from midivae.models import PRESETS, VAE, ModelConfig

# (count, m, k, n, grad_input): count products (m, k) @ (k, n); grad_input is False when
# the left operand is the data, which needs no gradient in the backward pass.
Gemm = tuple[int, int, int, int, bool]


# -- analytic FLOPs --------------------------------------------------------------
def _mlp(batch: int, widths: list[int]) -> list[Gemm]:
    return [(1, batch, a, b, True) for a, b in zip(widths, widths[1:])]


def _rnn(n: int, steps: int, n_in: int, hidden: int, layers: int, gates: int,
         directions: int = 1, cond: int = 0, data_input: bool = False) -> list[Gemm]:
    """One (bi)directional stacked RNN: input projections over all steps, recurrent per step.

    ``data_input``: an encoder reading the window, from a zero initial state; neither
    the window nor that state needs a gradient.
    """
    out: list[Gemm] = []
    g = gates * hidden
    for layer in range(layers):
        width = (n_in + cond) if layer == 0 else hidden * directions
        out.append((directions, n * steps, width, g, layer > 0 or not data_input))
        if data_input:  # the first step's product reads the zero state
            out += [(directions * (steps - 1), n, hidden, g, True), (directions, n, hidden, g, False)]
        else:
            out.append((directions * steps, n, hidden, g, True))
    return out


def _step_lstm(n: int, steps: int, channels: int, cond: int, hidden: int, layers: int) -> list[Gemm]:
    return ([(1, n, cond, 2 * layers * hidden, True)]
            + _rnn(n, steps, channels, hidden, layers, 4, cond=cond)
            + [(1, n * steps, hidden, channels, True)])


def forward_gemms(cfg: ModelConfig, batch: int) -> list[Gemm]:
    """Every matrix product of one forward pass (teacher-forced) at this batch size."""
    d, t, zc = cfg.cells, cfg.n_steps, cfg.latent + cfg.condition_dim
    if cfg.encoder == "mlp":
        widths = [t * d] + [cfg.encoder_hidden] * cfg.encoder_layers
        enc = _mlp(batch, widths) + [(1, batch, widths[-1] + cfg.condition_dim,
                                      2 * cfg.latent, True)]
        enc[0] = enc[0][:4] + (False,)  # the window itself needs no gradient
    else:
        gates = 4 if cfg.encoder == "lstm" else 3
        enc = _rnn(batch, t, d, cfg.encoder_hidden, cfg.encoder_layers, gates, directions=2,
                   data_input=True)
        enc += [(1, batch, 2 * cfg.encoder_hidden + cfg.condition_dim, 2 * cfg.latent, True)]
    if cfg.decoder == "flat":
        dec = _mlp(batch, [zc] + [cfg.decoder_hidden] * cfg.decoder_layers + [t * d])
    elif cfg.decoder == "recurrent":
        dec = _step_lstm(batch, t, d, zc, cfg.decoder_hidden, cfg.decoder_layers)
    else:
        nb, hc = cfg.n_bars, cfg.conductor_hidden
        dec = ([(1, batch, zc, 2 * cfg.conductor_layers * hc, True)]
               + _rnn(batch, nb, zc, hc, cfg.conductor_layers, 4)
               + [(1, batch * nb, hc, cfg.bar_embedding, True)]
               + _step_lstm(batch * nb, cfg.steps_per_bar, d, cfg.bar_embedding,
                            cfg.decoder_hidden, cfg.decoder_layers))
    return enc + dec


def forward_flops(gemms: list[Gemm]) -> int:
    return sum(2 * c * m * k * n for c, m, k, n, _ in gemms)


def training_flops(gemms: list[Gemm]) -> int:
    """Forward, plus the weight gradient of each product and the input gradient where needed."""
    return sum(2 * c * m * k * n * (3 if grad_input else 2) for c, m, k, n, grad_input in gemms)


# -- timing ----------------------------------------------------------------------
def best_seconds(fn, *, warmup: int = 2, reps: int = 5, min_time: float = 0.0) -> float:
    """Shortest wall time of fn() over at least ``reps`` calls and ``min_time`` seconds.

    The minimum, not the median: on a shared machine other jobs only ever add time,
    and with OpenMP threads waiting on each other a descheduled thread adds a lot.
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def matmul_seconds(gemms: list[Gemm], dtype: torch.dtype = torch.float32) -> float:
    """torch.matmul time of one training step's GEMMs, laid out as nn.Linear's are: forward
    x @ W.T, input gradient dY @ W, weight gradient dY.T @ x, with x (m, k), W (n, k)."""
    counts: dict[tuple[int, int, int, bool], int] = {}
    for c, m, k, n, grad_input in gemms:
        counts[m, k, n, grad_input] = counts.get((m, k, n, grad_input), 0) + c
    total = 0.0
    for (m, k, n, grad_input), count in counts.items():
        x, w, dy = (torch.randn(*shape, dtype=dtype) for shape in ((m, k), (n, k), (m, n)))
        products = [(x, w.t()), (dy.t(), x)] + ([(dy, w)] if grad_input else [])
        for a, b in products:
            out = torch.empty(a.shape[0], b.shape[1], dtype=dtype)
            total += count * best_seconds(lambda: torch.matmul(a, b, out=out), reps=7)
    return total


def training_step(model: VAE, x: torch.Tensor, opt: torch.optim.Optimizer, bf16: bool):
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(x, beta=0.5, free_bits=4.0).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def random_windows(cfg: ModelConfig, batch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    onset = (torch.rand(batch, cfg.n_steps, cfg.n_tracks, 1, cfg.n_pitches, generator=g) < 0.03)
    sustain = onset | (torch.rand(onset.shape, generator=g) < 0.05)
    x = torch.cat([onset, sustain], dim=3).float()  # (B, T, K, 2, P)
    return x.reshape(batch, cfg.n_steps, cfg.cells)  # (B, T, K, 2, P) -> (B, T, D)


def bench_training(name: str, cfg: ModelConfig, batch: int, min_time: float,
                   rounds: int = 3, bf16: bool = False) -> dict:
    """Time training steps and the matmul bound in alternating rounds, so that both see
    the same machine load; each is the best over the rounds."""
    torch.manual_seed(0)
    model = VAE(cfg).train()
    x = random_windows(cfg, batch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)  # as midivae.run.train uses
    step = training_step(model, x, opt, bf16)
    gemms = forward_gemms(cfg, batch)
    steps, bounds = [], []
    for r in range(rounds):
        steps.append(best_seconds(step, warmup=2 if r == 0 else 0, reps=2,
                                  min_time=min_time / rounds))
        bounds.append(matmul_seconds(gemms, torch.bfloat16 if bf16 else torch.float32))
    seconds, bound, model_flops = min(steps), min(bounds), training_flops(gemms)
    return {"name": name + (" bf16" if bf16 else ""), "decoder": cfg.decoder, "batch": batch,
            "step_ms": 1e3 * seconds, "windows_s": batch / seconds,
            "model_gflops": model_flops / seconds / 1e9,
            "matmul_gflops": model_flops / bound / 1e9, "ratio": bound / seconds}


def check_flop_formula(cfg: ModelConfig, batch: int) -> tuple[int, int]:
    """Analytic training FLOPs vs FlopCounterMode. The counter cannot see inside oneDNN's
    fused LSTM kernels (hence the formula), so oneDNN is off while it counts: LSTMs then
    run as the plain matmuls the formula lists."""
    model = VAE(cfg)
    x = random_windows(cfg, batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "TF32 acceleration on top of oneDNN ..."
        with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
            model.loss(x).loss.backward()
    return training_flops(forward_gemms(cfg, batch)), counter.get_total_flops()


SAMPLING_BOUND_S = 0.100  # a generous bound on the categorical hierarchical latency (goal 50 ms)


def bench_sampling(cfg: ModelConfig, batch: int, reps: int) -> float:
    torch.manual_seed(0)
    model = VAE(cfg).eval()
    return best_seconds(lambda: model.sample(batch, temperature=1.0, seed=0), warmup=1,
                        reps=reps)


# -- the run -----------------------------------------------------------------------
TRAIN_CASES = [  # (preset, batch size): the preset's own batch, and a larger one
    ("flat-2bar-cpu", 256), ("flat-2bar-cpu", 1024),
    ("recurrent-2bar-cpu", 64), ("recurrent-2bar-cpu", 256),
    ("hierarchical-4bar-cpu", 64), ("hierarchical-4bar-cpu", 256),
    ("hierarchical-16bar-4track-cpu", 32), ("hierarchical-16bar-4track-cpu", 128),
]


def print_table(rows: list[dict]) -> None:
    print(f"{'preset':34} {'decoder':13} {'batch':>5} {'step ms':>9} {'windows/s':>10} "
          f"{'model GF/s':>10} {'matmul GF/s':>11} {'ratio':>6}")
    for r in rows:
        print(f"{r['name']:34} {r['decoder']:13} {r['batch']:5d} {r['step_ms']:9.1f} "
              f"{r['windows_s']:10.1f} {r['model_gflops']:10.1f} {r['matmul_gflops']:11.1f} "
              f"{r['ratio']:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--quick", action="store_true", help="fewer cases, shorter timings")
    parser.add_argument("--bf16", action="store_true",
                        help="also time bf16 autocast training (against a bf16 matmul bound)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    min_time = 0.5 if args.quick else 3.0
    cases = TRAIN_CASES[::2] if args.quick else TRAIN_CASES
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs\n")

    print("FLOP formula check, one training step at batch 8 (GFLOP):")
    for name in ("flat-2bar-cpu", "recurrent-2bar-cpu", "hierarchical-4bar-cpu"):
        analytic, counted = check_flop_formula(PRESETS[name].model, 8)
        print(f"  {name:24} analytic {analytic / 1e9:8.4f}   FlopCounterMode {counted / 1e9:8.4f}")
    print()

    print("Training (forward + backward + Adam), float32; ratio = model FLOP/s / matmul FLOP/s "
          "at the same GEMM sizes")
    rows = [bench_training(name, PRESETS[name].model, batch, min_time) for name, batch in cases]
    if args.bf16:
        rows += [bench_training(name, PRESETS[name].model, batch, min_time, bf16=True)
                 for name, batch in cases]
    print_table(rows)

    base = PRESETS["hierarchical-16bar-4track-cpu"].model  # 16 bars x 16 steps, 4 tracks
    print(f"\nSampling one 16-bar, 4-track window (T={base.n_steps}, D={base.cells}), "
          "temperature 1")
    print(f"{'decoder':13} {'output':12} {'batch 1 latency ms':>19} {'batch 256 windows/s':>20}")
    latencies = {}
    for output in ("made", "categorical"):
        for decoder in ("flat", "recurrent", "hierarchical"):
            cfg = dataclasses.replace(base, decoder=decoder, output=output)
            latency = bench_sampling(cfg, 1, reps=3 if args.quick else 7)
            big = bench_sampling(cfg, 16 if args.quick else 256, reps=1 if args.quick else 2)
            latencies[decoder, output] = latency
            print(f"{decoder:13} {output:12} {1e3 * latency:19.1f} "
                  f"{(16 if args.quick else 256) / big:20.1f}")
    if latencies["hierarchical", "categorical"] > SAMPLING_BOUND_S:
        raise SystemExit(f"sampling took {1e3 * latencies['hierarchical', 'categorical']:.0f} ms "
                         f"at batch 1, over the bound of {1e3 * SAMPLING_BOUND_S:.0f} ms")


if __name__ == "__main__":
    main()
