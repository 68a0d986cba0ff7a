"""The report's run summary (ablate.sweep.report_summary): stage work kept across reruns, and records
written before stage runs were kept still render as they did (the committed reports were built from such)."""

from __future__ import annotations

from ablate.sweep.report_summary import summary_section

VARIANTS = [{"id": "668941cc6cf4", "label": "base", "status": "done", "timings": {"eval": 0.0}},
            {"id": "ae2b0e28f8af", "label": "all/v250", "status": "failed", "failed_stage": "train", "error": "a|b",
             "log": "runs/train/k.log", "adapter_sha256": "90842974bc92ffff", "timings": {"synth": 0.0, "train": 0.0}}]
OLD = {"name": "data_scale", "recipe_path": "recipes/data_scale.toml", "recipe_hash": "ea16", "base": "tiny",
       "started": "2026-12-01 19:52:51", "finished": "2026-12-01 19:52:52",
       "timings": {"prepare": 1.0, "synth": 0.2, "train": 0.0, "eval": 0.1, "total_before_report": 1.4}, "variants": VARIANTS}


def test_a_record_from_before_stage_runs_renders_as_before():
    assert summary_section(OLD) == [
        "- recipe: `recipes/data_scale.toml` (name `data_scale`, sha256 ea16)", "- base: tiny",
        "- started: 2026-12-01 19:52:51", "- finished: 2026-12-01 19:52:52",
        "- wall time per stage (s): prepare 1.0, synth 0.2, train 0.0, eval 0.1, total_before_report 1.4", "",
        "| variant | id | status | adapter sha256 | stage times |\n|---|---|---|---|---|\n"
        "| base | 668941cc6cf4 | done | - | eval=0.0s |\n"
        "| all/v250 | ae2b0e28f8af | failed | 90842974bc92 | synth=0.0s train=0.0s |\n",
        "**Failures**\n", "| variant | stage | error | log |\n|---|---|---|---|\n| all/v250 | train | a/b | `runs/train/k.log` |\n"]


def test_stage_work_sums_directories_in_stage_order_and_says_what_is_unknown():
    rec = {**OLD, "stage_runs": {"train": {"k1": {"seconds": 10.0, "finished": "2026-12-01 09:31:02", "fresh": False},
                                           "k2": {"seconds": None, "finished": None, "fresh": False}},
                                 "synth": {"s1": {"seconds": 1.5, "finished": "2026-12-01 09:20:00", "fresh": True}}},
           "variants": [{**VARIANTS[1], "timings": {"train": 10.0, "synth": 1.5},
                         "computed": {"train": "2026-12-01 09:31:02", "synth": "2026-12-01 09:20:00"}}]}
    md = "\n".join(summary_section(rec))
    assert ("- stage work (wall time of the runs that computed the stage directories used here): synth 1.5 s (1 dir), "
            "train 10.0 s (2 dirs, 1 not timed); computed 2026-12-01 09:20:00 to 2026-12-01 09:31:02") in md
    assert "- this invocation: started 2026-12-01 19:52:51, finished 2026-12-01 19:52:52; computed synth 1 stage dir(s)" in md
    assert "synth=1.5s (2026-12-01 09:20:00) train=10.0s (2026-12-01 09:31:02)" in md
    assert "- started:" not in md and "- wall time per stage" not in md


def test_the_invocations_steps_keep_stage_order_after_a_json_round_trip_with_sorted_keys():
    import json

    rec = json.loads(json.dumps({**OLD, "stage_runs": {}}, sort_keys=True))  # sweep.json stores its keys sorted
    md = "\n".join(summary_section(rec))
    assert "its wall time per step (s): prepare 1.0, synth 0.2, train 0.0, eval 0.1, total_before_report 1.4" in md
