"""A sweep driver in miniature for the kill -9 test in tests/test_sweep_ray.py: a local Ray cluster
of its own (RayExecutor, address None), the fake worker for each cell, and resume by output dir.

    python tests/ray_fake_driver.py CELLS.json RAY_TEMP_DIR    # CELLS: [{"cell", "out", "marks", "sleep"}]
    python tests/ray_fake_driver.py CELLS.json --address GCS_ADDRESS   # join a running cluster instead

Prints `executed <cell> ...` for the cells it submitted (the rest were done already) and `outcome ...`.
"""

import json
import sys
from pathlib import Path

from ablate.sweep.ray_executor import RayExecutor

cells = json.loads(Path(sys.argv[1]).read_text())
todo = [c for c in cells if not Path(c["out"]).is_dir()]
print("executed " + " ".join(c["cell"] for c in todo), flush=True)
fake = str(Path(__file__).with_name("ray_fake_worker.py"))
if sys.argv[2] == "--address":
    ex = RayExecutor(sys.argv[3], command=[sys.executable, fake], gpus_per_cell=0)
else:
    ex = RayExecutor(None, command=[sys.executable, fake], init_kwargs=dict(num_cpus=2, _temp_dir=sys.argv[2]))
with ex:
    hs = [ex.submit(c, Path(c["out"]), Path(c["marks"]) / f"{c['cell']}.log", label=c["cell"]) for c in todo]
    outs = ex.wait(hs)
print("outcome " + " ".join(f"{c['cell']}={'ok' if o.ok else o.error}" for c, o in zip(todo, outs)), flush=True)
sys.exit(0 if all(o.ok for o in outs) else 1)
