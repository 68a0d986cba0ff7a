"""Child process for one sweep stage job (train one adapter, or evaluate a group of variants).

    python -m ablate.sweep.worker '{"stage": "train", "base": "tiny", "data": ..., "out": ..., ...}'

Started by ablate.sweep.runner. Progress goes to stdout as `@@progress {json}` lines (the runner feeds them
to the live table; everything else lands in the job's log file). A user error ends with
`@@error <message>` and exit status 2, any other failure with its traceback and status 1.
"""

from __future__ import annotations

import json
import sys
import time
import traceback

import ablate  # noqa: F401  (must come before transformers/peft: hides broken media libs)


def _emit(**ev) -> None:
    print("@@progress " + json.dumps(ev), flush=True)


def _train(job: dict) -> None:
    from ablate.train import TrainOptions, train_adapter

    last = [0.0]

    def on_step(step, total, loss, sps):
        now = time.monotonic()
        if now - last[0] > 0.5 or step == total:
            last[0] = now
            _emit(progress=step / max(total, 1), loss=float(loss) if loss is not None else None,
                  detail=f"step {step}/{total} {sps:.0f}/s")

    import dataclasses

    known = {f.name for f in dataclasses.fields(TrainOptions)}
    unknown = sorted(set(job["options"]) - known)
    if unknown:
        from ablate.core import UserError

        raise UserError(f"train options {unknown} are not known to ablate.train.TrainOptions")
    opts = TrainOptions(**job["options"])
    train_adapter(job["base"], job["data"], job["out"], job["n"], opts, replay=job.get("replay"),
                  on_step=on_step, show_progress=False)


def _eval(job: dict) -> None:
    from pathlib import Path

    from ablate.core import atomic_dir
    from ablate.eval.stage import BenchSpec, evaluate

    last = [0.0]

    def progress_cb(*args, **kw):
        now = time.monotonic()
        if now - last[0] < 0.5:
            return
        last[0] = now
        nums = [a for a in args if isinstance(a, (int, float))]
        done, total = (kw.get("done"), kw.get("total")) if "done" in kw else (nums + [None, None])[:2]
        name = next((a for a in args if isinstance(a, str)), "")
        if done is not None and total:
            _emit(progress=done / total, detail=f"{name} {done}/{total}".strip())

    benches = [BenchSpec(b["name"], b.get("path"), b.get("options") or {}) for b in job["benchmarks"]]
    adapters = {k: (Path(v) if v else None) for k, v in job["adapters"].items()}
    from ablate.base import resolve_base

    base = resolve_base(job["base"])
    with atomic_dir(job["out"]) as tmp:
        evaluate(base, adapters, benches, tmp, engine=job["engine"], frames=job["frames"],
                 max_tokens=job["max_tokens"], progress_cb=progress_cb)


def main(argv: list[str]) -> int:
    from ablate.core import UserError

    job = json.loads(argv[0])
    try:
        {"train": _train, "eval": _eval}[job["stage"]](job)
    except UserError as e:
        print(f"@@error {e}", flush=True)
        return 2
    except Exception as e:  # noqa: BLE001 - the runner records it; the traceback goes to the log
        traceback.print_exc(file=sys.stdout)
        print(f"@@error {type(e).__name__}: {e}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
