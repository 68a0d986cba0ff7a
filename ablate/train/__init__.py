"""The training stage: one LoRA adapter per recipe cell (TRL SFTTrainer + PEFT), `ablate train`.

    from ablate.train import TrainOptions, train_adapter
    manifest = train_adapter("smol", "runs/synth/x", "runs/a1", n=1000, options=TrainOptions())

stage.py (options, the stage entry point, CLI), data.py (which rows), model.py (which model and
modules), loop.py (the trainer). No torch at import time.
"""

from ablate.train.stage import TRAIN_CODE_VERSION, TrainOptions, train_adapter

__all__ = ["TRAIN_CODE_VERSION", "TrainOptions", "train_adapter"]
