"""The recurrent decoder: an autoregressive LSTM over steps, conditioned on z.

z enters twice (MusicVAE, Roberts et al. 2018): through the LSTM's initial
state, tanh(W z + b), and joined to the input at every step. The input at step
t is the window at step t - 1 (zeros at t = 0): the true one under teacher
forcing, the decoder's own sample when free-running or, with probability
``sampling_prob``, under scheduled sampling (Bengio et al. 2015).
Each step's LSTM output is the context of the output head, which gives the
step's cells (independent, ordered within the step, or categorical: `midivae.models.heads`).
`StepLSTM` is that machinery over any number of steps; the hierarchical
decoder reuses it for each bar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from midivae.models.config import ModelConfig
from midivae.models.decoder import Decoder
from midivae.models.heads import build_output

State = tuple[torch.Tensor, torch.Tensor]


def initial_state(proj: nn.Linear, c: torch.Tensor, layers: int, hidden: int) -> State:
    """LSTM state (h0, c0), each (layers, N, hidden), as tanh(proj(c)) (MusicVAE).

    ``proj`` maps (N, C) to (N, 2 * layers * hidden).
    """
    n = c.shape[0]
    s = torch.tanh(proj(c)).view(n, 2, layers, hidden).permute(1, 2, 0, 3)  # (2, L, N, H)
    return s[0].contiguous(), s[1].contiguous()


class StepLSTM(nn.Module):
    """An LSTM decoder of S steps of D cells, conditioned on a vector c of size C.

    The LSTM's output at each step is mapped to the context of an output head
    (`midivae.models.heads`), which gives the step's cells.

    Parameters
    ----------
    head : OutputHead
        The output over one step's D cells.
    cells : int
        D, cells per step.
    cond_dim : int
        C, size of the conditioning vector.
    hidden, layers : int
        LSTM units and stacked layers.
    period : int
        When > 0, each step's input also holds a one-hot of the step's place in
        the bar, t mod ``period`` (the steps per bar): the decoder then knows
        where the beats are instead of counting steps.
    """

    def __init__(self, head: nn.Module, cells: int, cond_dim: int, hidden: int, layers: int,
                 period: int = 0):
        super().__init__()
        self.hidden, self.layers, self.cells, self.period = hidden, layers, cells, period
        self.init = nn.Linear(cond_dim, 2 * layers * hidden)
        self.lstm = nn.LSTM(cells + cond_dim + period, hidden, num_layers=layers,
                            batch_first=True)
        self.out = nn.Linear(hidden, head.context_size)
        self.head = head

    def teacher_forced(self, x: torch.Tensor, c: torch.Tensor,
                       first: torch.Tensor | None = None, *, input_dropout: float = 0.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Head logits (N, S, L) of x (N, S, D) given c (N, C), reading the true past steps.

        ``first`` (N, D) is the input at step 0, the step before x (zeros when None).
        With ``input_dropout`` p, each input step is zeros with probability p
        (the head still reads the true x).
        """
        n, s, _ = x.shape
        first = x.new_zeros(n, 1, x.shape[2]) if first is None else first[:, None]
        prev = torch.cat([first, x[:, :-1]], dim=1)  # (N, S, D): step t holds x[t - 1]
        if input_dropout > 0:
            keep = torch.rand(n, s, 1, generator=generator, device=x.device) >= input_dropout
            prev = prev * keep
        inputs = [prev, c[:, None].expand(n, s, -1)]
        if self.period:
            place = torch.arange(s, device=x.device) % self.period  # (S,)
            inputs.append(F.one_hot(place, self.period).to(x.dtype).expand(n, s, -1))
        inputs = torch.cat(inputs, dim=-1)  # (N, S, D + C [+ period])
        out, _ = self.lstm(inputs, initial_state(self.init, c, self.layers, self.hidden))
        return self.head.logits(self.out(out), x)  # (N, S, H) -> (N, S, context) -> (N, S, L)

    def _stepper(self, c: torch.Tensor):
        """One LSTM step as a function, and the state it starts from (the LSTM's, from c).

        ``step(prev (N, D), state, t) -> (output (N, H), state)`` reads the
        input [prev, c] (and step t's place in the bar when ``period``). With
        one layer it writes out the LSTM's equations (torch's gate order i, f,
        g, o) with c's share of the input projection computed once: a one-step
        `nn.LSTM` call costs ~5x more at batch 1.
        """
        state = initial_state(self.init, c, self.layers, self.hidden)
        n, p = c.shape[0], self.period
        if self.layers > 1:
            def step(prev, state, t):
                inputs = [prev, c]
                if p:
                    inputs.append(F.one_hot(torch.full((n,), t % p, device=c.device), p)
                                  .to(c.dtype))
                out, state = self.lstm(torch.cat(inputs, dim=-1)[:, None], state)
                return out[:, 0], state  # (N, 1, H) -> (N, H)
            return step, state
        lstm, d, cd = self.lstm, self.cells, c.shape[1]
        w_prev, w_c = lstm.weight_ih_l0[:, :d], lstm.weight_ih_l0[:, d:d + cd]  # (4H, D), (4H, C)
        w_place = lstm.weight_ih_l0[:, d + cd:].T  # (period, 4H): a place's column
        base = torch.addmm(lstm.bias_ih_l0 + lstm.bias_hh_l0, c, w_c.T)  # (N, 4H)

        def step(prev, state, t):
            h, cell = state  # (N, H) each
            start = base + w_place[t % p] if p else base
            gates = torch.addmm(torch.addmm(start, prev, w_prev.T), h, lstm.weight_hh_l0.T)
            i, f, g, o = gates.chunk(4, dim=-1)  # (N, H) each
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(cell)
            return h, (h, cell)
        return step, (state[0][0], state[1][0])  # (1, N, H) -> (N, H)

    def step_by_step(self, c: torch.Tensor, n_steps: int, *, temperature: float = 1.0,
                     generator: torch.Generator | None = None, x: torch.Tensor | None = None,
                     sampling_prob: float = 1.0,
                     first: torch.Tensor | None = None, held: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Run one step at a time, feeding back samples.

        Without ``x`` this free-runs: each step's draw (at ``temperature``) is
        the next input. With ``x`` (N, S, D) it is scheduled sampling: each
        window's next input is its own draw with probability ``sampling_prob``,
        else the true step of x; each step's logits read x's earlier cells of
        that step. ``first`` (N, D) is the input at step 0 (zeros when None). ``held``
        (N, S, D), optional: notes kept sounding in each draw (`OutputHead.hold`).

        Returns
        -------
        logits : Tensor, shape (N, S, L), or None when free-running
        cells : Tensor, shape (N, S, D), the steps drawn (free-running) or fed
            (scheduled sampling: each a draw or the true step)
        """
        n, d = c.shape[0], self.cells
        step, state = self._stepper(c)
        prev = c.new_zeros(n, d) if first is None else first
        logits, cells = [], c.new_empty(n, n_steps, d)
        for t in range(n_steps):
            out, state = step(prev, state, t)  # (N, H)
            context = self.out(out)  # (N, context)
            draw = self.head.sample(context.detach(), temperature, generator, prev)
            if held is not None:
                draw = self.head.hold(draw, held[:, t])
            if x is not None:
                own = torch.rand(n, 1, generator=generator, device=c.device) < sampling_prob
                draw = torch.where(own, draw, x[:, t])
                logits.append(self.head.logits(context, x[:, t]))
            cells[:, t] = prev = draw
        return (torch.stack(logits, dim=1) if logits else None), cells


class RecurrentDecoder(Decoder, name="recurrent"):
    """An autoregressive LSTM over all T steps of the window.

    Uses ``decoder_hidden`` (H), ``decoder_layers``, and z of size
    Zc = ``latent + condition_dim``.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.rnn = StepLSTM(build_output(cfg), cfg.cells, cfg.latent + cfg.condition_dim,
                            cfg.decoder_hidden, cfg.decoder_layers,
                            cfg.steps_per_bar if cfg.place_input else 0)

    @property
    def head(self):
        return self.rnn.head

    def logits(self, x, z, *, sampling_prob=0.0, input_dropout=0.0, generator=None):
        if sampling_prob > 0:
            return self.rnn.step_by_step(z, self.n_steps, x=x, sampling_prob=sampling_prob,
                                         generator=generator)[0]
        return self.rnn.teacher_forced(x, z, input_dropout=input_dropout, generator=generator)

    def sample(self, z, *, temperature=1.0, generator=None):
        return self.rnn.step_by_step(z, self.n_steps, temperature=temperature,
                                     generator=generator)[1]
