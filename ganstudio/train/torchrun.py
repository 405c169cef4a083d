"""The torchrun entry point: train one FinetuneConfig over several processes (see ``distributed``).

    torchrun --nproc_per_node 8 -m ganstudio.train.torchrun \\
        --config run/config.json --data run/data.npz --workdir run/

Kept apart from ``distributed`` so that the loop can use the process-group helpers and this entry
point can use the loop, without either importing the other.
"""

from __future__ import annotations

import argparse
import sys

import torch.distributed as dist

from ganstudio.train import distributed
from ganstudio.train.config import FinetuneConfig
from ganstudio.train.loop import train
from ganstudio.train.uploads import load_training_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torchrun ... -m ganstudio.train.torchrun", description=distributed.__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a FinetuneConfig as JSON (config.json of a job or bundle run)")
    parser.add_argument("--data", required=True, help="the training set as .npz (data.npz of a job)")
    parser.add_argument("--workdir", required=True, help="checkpoints, samples and the exported model")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                        help="default: this process's GPU (LOCAL_RANK) when there are GPUs, else the CPU")
    args = parser.parse_args(argv)

    context, device = distributed.setup(args.device)
    config = FinetuneConfig.load(args.config)
    if config.batch_size % context.world_size:
        print(f"error: batch size {config.batch_size} does not split over {context.world_size} processes", file=sys.stderr)
        return 2

    def report(step: int, total: int, losses: dict, samples) -> None:
        if step % max(1, total // 20) == 0 or step == total:
            print(f"step {step}/{total} " + " ".join(f"{k}={v:.3f}" for k, v in losses.items()), flush=True)

    result = train(config, load_training_set(args.data), args.workdir, on_progress=report if context.is_main else None,
                   device=device)
    if context.is_main:
        print(f"done: {result.step} steps on {context.world_size} process(es) ({device.type}, "
              f"{distributed.backend_for(device) if context.distributed else 'no process group'}), {result.wall_time_s:.1f} s -> "
              + ", ".join(str(path) for path in result.files.values()), flush=True)
    distributed.barrier()
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
