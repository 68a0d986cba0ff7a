"""The report's run summary: what ran, on what, and how long the work took when it was computed.

    from ablate.sweep.report_summary import summary_section
    print("\\n".join(summary_section(json.load(open("runs/sweeps/data_scale/sweep.json")))))

A sweep finds finished stage directories by their key and computes only what is missing, so the
invocation that wrote a report may have computed nothing. The summary therefore keeps two things apart:
- the stage work: per stage, the wall time of the runs that computed the directories this report
  uses (summed over directories) and when they ran, read from the sweep record's `stage_runs`
  (ablate.sweep.bookkeeping: runs/<stage>/<key>.run.json), so a rerun keeps the fresh run's figures;
- this invocation: when it started and finished, what it computed ("nothing" on a full rerun) and its
  own wall time per step.
Per variant, the table gives each stage's wall time and date of the run that computed it.
"""

from __future__ import annotations

from ablate.sweep.report_sections import md_table
from ablate.sweep.stage import ORDER


def _in_order(d: dict) -> list[tuple]:  # sweep.json stores its keys sorted
    return sorted(d.items(), key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else len(ORDER))


def _secs(s) -> str:
    return "?" if s is None else f"{s:.1f}"


def stage_work_lines(record: dict) -> list[str]:
    """The stage work and this invocation, as Markdown list lines."""
    runs = record.get("stage_runs")
    t = record.get("timings") or {}
    steps_order = ["prepare", *ORDER]
    steps = sorted(t.items(), key=lambda kv: steps_order.index(kv[0]) if kv[0] in steps_order else len(steps_order))
    own = ", ".join(f"{k} {v:.1f}" for k, v in steps)  # prepare, the stages in order, then totals
    if runs is None:  # a record written before stage runs were kept: only this invocation is known
        return [f"- wall time per stage (s): {own}"] if own else []
    md = []
    work = []
    dates = [r["finished"] for keys in runs.values() for r in keys.values() if r.get("finished")]
    for stage, keys in _in_order(runs):
        secs = [r["seconds"] for r in keys.values()]
        unknown = sum(s is None for s in secs)
        total = sum(s for s in secs if s is not None)
        part = f"{stage} {total:.1f} s ({len(keys)} dir{'s' if len(keys) != 1 else ''}"
        work.append(part + (f", {unknown} not timed)" if unknown else ")"))
    if work:
        span = f"; computed {min(dates)} to {max(dates)}" if dates else ""
        md.append("- stage work (wall time of the runs that computed the stage directories used here): "
                  + ", ".join(work) + span)
    fresh = {stage: sum(1 for r in keys.values() if r.get("fresh")) for stage, keys in _in_order(runs)}
    did = ", ".join(f"{stage} {n}" for stage, n in fresh.items() if n)
    did = f"computed {did} stage dir(s)" if did else "computed nothing (every stage directory was already done)"
    when = f"started {record.get('started', '?')}, finished {record.get('finished', '?')}"
    md.append(f"- this invocation: {when}; {did}" + (f"; its wall time per step (s): {own}" if own else ""))
    return md


def variant_rows(record: dict) -> list[list]:
    """Per variant: label, id, status, adapter sha256, each stage's wall time and date of its computing run."""
    rows = []
    for v in record["variants"]:
        when = v.get("computed") or {}
        timings = v.get("timings") or {}
        times = " ".join(f"{k}={_secs(s)}s" + (f" ({when[k]})" if when.get(k) else "")
                         for k, s in (_in_order(timings) if "computed" in v else timings.items()))
        sha = v.get("adapter_sha256")
        rows.append([v["label"], v["id"], v.get("status", "?"), sha[:12] if sha else "-", times])
    return rows


def summary_section(record: dict) -> list[str]:
    md = [f"- recipe: `{record.get('recipe_path', '?')}` (name `{record['name']}`, sha256 {record.get('recipe_hash', '?')})"]
    old = record.get("stage_runs") is None  # started / finished are this invocation's, in stage_work_lines
    for k in ("description", "base", "base_hash", "world_hash", "versions") + (("started", "finished") if old else ()):
        if record.get(k):
            md.append(f"- {k.replace('_', ' ')}: {record[k]}")
    from ablate.models.routes import route_lines  # which engine served each evaluation, and any fallback

    md += route_lines(record.get("eval_dirs") or [])
    md += stage_work_lines(record)
    md.append("")
    md.append(md_table(["variant", "id", "status", "adapter sha256", "stage times"], variant_rows(record)) + "\n")
    failed = [v for v in record["variants"] if v.get("status") == "failed"]
    if failed:
        md.append("**Failures**\n")
        md.append(md_table(["variant", "stage", "error", "log"],
                            [[v["label"], v.get("failed_stage"), str(v.get("error", "")).replace("|", "/")[:300],
                              f"`{v.get('log', '-')}`"] for v in failed]) + "\n")
    return md
