"""Token priors: turn a trained tokenizer into a generator, to measure how diverse its samples are.

The paper's claim 2: a generator trained on the tokens of an early-quantized tokenizer (shrunken codebook)
produces less diverse samples than one trained on a deferred-quantization tokenizer. This module gives
the pieces for that comparison, one small prior per tokenizer:

- :func:`tokenize`: token maps [N, h, w] of a trained image tokenizer (:class:`~vqlib.models.ConvVQVAE`);
- :class:`TokenPrior`: a small causal (GPT-style, pre-LayerNorm) transformer over the raster-order
  flattened token map, with a learned start token;
- :func:`train_prior` / :func:`cached_prior`: train it (AdamW, next-token cross-entropy in nats/token),
  deterministic for a seed, cached on disk;
- :func:`sample`: seeded autoregressive sampling with temperature and top-k; decode the maps with
  ``model.decode_indices``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import cache as store
from . import paths
from .quantize import nearest_code

__all__ = ["tokenize", "TokenPrior", "PriorSpec", "train_prior", "prior_loss", "sample", "cached_prior",
           "prior_payload"]


# -- tokens -------------------------------------------------------------------------------------------------
@torch.no_grad()
def tokenize(model, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Token maps of a trained image tokenizer: LongTensor [N, h, w] of code indices.

    Runs the encoder in evaluation mode without gradients, ``batch_size`` images at a time; each latent
    position's vector goes to its nearest code exactly as in the model's forward pass (same lookup space,
    same codebook), and the per-row indices are reshaped with the encoder's latent grid [h, w]. The model's
    training/evaluation mode is restored afterwards.
    """
    images = torch.as_tensor(images)
    if images.ndim != 4 or images.shape[0] < 1:
        raise ValueError(f"tokenize needs images [N, C, H, W] with N >= 1, got shape {tuple(images.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    vq = model.quantizer
    if not vq.active:
        raise ValueError("the tokenizer's quantizer is inactive (continuous phase): there are no tokens yet")
    was_training = model.training
    model.eval()
    try:
        codebook = vq.codes()
        maps = []
        for start in range(0, images.shape[0], batch_size):
            z = model.encode(images[start:start + batch_size])
            if z.ndim != 4:
                raise ValueError(f"tokenize needs an encoder with a spatial latent grid [B, d, h, w], got "
                                 f"{tuple(z.shape)}")
            b, _, h, w = z.shape
            indices, _ = nearest_code(vq.embed(model.vectors(z)), codebook, vq.chunk_size)
            maps.append(indices.reshape(b, h, w))
    finally:
        model.train(was_training)
    return torch.cat(maps)


def _check_tokens(tokens: torch.Tensor, num_codes: int, name: str = "tokens") -> torch.Tensor:
    tokens = torch.as_tensor(tokens)
    if tokens.dtype.is_floating_point or tokens.dtype == torch.bool or tokens.is_complex():
        raise ValueError(f"{name} must be an integer tensor of code indices, got dtype {tokens.dtype}")
    if tokens.ndim != 3 or tokens.shape[0] < 1:
        raise ValueError(f"{name} must be token maps [N, h, w] with N >= 1, got shape {tuple(tokens.shape)}")
    if int(num_codes) != num_codes or num_codes < 1:
        raise ValueError(f"num_codes must be an integer >= 1, got {num_codes!r}")
    tokens = tokens.long()
    if int(tokens.min()) < 0 or int(tokens.max()) >= num_codes:
        raise ValueError(f"{name} must lie in [0, num_codes={num_codes}), got range [{int(tokens.min())}, "
                         f"{int(tokens.max())}]")
    return tokens


# -- the prior ----------------------------------------------------------------------------------------------
class _Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        """Causal self-attention over x [B, T, d]; with ``cache`` (a dict holding this block's past keys
        and values, updated in place) x is the next position(s) and attends to every cached one."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in (q, k, v))
        if cache is not None:
            if "k" in cache:
                if t != 1:
                    raise ValueError("a key/value cache extends one position at a time")
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        # Several positions at once (training, or the first cached call): causal mask. One new query
        # attending to all cached positions needs no mask.
        attn = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                              is_causal=t > 1)
        x = x + self.drop(self.proj(attn.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.ln2(x)))


class TokenPrior(nn.Module):
    """Causal transformer over flattened token maps (raster order), GPT-style with pre-LayerNorm blocks.

    Input sequence: a learned start token (index ``num_codes``) followed by tokens 0..L-2, plus learned
    positional embeddings; output: ``num_codes`` logits per position, where position t predicts token t
    from the start token and tokens < t (causal attention, ``is_causal=True``).
    """

    def __init__(self, num_codes: int, seq_len: int, dim: int = 128, depth: int = 4, heads: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        for name, value in (("num_codes", num_codes), ("seq_len", seq_len), ("dim", dim), ("depth", depth),
                            ("heads", heads)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.num_codes = int(num_codes)
        self.seq_len = int(seq_len)
        self.start_token = self.num_codes
        self.token_embedding = nn.Embedding(self.num_codes + 1, dim)
        self.position_embedding = nn.Parameter(torch.zeros(1, self.seq_len, dim))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(dim, heads, dropout) for _ in range(depth))
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, self.num_codes)
        self.apply(self._init_weights)
        nn.init.normal_(self.position_embedding, std=0.02)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def next_token_logits(self, prefix: torch.Tensor) -> torch.Tensor:
        """Logits [B, t+1, num_codes] for the sequence (start, prefix_0..prefix_{t-1}); the last position
        predicts the token after ``prefix`` [B, t] (t may be 0)."""
        b, t = prefix.shape
        if t >= self.seq_len:
            raise ValueError(f"prefix length must be < seq_len={self.seq_len}, got {t}")
        start = torch.full((b, 1), self.start_token, dtype=torch.long, device=prefix.device)
        inputs = torch.cat([start, prefix.long()], dim=1)
        x = self.drop(self.token_embedding(inputs) + self.position_embedding[:, :t + 1])
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def decode_step(self, inputs: torch.Tensor, position: int, caches: list[dict]) -> torch.Tensor:
        """Incremental decoding: ``inputs`` [B] holds the sequence element at ``position`` (the start token
        at position 0, token position-1 after that); returns the logits [B, num_codes] for token
        ``position``. ``caches`` is one dict per block (start with ``[{} for _ in prior.blocks]``), holding
        past keys and values, so each step costs one position instead of the whole prefix."""
        if not 0 <= position < self.seq_len:
            raise ValueError(f"position must lie in [0, seq_len={self.seq_len}), got {position}")
        x = self.token_embedding(inputs.long()[:, None]) + self.position_embedding[:, position:position + 1]
        x = self.drop(x)
        for block, cache in zip(self.blocks, caches, strict=True):
            x = block(x, cache)
        return self.head(self.ln_f(x))[:, 0]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, L] (L <= seq_len) -> logits [B, L, num_codes]; position t predicts tokens[:, t]."""
        if tokens.ndim != 2 or not 1 <= tokens.shape[1] <= self.seq_len:
            raise ValueError(f"TokenPrior expects tokens [B, L] with 1 <= L <= seq_len={self.seq_len}, got "
                             f"{tuple(tokens.shape)}")
        return self.next_token_logits(tokens[:, :-1])


def prior_loss(prior: TokenPrior, tokens: torch.Tensor, batch_size: int = 512) -> float:
    """Mean next-token cross-entropy in nats/token of ``prior`` on token maps [N, h, w] (evaluation mode,
    no gradients): -(1 / (N L)) sum_i sum_t log p(token_{i,t} | start, token_{i,<t})."""
    tokens = _check_tokens(tokens, prior.num_codes)
    flat = tokens.flatten(1)
    was_training = prior.training
    prior.eval()
    total = 0.0
    try:
        with torch.no_grad():
            for start in range(0, flat.shape[0], batch_size):
                batch = flat[start:start + batch_size]
                logits = prior(batch)
                total += float(F.cross_entropy(logits.reshape(-1, prior.num_codes), batch.reshape(-1),
                                               reduction="sum"))
    finally:
        prior.train(was_training)
    return total / flat.numel()


# -- training -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PriorSpec:
    """How to train one :class:`TokenPrior`: AdamW (weight decay on matrices and embeddings only), constant
    learning rate, ``batch_size`` token maps per step; a history row every ``eval_every`` steps."""

    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-4
    dim: int = 128
    depth: int = 4
    heads: int = 4
    weight_decay: float = 0.01
    eval_every: int = 500
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("steps", "batch_size", "dim", "depth", "heads", "eval_every"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.dim % self.heads:
            raise ValueError(f"dim must be divisible by heads, got dim={self.dim}, heads={self.heads}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")


def train_prior(tokens: torch.Tensor, num_codes: int, spec: PriorSpec = PriorSpec(), seed: int = 0,
                progress: bool | None = None, val_tokens: torch.Tensor | None = None,
                description: str = "prior") -> tuple[TokenPrior, pd.DataFrame]:
    """Train a :class:`TokenPrior` on token maps [N, h, w]; returns (prior in evaluation mode, history).

    Loss: next-token cross-entropy in nats/token (log(num_codes) for a uniform guess). History: one row
    every ``spec.eval_every`` steps and at the end, with ``step`` (optimizer steps done), ``train_loss``
    (mean training loss over the steps since the previous row), ``val_loss`` (on ``val_tokens``, when
    given) and ``wall_time``. Deterministic for a seed: the weights and the batches are drawn from ``seed``
    (the weights in a fork of the global random state, which is left as it was). With ``spec.dropout > 0``
    dropout draws from the global generator.
    """
    if not isinstance(spec, PriorSpec):
        raise TypeError(f"spec must be a PriorSpec, got {type(spec).__name__}")
    tokens = _check_tokens(tokens, num_codes)
    if val_tokens is not None:
        val_tokens = _check_tokens(val_tokens, num_codes, "val_tokens")
        if val_tokens.shape[1:] != tokens.shape[1:]:
            raise ValueError(f"val_tokens maps must have the shape of tokens maps {tuple(tokens.shape[1:])}, "
                             f"got {tuple(val_tokens.shape[1:])}")
    flat = tokens.flatten(1)
    n, seq_len = flat.shape
    batch_gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded weights, global random state left as it was
        torch.manual_seed(seed)
        prior = TokenPrior(num_codes, seq_len, dim=spec.dim, depth=spec.depth, heads=spec.heads,
                           dropout=spec.dropout)
    decay = [p for p in prior.parameters() if p.ndim >= 2]
    no_decay = [p for p in prior.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": spec.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=spec.lr, fused=True)
    history: list[dict[str, float]] = []
    start_time = time.perf_counter()
    interval_sum, interval_steps = 0.0, 0
    prior.train()
    bar = tqdm(range(1, spec.steps + 1), desc=description, leave=False, disable=not paths.progress_enabled(progress),
               mininterval=1.0)
    for step in bar:
        batch = flat[torch.randint(0, n, (min(spec.batch_size, n),), generator=batch_gen)]
        logits = prior(batch)
        loss = F.cross_entropy(logits.reshape(-1, num_codes), batch.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        interval_sum += float(loss.detach())
        interval_steps += 1
        if step % spec.eval_every == 0 or step == spec.steps:
            row = {"step": step, "train_loss": interval_sum / interval_steps}
            if val_tokens is not None:
                row["val_loss"] = prior_loss(prior, val_tokens)
            row["wall_time"] = time.perf_counter() - start_time
            history.append(row)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}")
            interval_sum, interval_steps = 0.0, 0
    return prior.eval(), pd.DataFrame(history)


# -- sampling -----------------------------------------------------------------------------------------------
@torch.no_grad()
def sample(prior: TokenPrior, num_samples: int, grid: tuple[int, int] | None = None, temperature: float = 1.0,
           top_k: int | None = None, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
    """Draw ``num_samples`` token maps [num_samples, h, w] autoregressively in raster order.

    At each position t: logits / temperature, keep only the ``top_k`` largest (None keeps all; 1 is
    greedy), then draw from the softmax with a generator seeded by ``seed`` (deterministic for a seed and
    batch_size). ``grid`` = (h, w) with h * w = prior.seq_len; None means a square grid. Decoding keeps a
    key/value cache (:meth:`TokenPrior.decode_step`), so each position costs one transformer step.
    """
    if int(num_samples) != num_samples or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if top_k is not None and (int(top_k) != top_k or not 1 <= top_k <= prior.num_codes):
        raise ValueError(f"top_k must be None or an integer in [1, num_codes={prior.num_codes}], got {top_k!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if grid is None:
        side = math.isqrt(prior.seq_len)
        if side * side != prior.seq_len:
            raise ValueError(f"seq_len={prior.seq_len} is not a square: pass grid=(h, w)")
        grid = (side, side)
    h, w = (int(g) for g in grid)
    if h * w != prior.seq_len:
        raise ValueError(f"grid {grid} has {h * w} positions but the prior models seq_len={prior.seq_len}")
    gen = torch.Generator().manual_seed(seed)
    was_training = prior.training
    prior.eval()
    device = next(prior.parameters()).device
    maps = []
    try:
        for start in range(0, num_samples, batch_size):
            b = min(batch_size, num_samples - start)
            out = torch.empty(b, 0, dtype=torch.long, device=device)
            caches: list[dict] = [{} for _ in prior.blocks]
            inputs = torch.full((b,), prior.start_token, dtype=torch.long, device=device)
            for position in range(prior.seq_len):
                logits = prior.decode_step(inputs, position, caches).float().cpu()
                if top_k == 1:
                    nxt = logits.argmax(-1, keepdim=True)
                else:
                    logits = logits / temperature
                    if top_k is not None and top_k < prior.num_codes:
                        keep = logits.topk(top_k, dim=-1).indices
                        masked = torch.full_like(logits, float("-inf"))
                        logits = masked.scatter(-1, keep, logits.gather(-1, keep))
                    nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)
                nxt = nxt.to(device)
                out = torch.cat([out, nxt], dim=1)
                inputs = nxt[:, 0]
            maps.append(out.reshape(b, h, w).cpu())
    finally:
        prior.train(was_training)
    return torch.cat(maps)


# -- cache --------------------------------------------------------------------------------------------------
def prior_payload(tokenizer: str, tokens: torch.Tensor, num_codes: int, spec: PriorSpec, seed: int = 0,
                  val_tokens: torch.Tensor | None = None) -> dict:
    """What a trained prior depends on: the tokenizer (its run key), the content of the training (and
    validation) tokens, the spec with every field, the seed and the vocabulary size."""
    return {"tokenizer": str(tokenizer), "tokens": store.digest(tokens.long()),
            "val_tokens": None if val_tokens is None else store.digest(val_tokens.long()),
            "spec": store.spec_payload(spec), "seed": int(seed), "num_codes": int(num_codes)}


def cached_prior(tokenizer: str, tokens: torch.Tensor, num_codes: int, spec: PriorSpec = PriorSpec(),
                 seed: int = 0, progress: bool | None = None, val_tokens: torch.Tensor | None = None,
                 force: bool | None = None, cache: bool = True) -> tuple[TokenPrior, pd.DataFrame, bool]:
    """:func:`train_prior`, or its stored result: returns (prior in evaluation mode, history, cached).

    ``tokenizer`` names the tokenizer whose tokens these are (its run key, ``RunResult.key``). Entries live in
    :mod:`vqlib.cache` (kind "prior", payload :func:`prior_payload`); ``cache=False`` neither reads nor writes
    it; ``force=True`` (or VQLIB_FORCE=1) retrains and overwrites.
    """
    if not isinstance(spec, PriorSpec):
        raise TypeError(f"spec must be a PriorSpec, got {type(spec).__name__}")
    tokens = _check_tokens(tokens, num_codes)
    payload = prior_payload(tokenizer, tokens, num_codes, spec, seed, val_tokens)

    def compute() -> dict:
        prior, history = train_prior(tokens, num_codes, spec, seed=seed, progress=progress, val_tokens=val_tokens)
        return {"state_dict": {k: v.detach().clone() for k, v in prior.state_dict().items()},
                "history": history.to_dict("list"), "seq_len": prior.seq_len}

    stored, hit = store.cached("prior", payload, compute, force=force, enabled=cache)
    prior = TokenPrior(num_codes, stored["seq_len"], dim=spec.dim, depth=spec.depth, heads=spec.heads,
                       dropout=spec.dropout)
    prior.load_state_dict(stored["state_dict"])
    return prior.eval(), pd.DataFrame(stored["history"]), hit
