"""Verification learning task: train an encoder so that one user's sequences embed close together.

The task (what to learn, how to validate) is separate from the network (any encoder in
:mod:`biometrics.models.encoders`). Losses and miners come from pytorch-metric-learning;
validation embeds the held-out validation users and asks the data module to evaluate
them under its protocol, so ``val/eer`` always means "EER on users never trained on".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn


class VerificationTask(pl.LightningModule):
    """LightningModule wrapping an encoder, a metric-learning loss and an optional miner."""

    def __init__(self, encoder: nn.Module, loss: Callable[..., nn.Module],
                 optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None,
                 miner: nn.Module | None = None, num_classes: int = 0) -> None:
        super().__init__()
        # Only plain values go into the checkpoint's hyper-parameters, so checkpoints load with
        # torch's safe loader (resuming included); the factories stay plain attributes.
        self.save_hyperparameters(logger=False, ignore=["encoder", "miner", "loss", "optimizer", "scheduler"])
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.encoder = encoder
        self.loss_fn = _build_loss(loss, num_classes, _embedding_dim(encoder))
        self.miner = miner
        self._val_emb: list[torch.Tensor] = []
        self._val_idx: list[torch.Tensor] = []
        self.best_val_eer = float("inf")

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(x, mask)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        emb = self(batch["x"], batch["mask"])
        labels = batch["label"]
        pairs = self.miner(emb, labels) if self.miner is not None else None
        loss = self.loss_fn(emb, labels, pairs) if pairs is not None else self.loss_fn(emb, labels)
        self.log("train/loss", loss, prog_bar=True, batch_size=emb.shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._val_emb.append(self(batch["x"], batch["mask"]).detach())
        self._val_idx.append(batch["index"])

    def on_validation_epoch_end(self) -> None:
        if not self._val_emb:
            return
        emb, _ = gather_validation(torch.cat(self._val_emb), torch.cat(self._val_idx),
                                   self.all_gather, self.trainer.world_size)
        self._val_emb.clear()
        self._val_idx.clear()
        metrics = self.trainer.datamodule.evaluate_embeddings(emb, stage="val")
        val_eer = float(metrics["eer"])
        if not self.trainer.sanity_checking:
            self.best_val_eer = min(self.best_val_eer, val_eer)
        self.log("val/eer", val_eer, prog_bar=True)
        self.log("val/eer_best", self.best_val_eer if np.isfinite(self.best_val_eer) else val_eer)

    def configure_optimizers(self):
        opt = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return opt
        sched = self.scheduler_factory(optimizer=opt)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    @torch.no_grad()
    def embed(self, x: torch.Tensor, mask: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
        """Embeddings for padded arrays, in eval mode, batched."""
        was_training = self.training
        self.eval()
        out = [self(x[i:i + batch_size], mask[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        self.train(was_training)
        return torch.cat(out).cpu().numpy() if out else np.zeros((0, _embedding_dim(self.encoder)), np.float32)


def gather_validation(emb: torch.Tensor, idx: torch.Tensor, all_gather: Callable, world_size: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Every rank's validation embeddings, one per validation sequence, in index order.

    Under DDP each rank embedded a shard (``DistributedSampler`` pads the shards to one size
    by repeating sequences), so the shards are gathered and the repeats dropped: every rank
    then evaluates the whole validation set, the figure a single process would compute.
    """
    if world_size > 1:
        emb = all_gather(emb).reshape(-1, emb.shape[-1])
        idx = all_gather(idx).reshape(-1)
    idx_np = idx.cpu().numpy()
    unique, first = np.unique(idx_np, return_index=True)  # sorted, repeats dropped
    return emb.cpu().numpy()[first], unique


def _embedding_dim(encoder: nn.Module) -> int:
    return int(getattr(encoder, "embedding_dim", None) or _last_linear(encoder).out_features)


def _last_linear(module: nn.Module) -> nn.Linear:
    return [m for m in module.modules() if isinstance(m, nn.Linear)][-1]


def _build_loss(factory: Callable[..., nn.Module], num_classes: int, embedding_size: int) -> nn.Module:
    """Call the loss factory, passing class count and embedding size to losses that need them."""
    target = getattr(factory, "func", factory)
    params = inspect.signature(target).parameters
    kwargs = {k: v for k, v in (("num_classes", num_classes), ("embedding_size", embedding_size))
              if k in params}
    return factory(**kwargs)
