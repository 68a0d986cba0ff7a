"""Peak summed RSS of a command and all its descendants, sampled every 0.5 s (issue #23's budget line).

    python research/peak_rss.py -- ablate sweep recipes/data_scale.toml

Prints the command's wall time and the peak of the summed resident set size of its process tree (the
sweep, its stage children, vLLM's engine core) when it ends; exits with the command's exit status.
Sampling misses peaks shorter than the interval; the figure is a lower bound of the true peak.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil


def tree_rss(p: psutil.Process) -> int:
    total = 0
    for q in [p, *p.children(recursive=True)]:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> int:
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    t0 = time.time()
    proc = subprocess.Popen(argv)
    ps, peak, at = psutil.Process(proc.pid), 0, 0.0
    while proc.poll() is None:
        try:
            rss = tree_rss(ps)
        except psutil.Error:
            rss = 0
        if rss > peak:
            peak, at = rss, time.time() - t0
        time.sleep(0.5)
    print(f"[peak_rss] {' '.join(argv)}: exit {proc.returncode}, wall {time.time() - t0:.1f} s, "
          f"peak summed RSS {peak / 2**30:.2f} GiB at {at:.0f} s", flush=True)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
