"""Data-parallel training over several processes, started by torchrun (Gloo).

    torchrun --nproc_per_node 8 -m ganstudio.train.distributed \\
        --config run/config.json --data run/data.npz --workdir run/

Every process holds a full copy of the networks, takes its share of each batch (the batch size in
the config is the global one) and, after every backward pass, averages its gradients with the
others (an all-reduce, as DistributedDataParallel does), so each optimiser step equals a
single-process step on the whole batch. A GAN step runs the same networks through several
forward passes (D on real and on fake images, G through D), which DDP's module wrapper handles
badly (one reduction per backward, each parameter ready once); averaging explicitly after each
backward, as StyleGAN2-ADA does, is exact and simple. Process 0 alone writes checkpoints,
samples and the exported model; every process resumes from the same checkpoint.

BatchNorm layers see their own process's share of the batch (as with DDP without SyncBatchNorm,
which PyTorch offers on GPUs only).

Training runs on CPUs for now: the trainers create their tensors on the CPU, so the process group
uses Gloo. Moving them to CUDA (and the group to NCCL) is the next step for multi-GPU runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current() -> Context:
    """The running process group's context (a single process when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Context()
    return Context(rank=dist.get_rank(), world_size=dist.get_world_size())


def setup() -> Context:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, MASTER_ADDR...)."""
    if "RANK" in os.environ and not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    return current()


def average_gradients(parameters) -> None:
    """Replace each gradient by its mean over the processes (one all-reduce for all of them)."""
    context = current()
    if not context.distributed:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= context.world_size
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset:offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def shard(batch: torch.Tensor) -> torch.Tensor:
    """This process's share of a global batch (every world_size-th item, from its rank)."""
    context = current()
    return batch[context.rank::context.world_size] if context.distributed else batch


def barrier() -> None:
    if current().distributed:
        dist.barrier()


def main(argv: list[str] | None = None) -> int:
    from ganstudio.train.config import FinetuneConfig
    from ganstudio.train.loop import train
    from ganstudio.train.uploads import load_training_set

    parser = argparse.ArgumentParser(prog="torchrun ... -m ganstudio.train.distributed", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a FinetuneConfig as JSON (config.json of a job or bundle run)")
    parser.add_argument("--data", required=True, help="the training set as .npz (data.npz of a job)")
    parser.add_argument("--workdir", required=True, help="checkpoints, samples and the exported model")
    args = parser.parse_args(argv)

    context = setup()
    config = FinetuneConfig.load(args.config)
    if config.batch_size % context.world_size:
        print(f"error: batch size {config.batch_size} does not split over {context.world_size} processes", file=sys.stderr)
        return 2

    def report(step: int, total: int, losses: dict, samples) -> None:
        if step % max(1, total // 20) == 0 or step == total:
            print(f"step {step}/{total} " + " ".join(f"{k}={v:.3f}" for k, v in losses.items()), flush=True)

    result = train(config, load_training_set(args.data), args.workdir, on_progress=report if context.is_main else None)
    if context.is_main:
        print(f"done: {result.step} steps on {context.world_size} process(es), {result.wall_time_s:.1f} s -> "
              + ", ".join(str(path) for path in result.files.values()), flush=True)
    barrier()
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
