"""A fake `wandb` for tests: the names transformers' WandbCallback uses; each call is a JSON line in $FAKE_WANDB_LOG.

Like the real package, a run's group comes from init(group=...) or else the WANDB_RUN_GROUP variable.
"""

import json
import os

run = None


def _write(event: str, **fields) -> None:
    with open(os.environ["FAKE_WANDB_LOG"], "a") as f:
        f.write(json.dumps({"event": event, **fields}) + "\n")


class _Config(dict):
    def update(self, d=None, allow_val_change=False, **kw):
        super().update({k: v for k, v in (d or {}).items() if isinstance(v, (int, float, str, bool))})


class _Run:
    def __init__(self, name, group, project):
        self.name, self.group, self.project, self.id, self.url = name, group, project, "fake-run", ""
        self.summary = {}

    def _label(self, **kw):
        pass


config = _Config()
summary = {}


def init(project=None, name=None, group=None, **kw):
    global run
    run = _Run(name, group or os.environ.get("WANDB_RUN_GROUP"), project)
    _write("init", project=project, name=name, group=run.group)
    return run


def define_metric(*args, **kw):
    pass


def termwarn(*args, **kw):
    pass


def log(data, **kw):
    _write("log", data={k: v for k, v in data.items() if isinstance(v, (int, float))})


def finish(**kw):
    global run
    _write("finish", name=run.name if run else None)
    run = None
