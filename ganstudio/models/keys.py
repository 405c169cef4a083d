"""Key repairs that several architectures apply to the state dicts they are given.

Official files and retrainings differ in small, known ways: DataParallel and ``torch.compile``
prefixes, InstanceNorm statistics kept by PyTorch < 0.4, BatchNorm counts missing before 0.4.
Each architecture's ``normalize_keys`` picks the repairs its family needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def strip_prefixes(state_dict: Mapping[str, torch.Tensor], prefixes: tuple[str, ...] = ("module.", "_orig_mod.")):
    """Remove DataParallel/DDP (``module.``) and ``torch.compile`` (``_orig_mod.``) prefixes wherever they appear."""
    pattern = re.compile(r"(^|\.)(" + "|".join(re.escape(p) for p in prefixes) + ")")
    result = {}
    for key, value in state_dict.items():
        new_key = key
        while True:
            stripped = pattern.sub(r"\1", new_key)
            if stripped == new_key:
                break
            new_key = stripped
        result[new_key] = value
    return result


NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def drop_unowned_norm_statistics(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop norm statistics of layers that have no weight.

    Those belong to an InstanceNorm (affine=False) saved by PyTorch < 0.4, which kept running
    statistics that today's InstanceNorm neither has nor uses; junyanz's
    ``__patch_instance_norm_state_dict`` pops them. A BatchNorm always has its weight, so its
    statistics stay.
    """
    layers_with_weight = {key.rsplit(".", 1)[0] for key in state_dict if key.endswith(".weight")}
    return {
        key: value for key, value in state_dict.items()
        if key.rpartition(".")[2] not in NORM_STATISTICS or key.rpartition(".")[0] in layers_with_weight
    }


def add_missing_batch_counts(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Give every BatchNorm a ``num_batches_tracked`` (0), as torch's own loader does for files from PyTorch < 0.4.

    Without it the strict key check would refuse those files; the count only matters with momentum=None.
    """
    import torch

    result = dict(state_dict)
    for key in state_dict:
        if key.endswith(".running_mean"):
            result.setdefault(key[: -len("running_mean")] + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
    return result
