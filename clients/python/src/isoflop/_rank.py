"""Which process of a distributed job this is, from the launchers' environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Global ranks first (torchrun's RANK wins over the SLURM task id when torchrun runs under srun); LOCAL_RANK
# only decides when no launcher set a global rank.
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "LOCAL_RANK")


def process_rank(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    for name in RANK_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                continue
    return 0
