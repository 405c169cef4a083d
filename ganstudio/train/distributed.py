"""Data-parallel training over several processes, started by torchrun: NCCL on GPUs, Gloo on CPUs.

The entry point is ``ganstudio.train.torchrun``; this module holds the process-group helpers that
the training loop calls:

    torchrun --nproc_per_node 8 -m ganstudio.train.torchrun \\
        --config run/config.json --data run/data.npz --workdir run/

Every process holds a full copy of the networks, takes its share of each batch (the batch size in
the config is the global one) and, after every backward pass, averages its gradients with the
others (an all-reduce, as DistributedDataParallel does), so each optimiser step equals a
single-process step on the whole batch. A GAN step runs the same networks through several
forward passes (D on real and on fake images, G through D), which DDP's module wrapper handles
badly (one reduction per backward, each parameter ready once); averaging explicitly after each
backward, as StyleGAN2-ADA does, is exact and simple. Process 0 alone writes checkpoints,
samples and the exported model; every process resumes from the same checkpoint.

On a machine with GPUs each process trains on its own one (``cuda:LOCAL_RANK``) and the group uses
NCCL; without GPUs (or with ``--device cpu``) the processes train on CPUs over Gloo.

BatchNorm layers see their own process's share of the batch (as with DDP without SyncBatchNorm):
SyncBatchNorm would also run its all-reduce while process 0 alone renders samples, and hang there.
"""

from __future__ import annotations

import os
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


def device_for(requested: str = "auto") -> torch.device:
    """Where this process trains: a GPU when asked for or present ("auto"), else the CPU.

    Under torchrun each process takes the GPU of its LOCAL_RANK, so the processes of a node share out its GPUs.

    Raises:
        BackendError: "cuda" was asked for and PyTorch sees no GPU, or there are more processes than GPUs.
    """
    from ganstudio.errors import BackendError
    from ganstudio.runtime import torch_device

    if torch_device(requested) != "cuda":
        return torch.device("cpu")
    local_rank, count = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
    if local_rank >= count:
        # NCCL refuses two processes on one GPU
        raise BackendError(
            f"process LOCAL_RANK={local_rank} has no GPU of its own: this machine has {count}. Start at most {count} "
            f"process(es) per machine (torchrun --nproc_per_node {count}), or train on CPUs with --device cpu."
        )
    return torch.device("cuda", local_rank)


def backend_for(device: torch.device) -> str:
    """The collective backend for processes that train on ``device``: NCCL between GPUs, Gloo between CPUs."""
    return "nccl" if device.type == "cuda" else "gloo"


def setup(device: str = "auto") -> tuple[Context, torch.device]:
    """Join the process group torchrun describes in the environment (RANK, WORLD_SIZE, MASTER_ADDR...).

    Returns this process's context and the device it trains on.
    """
    place = device_for(device)
    if "RANK" in os.environ and not dist.is_initialized():
        if place.type == "cuda":
            torch.cuda.set_device(place)
        dist.init_process_group(backend=backend_for(place))
    return current(), place


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


def check_same_everywhere(value: int, what: str) -> None:
    """Stop every process with a clear message when the processes disagree on ``value`` (e.g. the resumed step).

    Raises:
        FinetuneConfigError: some process holds another value.
    """
    context = current()
    if not context.distributed:
        return
    values: list = [None] * context.world_size
    dist.all_gather_object(values, value)
    if len(set(values)) > 1:
        from ganstudio.train.config import FinetuneConfigError

        raise FinetuneConfigError(
            f"the processes disagree on the {what} ({', '.join(f'rank {r}: {v}' for r, v in enumerate(values))}): "
            "every machine must see the same --workdir (a shared folder, or a copy of checkpoint.pt)."
        )


def barrier() -> None:
    if current().distributed:
        dist.barrier()
