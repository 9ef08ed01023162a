"""Wall time of a batched rollout against the whole-site-at-once run, on the same hosts.

Against a running site (default: the lab site `edge`, `make lab-up SITE=edge`), alternates two kinds
of run of `site.yml`, each deploying a new release (one engine setting changed, so every host
switches release and is verified):

* whole site at once: `rollout_batches: ["100%"]` (what site.yml did before rollouts);
* the default rollout: one canary, then 25 %, then the rest.

Prints each run's wall time, the medians, and the ratio rollout / whole-site. The machine is shared
and noisy: compare the ratio, not single times.

    python bench/rollout_wall_time.py [-i edge] [--rounds 1] [--knob engine_onnx_queue_size] [-- extra ansible args]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KINDS = {"whole site": ["100%"], "rollout (1, 25%, rest)": [1, "25%", "100%"]}


def run(inventory: str, batches: list, knob: str, value: int, extra: list[str]) -> float:
    """One site.yml run deploying release ``knob=value`` in ``batches``; its wall time in seconds."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    cmd = ["ansible-playbook", "site.yml", "-i", inventory, "-e",
           json.dumps({"rollout_batches": batches, knob: value}), *extra]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if proc.returncode:
        sys.exit(f"run failed (rc={proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("-i", "--inventory", default="edge")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--knob", default="engine_onnx_queue_size",
                        help="an engine setting whose change makes a new release (integer values are used)")
    parser.add_argument("--start", type=int, default=40, help="first value of the knob")
    parser.add_argument("extra", nargs="*", help="further ansible-playbook arguments (after --)")
    args = parser.parse_args()

    value = args.start
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for round_no in range(args.rounds):
        for kind, batches in KINDS.items():
            value += 1
            took = run(args.inventory, batches, args.knob, value, args.extra)
            times[kind].append(took)
            print(f"round {round_no + 1}: {kind:<24} {args.knob}={value}: {took:7.1f} s", flush=True)
    whole = statistics.median(times["whole site"])
    rolled = statistics.median(times["rollout (1, 25%, rest)"])
    print(f"median whole site {whole:.1f} s, median rollout {rolled:.1f} s; rollout / whole site = {rolled / whole:.2f}x")


if __name__ == "__main__":
    main()
