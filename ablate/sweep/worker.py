"""Child process for one stage job (synthesize, train one adapter, or evaluate a group of variants).

    python -m ablate.sweep.worker runs/train/<key>.job.json     # {"job": {...}, "out": "runs/train/<key>"}

Started by ablate.sweep.executor.LocalExecutor. The job file holds a job of ablate.sweep.stage
(`to_json()`) and its output dir; the worker runs `STAGES[job.kind].run(job, out, progress)`.
Progress goes to stdout as `@@progress {json}` lines (Progress events; the executor feeds them to
the live table, everything else lands in the job's log file). A user error ends with
`@@error <message>` and exit status 2, any other failure with its traceback and status 1.
"""

from __future__ import annotations

import json
import sys
import traceback

import ablate  # noqa: F401  (must come before transformers/peft: hides broken media libs)


def _emit(ev) -> None:
    print("@@progress " + ev.to_json(), flush=True)


def main(argv: list[str]) -> int:
    from pathlib import Path

    from ablate.core import UserError
    from ablate.sweep.stage import STAGES, job_from_json

    what = f"the stage job {argv[0]}"
    try:
        spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        job = job_from_json(spec["job"])
        what = f"the {job.kind} stage writing its output"
        STAGES[job.kind].run(job, Path(spec["out"]), _emit)
    except UserError as e:
        print(f"@@error {e}", flush=True)
        return 2
    except OSError as e:
        from ablate.fs import is_environment_error, os_user_error

        traceback.print_exc(file=sys.stdout)
        if not is_environment_error(e):  # a bug, recorded like any other
            print(f"@@error {type(e).__name__}: {e}", flush=True)
            return 1
        print(f"@@error {os_user_error(e, what)}", flush=True)
        return 2
    except Exception as e:  # noqa: BLE001 - the executor records it; the traceback goes to the log
        traceback.print_exc(file=sys.stdout)
        print(f"@@error {type(e).__name__}: {e}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
