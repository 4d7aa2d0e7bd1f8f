"""The command line: ``python -m vqlib.diagnose --embeddings z.npy --codebook c.npy [--out report.png]``
(``.npy`` arrays or ``.pt`` files holding one tensor) prints the summary and writes the figure."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from .core import SAMPLE_SIZE, diagnose

__all__ = ["main"]


class _InputError(Exception):
    """A problem with the files given on the command line (reported without a traceback)."""


def _load_matrix(path: str, option: str) -> torch.Tensor:
    file = Path(path)
    if not file.is_file():
        raise _InputError(f"{option}: no such file {path!r}")
    suffix = file.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(file, allow_pickle=False)
            if not np.issubdtype(array.dtype, np.number):
                raise _InputError(f"{option}: {path} holds {array.dtype} values, not numbers")
            value = torch.from_numpy(np.asarray(array, dtype=np.float32))
        elif suffix in (".pt", ".pth"):
            value = torch.load(file, map_location="cpu", weights_only=True)
            if not isinstance(value, torch.Tensor):
                raise _InputError(f"{option}: {path} holds a {type(value).__name__}, not a tensor: save the tensor "
                                  f"itself, torch.save(tensor, {file.name!r})")
            if value.is_complex() or value.dtype == torch.bool:
                raise _InputError(f"{option}: {path} holds a {value.dtype} tensor, not real numbers")
            value = value.detach().float()
        else:
            raise _InputError(f"{option}: unknown file type {suffix or '(none)'!r} of {path}: use .npy "
                              f"(numpy.save) or .pt (torch.save of one tensor)")
    except _InputError:
        raise
    except Exception as error:  # numpy and torch raise many kinds for a truncated or foreign file
        raise _InputError(f"{option}: cannot read {path} ({type(error).__name__}: {error}); write it with "
                          f"numpy.save or torch.save") from error
    if value.ndim != 2:
        raise _InputError(f"{option}: {path} has shape {tuple(value.shape)}, expected a 2-D [rows, d] matrix: "
                          f"reshape it first, e.g. x.reshape(-1, x.shape[-1]) with the channels last")
    return value


def main(argv: list[str] | None = None) -> int:
    """``python -m vqlib.diagnose --embeddings z.npy --codebook c.npy [--out report.png]``; returns the exit
    status (0, or 2 with a message on stderr for bad input)."""
    parser = argparse.ArgumentParser(
        prog="python -m vqlib.diagnose",
        description="Diagnose a VQ codebook against the embeddings it quantizes: utilization, perplexity, "
                    "spread, shrinkage, effective rank, and a verdict (tokens collapse, embeddings collapse, "
                    "codebook shrinkage, or healthy).")
    parser.add_argument("--embeddings", required=True, help="encoder outputs [N, d] in the codebook's space "
                                                            "(.npy, or .pt holding one tensor)")
    parser.add_argument("--codebook", required=True, help="the codebook [K, d] (.npy or .pt)")
    parser.add_argument("--out", help="write the figure here (e.g. report.png or report.pdf)")
    parser.add_argument("--sample-size", type=int, default=SAMPLE_SIZE,
                        help=f"rows sampled for the Euclidean spread and the picture (default {SAMPLE_SIZE})")
    parser.add_argument("--seed", type=int, default=0, help="seed of that sample (default 0)")
    args = parser.parse_args(argv)
    try:
        embeddings = _load_matrix(args.embeddings, "--embeddings")
        codebook = _load_matrix(args.codebook, "--codebook")
        if embeddings.shape[1] != codebook.shape[1]:
            raise _InputError(f"the embeddings have width {embeddings.shape[1]} but the codes have width "
                              f"{codebook.shape[1]}: both must be in the space where the codes are looked up "
                              f"(after any projection)")
        report = diagnose(embeddings, codebook, sample_size=args.sample_size, seed=args.seed)
    except (_InputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    if args.out:
        try:
            report.plot(args.out)
        except (OSError, ValueError) as error:
            print(f"error: --out: cannot write the figure to {args.out} ({error})", file=sys.stderr)
            return 2
        print(f"figure written to {args.out}")
    return 0
