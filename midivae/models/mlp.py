"""The one multilayer perceptron the models build: ReLU hidden layers, then an optional
linear output. The MLP encoder, the bar-wise encoder, the flat decoder and the MLP bar
decoder all use it; its modules are numbered as one ``nn.Sequential`` so that the weights'
names in a checkpoint are ``net.0.weight``, ``net.2.weight``, ...
"""

from __future__ import annotations

from torch import nn


def relu_mlp(n_in: int, hidden: int, layers: int, n_out: int | None = None) -> nn.Sequential:
    """``layers`` hidden layers Linear(·, hidden) + ReLU from ``n_in`` inputs, then
    Linear(·, n_out) when ``n_out`` is given (else the output is the last hidden layer's)."""
    modules: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    if n_out is not None:
        modules.append(nn.Linear(width, n_out))
    return nn.Sequential(*modules)
