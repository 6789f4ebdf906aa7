"""Sequence encoders: token sequences ``[B, T, F]`` with a validity mask -> unit embeddings ``[B, D]``.

Every encoder shares one contract, so any modality's tokens feed any encoder and the
training task never needs to know which network it trains:

``forward(x: float [B, T, F], mask: bool [B, T]) -> float [B, D]``, rows L2-normalized.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``h [B, T, C]`` over the valid steps of ``mask [B, T]``."""
    w = mask.unsqueeze(-1).to(h.dtype)
    return (h * w).sum(1) / w.sum(1).clamp_min(1.0)


class TokenInput(nn.Module):
    """Input normalization; optionally swaps a key-bucket id column for a learned embedding.

    Buckets are salted per tenant, so an encoder that embeds them is only valid for the salt
    it was trained with; by default (``bucket_column=None``) it sees timings and key classes.
    """

    def __init__(self, in_features: int, bucket_column: int | None = None, n_buckets: int = 64,
                 bucket_dim: int = 16) -> None:
        super().__init__()
        self.bucket_column, self.n_buckets = bucket_column, n_buckets
        dense = in_features - (bucket_column is not None)
        self.norm = nn.BatchNorm1d(dense)
        self.bucket = nn.Embedding(n_buckets, bucket_dim) if bucket_column is not None else None
        self.out_features = dense + (bucket_dim if self.bucket is not None else 0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.bucket is not None:
            c = self.bucket_column
            ids = x[..., c].long().clamp(0, self.n_buckets - 1)
            x = torch.cat([x[..., :c], x[..., c + 1:]], dim=-1)
        h = self.norm(x.transpose(1, 2)).transpose(1, 2)
        if self.bucket is not None:
            h = torch.cat([h, self.bucket(ids)], dim=-1)
        return h * mask.unsqueeze(-1)


class AttentionPool(nn.Module):
    """Learned attention pooling over valid time steps."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self.score(h).squeeze(-1).masked_fill(~mask, -1e4)
        return torch.einsum("bt,btc->bc", logits.softmax(-1), h)


class TypeNetEncoder(nn.Module):
    """TypeNet-style encoder (Acien et al. 2022): input BatchNorm, two LSTM layers, last state."""

    def __init__(self, in_features: int, hidden: int = 128, num_layers: int = 2,
                 dropout: float = 0.5, embedding_dim: int = 128, bucket_column: int | None = None) -> None:
        super().__init__()
        self.inp = TokenInput(in_features, bucket_column)
        self.lstm = nn.LSTM(self.inp.out_features, hidden, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, embedding_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.inp(x, mask)
        # A forward-only LSTM's output at the last valid step equals the packed-sequence state
        # (padding comes after it), and the padded call is ~4x faster than packing on a CPU.
        out, _ = self.lstm(x)
        last = (mask.sum(1) - 1).clamp_min(0)
        h = out[torch.arange(out.shape[0], device=out.device), last]
        return F.normalize(self.head(self.drop(h)), dim=-1)


class ConvTransformerEncoder(nn.Module):
    """Temporal convolutions for local rhythm, a light transformer for context, attention pooling."""

    def __init__(self, in_features: int, hidden: int = 128, conv_layers: int = 2,
                 kernel_size: int = 5, transformer_layers: int = 2, heads: int = 4,
                 dropout: float = 0.1, embedding_dim: int = 128, max_len: int = 512,
                 bucket_column: int | None = None) -> None:
        super().__init__()
        self.inp = TokenInput(in_features, bucket_column)
        convs: list[nn.Module] = []
        ch = self.inp.out_features
        for _ in range(conv_layers):
            convs += [nn.Conv1d(ch, hidden, kernel_size, padding=kernel_size // 2),
                      nn.BatchNorm1d(hidden), nn.GELU()]
            ch = hidden
        self.convs = nn.Sequential(*convs)
        self.register_buffer("pos", _sinusoid(max_len, hidden), persistent=False)
        layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout, batch_first=True,
                                           activation="gelu", norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, transformer_layers, enable_nested_tensor=False)
        self.pool = AttentionPool(hidden)
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, embedding_dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1).to(x.dtype)
        h = self.inp(x, mask).transpose(1, 2)
        for i in range(0, len(self.convs), 3):
            # Re-mask after every conv so padding never leaks into valid steps.
            h = self.convs[i + 2](self.convs[i + 1](self.convs[i](h))) * m
        h = h.transpose(1, 2) + self.pos[: h.shape[-1]]
        h = self.transformer(h, src_key_padding_mask=~mask)
        pooled = torch.cat([self.pool(h, mask), masked_mean(h, mask)], dim=-1)
        return F.normalize(self.head(pooled), dim=-1)


class BiGRUAttentionEncoder(nn.Module):
    """Bidirectional GRU with attention pooling: a light recurrent alternative."""

    def __init__(self, in_features: int, hidden: int = 128, num_layers: int = 2,
                 dropout: float = 0.2, embedding_dim: int = 128, bucket_column: int | None = None) -> None:
        super().__init__()
        self.inp = TokenInput(in_features, bucket_column)
        self.gru = nn.GRU(self.inp.out_features, hidden, num_layers=num_layers, batch_first=True,
                          bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.pool = AttentionPool(2 * hidden)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * hidden, embedding_dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.inp(x, mask)
        if torch.onnx.is_in_onnx_export():
            # The exported graph runs batches of equal-length, unpadded sequences
            # (biometrics.scorers.Encoder groups them so), where packing changes nothing.
            h, _ = self.gru(x)
        else:
            lengths = mask.sum(1).clamp_min(1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.gru(packed)
            h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        pooled = torch.cat([self.pool(h, mask), masked_mean(h, mask)], dim=-1)
        return F.normalize(self.head(pooled), dim=-1)


def _sinusoid(n: int, dim: int) -> torch.Tensor:
    pos = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    pe = torch.zeros(n, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe
