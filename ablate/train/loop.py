"""The training loop behind ablate.train.train_adapter: TRL SFTTrainer + PEFT LoRA, written atomically.

    from ablate.train.loop import run_training   # called by ablate.train.train_adapter only

Conversational prompt-completion examples go to SFTTrainer, which renders them with the base's chat
template and masks the prompt, so the loss is on the assistant turn only. bf16 on GPU and on CPUs with
native bf16, else fp32 (device_and_precision).
On CPU the loss is TRL's completion-only masked mean CE computed on the completion positions only
(`_compact_sft_trainer`); TRL's fused LM head scores every position there and halved the throughput.
A TrainerCallback records one loss row per optimizer step, drives the progress bar and the sweep's
`on_step` callback. Everything is written into an `atomic_dir` sibling and renamed at the end, so an
exception (or a kill) mid-training leaves no directory under the final name.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from ablate.core import UserError


def device_and_precision(precision: str = "auto") -> tuple[str, str]:
    """auto: ("cuda", "bf16") where a GPU is visible; on CPU bf16 only where it is native (AVX512-BF16 / AMX,
    see ablate.base.precision), else fp32; or the precision asked for."""
    import ablate  # noqa: F401
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if precision == "auto":
        if device == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        else:
            from ablate.base.precision import resolve_precision

            precision = resolve_precision("auto")
    return device, precision


def _sft_config(options, work_dir: Path, device: str, precision: str, track: dict | None = None):
    """TRL's config from TrainOptions; `track` (from ablate.train.tracking.tracking) names the tracker and run."""
    from trl import SFTConfig

    track = track or {"report_to": "none", "run_name": None}

    return SFTConfig(
        output_dir=str(work_dir),
        per_device_train_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        learning_rate=options.learning_rate,
        lr_scheduler_type="constant" if options.lr_scheduler == "wsd" else options.lr_scheduler,  # wsd: create_scheduler
        warmup_steps=options.warmup_steps or options.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the steps
        num_train_epochs=options.epochs,
        max_steps=options.max_steps if options.max_steps is not None else -1,
        weight_decay=options.weight_decay,
        max_grad_norm=options.max_grad_norm,
        seed=options.seed,
        data_seed=options.seed,
        # TRL refuses max_length with padding-free batches unless packing; there it truncates nothing
        max_length=None if options.padding_free and not options.packing else options.max_length,
        packing=options.packing,
        padding_free=options.padding_free,
        completion_only_loss=True,
        # wsd takes the rows in pool order: a run of n rows is then a prefix of a run of 2n (ablate.train.nested)
        train_sampling_strategy=("sequential" if options.lr_scheduler == "wsd" else
                                 "group_by_length" if options.group_by_length else "random"),
        bf16=precision == "bf16",
        fp16=False,
        use_cpu=device == "cpu",
        # the defaults below are for big models; on a small LM they only cost time
        gradient_checkpointing=False,
        logging_steps=1,
        logging_strategy="steps",
        save_strategy="no",
        eval_strategy="no",
        report_to=track["report_to"],
        run_name=track["run_name"],
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataset_num_proc=None,
        remove_unused_columns=True,
    )


def _step_callback(ui: dict, on_step, rows: list, batch_examples: int, t0: list):
    from transformers import TrainerCallback

    class _Steps(TrainerCallback):
        """One row per optimizer step; the progress bar and the sweep's callback."""

        def on_train_begin(self, args, state, control, **kw):
            t0[0] = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kw):
            if not logs or "loss" not in logs:
                return
            elapsed = time.perf_counter() - t0[0]
            step = state.global_step
            sps = step * batch_examples / max(elapsed, 1e-9)  # the last step may be short; close enough live
            rows.append({
                "step": step,
                "loss": float(logs["loss"]),
                "learning_rate": float(logs.get("learning_rate", 0.0)),
                "grad_norm": float(logs["grad_norm"]) if logs.get("grad_norm") is not None else None,
                "tokens": int(logs.get("num_tokens", 0)),
                "elapsed_s": elapsed,
            })
            if ui.get("bar") is not None:
                ui["bar"].advance(1, loss=f"{logs['loss']:.4f}", samples_s=f"{sps:.0f}")
            if on_step is not None:
                on_step(step, state.max_steps, float(logs["loss"]), sps)

    return _Steps()


def _compact_sft_trainer():
    """SFTTrainer whose loss on CPU scores only the completion positions (TRL's masked mean CE, unchanged).

    TRL 1.16 patches the model with a fused LM head. Without Triton (CPU) it scores *every* position in
    tiles, with entropy and top-1 folds, and recomputes all of it in backward: on the tiny LM that was
    ~55% of each step (cProfile: chunked_logprob forward + backward 10.8 s of a 19.7 s loop). Here the
    backbone runs once, the LM head projects only the positions whose next-token label is not -100, and
    the loss is `sum(-log p(label)) / num_items_in_batch` (or / the valid count), exactly TRL's. Entropy
    and token accuracy are still logged, computed on the same positions without grad. Anything unusual
    (GPU/Triton, MoE aux loss, custom loss, label smoothing, sequence parallel, return_outputs) goes to TRL.
    """
    import torch
    import torch.nn.functional as F
    from trl import SFTTrainer

    class _CompactSFTTrainer(SFTTrainer):
        lr_lambda_for = None  # steps -> (step -> lr factor): a LambdaLR instead of the named schedule (wsd)

        def create_scheduler(self, num_training_steps, optimizer=None):
            if self.lr_scheduler is None and self.lr_lambda_for is not None:
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer,
                                                                      self.lr_lambda_for(num_training_steps))
                self._created_lr_scheduler = True
            return super().create_scheduler(num_training_steps, optimizer)

        def _compact_ok(self, model, inputs, return_outputs) -> bool:
            labels = inputs.get("labels")
            return (not return_outputs and labels is not None and labels.device.type == "cpu"
                    and "shift_labels" not in inputs and not self.aux_loss_enabled
                    and self.compute_loss_func is None and self.label_smoother is None
                    and self.args.loss_type == "nll" and self.accelerator.num_processes == 1)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if not self._compact_ok(model, inputs, return_outputs):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            mode = "train" if self.model.training else "eval"
            unwrapped = self.accelerator.unwrap_model(model)
            base = unwrapped.get_base_model() if hasattr(unwrapped, "get_base_model") else unwrapped
            backbone = base.base_model  # the decoder (Qwen2Model); PEFT's LoRA layers live inside it
            lm_head = base.get_output_embeddings()
            kwargs = {k: v for k, v in inputs.items() if k not in ("labels", "use_cache")}
            hidden = backbone(**kwargs, use_cache=False).last_hidden_state[:, :-1]
            labels = inputs["labels"][:, 1:]
            mask = labels != -100
            logits = lm_head(hidden[mask]).float()  # [n_valid, V]: completion positions only
            targets = labels[mask]
            n_valid = mask.sum()
            denom = n_valid if num_items_in_batch is None else num_items_in_batch
            loss = F.cross_entropy(logits, targets, reduction="sum") / torch.as_tensor(denom).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * (self.accelerator.num_processes // self.get_tp_size())
            with torch.no_grad():  # TRL's metrics, on the same positions
                nv = int(n_valid)
                if nv > 0:
                    logp = torch.log_softmax(logits.detach(), dim=-1)
                    entropy = -(logp.exp() * logp).sum(-1).mean().item()
                    accuracy = (logits.detach().argmax(-1) == targets).float().mean().item()
                else:
                    entropy = accuracy = 0.0
            self._metrics[mode]["entropy"].append(entropy)
            self._metrics[mode]["mean_token_accuracy"].append(accuracy)
            if mode == "train":
                if "attention_mask" in inputs:
                    self._total_train_tokens += int(inputs["attention_mask"].sum()) // self._tp_size
                elif "position_ids" in inputs:
                    self._total_train_tokens += int(inputs["position_ids"].size(1)) // self._tp_size
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return loss

    return _CompactSFTTrainer


def make_trainer(lm_dir: Path, examples: list[dict], options, work_dir: Path, device: str, precision: str,
                 callbacks: list = (), track: dict | None = None):
    """An SFTTrainer with LoRA on the language model of `lm_dir`, data already tokenized; + target names.
    `track`: the tracker arguments of ablate.train.tracking.tracking (default: no tracker)."""
    import ablate  # noqa: F401 - before transformers / peft / trl
    import datasets
    import torch
    from peft import LoraConfig
    from transformers.trainer_callback import PrinterCallback

    from ablate.train.model import load_lm, lora_targets

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    model, tok = load_lm(lm_dir, device, dtype)
    targets = lora_targets(model, options.target_modules, options.lora_layers)
    lora = LoraConfig(
        r=options.lora_rank,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(options.seed)  # the LoRA init
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # our bar is the one the user sees
    try:
        trainer = _compact_sft_trainer()(
            model=model,
            args=_sft_config(options, work_dir, device, precision, track),
            train_dataset=datasets.Dataset.from_list(examples),
            processing_class=tok,
            peft_config=lora,
            callbacks=list(callbacks),
        )
    finally:
        if bars:
            datasets.enable_progress_bars()
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; the callback above reports instead
    if options.lr_scheduler == "wsd":
        from ablate.train.schedule import wsd_lambda

        trainer.lr_lambda_for = lambda steps: wsd_lambda(options, steps)
    return trainer, targets


def run_training(tbase, sel, out: Path, options, identity: dict, run_hash: str, device: str, precision: str,
                 on_step, show_progress: bool, report_to: str = "none", run_name: str | None = None,
                 group: str | None = None) -> dict:
    """Train into `out` (atomically) and return the manifest; report_to / run_name / group: ablate.train.tracking."""
    import ablate  # noqa: F401 - before transformers / peft / trl
    import polars as pl

    from ablate.core import atomic_dir, file_sha256, write_json
    from ablate.train.tracking import LOG_SUBDIR, run_dir_name, tracking
    from ablate.ui import progress

    rows: list[dict] = []
    t0 = [time.perf_counter()]
    ui: dict = {}
    batch_examples = options.batch_size * options.grad_accum
    overwrite = (out / "manifest.json").is_file()  # a finished adapter from other inputs: replace it
    with atomic_dir(out, overwrite=overwrite) as tmp:
        callback = _step_callback(ui, on_step, rows, batch_examples, t0)
        run_name = run_name or out.name
        log_dir = tmp / LOG_SUBDIR / run_dir_name(run_name)  # out/tensorboard/<run> once renamed
        with tracking(report_to, log_dir, run_name, group) as track:
            from ablate.train.data import training_order

            # wsd: the trainer keeps this order (sequential sampling); other schedules shuffle
            trainer, targets = make_trainer(tbase.lm_dir, training_order(sel.examples, options), options,
                                            tmp / ".trainer", device, precision, [callback], track)
            prepared = trainer.train_dataset
            n_tokens = int(sum(len(x) for x in prepared["input_ids"]))
            per_epoch = max(math.ceil(len(prepared) / options.batch_size) // options.grad_accum, 1)
            total = options.max_steps or math.ceil(options.epochs * per_epoch)
            with progress("train", total=total, enabled=show_progress) as bar:
                ui["bar"] = bar if show_progress else None  # the sweep shows its own table via on_step
                result = trainer.train()
        train_s = float(result.metrics.get("train_runtime", time.perf_counter() - t0[0]))
        trainer.model.save_pretrained(str(tmp))
        _sort_target_modules(tmp / "adapter_config.json")
        _check_family_adapter(tbase.lm_dir, tmp)
        for extra in ("README.md", ".trainer"):
            p = tmp / extra
            if p.is_dir():
                import shutil

                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        if not rows:
            raise UserError("training ran no optimizer step (is the data empty after truncation?)")
        pl.DataFrame(rows, schema_overrides={"grad_norm": pl.Float64}).write_parquet(tmp / "loss.parquet")
        epochs_run = float(result.metrics.get("epoch", options.epochs))
        samples_seen = len(sel.examples) * epochs_run
        manifest = {
            "kind": "lora-adapter",
            "hash": run_hash,
            "adapter_sha256": file_sha256(tmp / "adapter_model.safetensors"),
            "base": {"spec": str(getattr(tbase, "root", tbase.lm_dir)), "hash": tbase.hash, "lm_dir": str(tbase.lm_dir)},
            "data": {
                "source": sel.pool_file,
                "pool_rows": sel.pool_rows,
                "content_hash": sel.content_hash,
                "n": sel.n_t3,
                "families": sel.families,
                "replay": sel.replay_file,
                "n_replay": sel.n_replay,
            },
            "options": identity["options"],
            "code_version": identity["code_version"],
            "precision": precision,
            "device": device,
            "batching": options.batching,
            "target_modules": targets,
            "steps": rows[-1]["step"],
            "samples": len(sel.examples),
            "epochs": epochs_run,
            "train_tokens": int(n_tokens * epochs_run),
            "final_loss": rows[-1]["loss"],
            "tracking": {"report_to": report_to, "run_name": run_name,  # not part of `hash`: changing it retrains nothing
                         "log_dir": f"{LOG_SUBDIR}/{run_dir_name(run_name)}" if report_to == "tensorboard" else None},
            "train_seconds": train_s,
            "samples_per_s": samples_seen / max(train_s, 1e-9),
            "tokens_per_s": n_tokens * epochs_run / max(train_s, 1e-9),
            "versions": _versions(),
        }
        write_json(tmp / "manifest.json", manifest)
    return manifest


def _check_family_adapter(model_dir: Path, adapter_dir: Path) -> None:
    """ablate.models: no vision weights in the adapter, and names vLLM loads for this architecture."""
    from ablate.train.model import is_vlm_config

    if is_vlm_config(model_dir):
        from ablate.models import detect_dir
        from ablate.models.adapters import check_adapter

        check_adapter(adapter_dir, detect_dir(model_dir))


def _versions() -> dict:
    import importlib.metadata as md

    return {k: md.version(k) for k in ("torch", "transformers", "trl", "peft")}


def _sort_target_modules(config: Path) -> None:
    """PEFT writes target_modules from a set, in an order that follows PYTHONHASHSEED: sorted, two runs of
    the same training write the same adapter_config.json, so the adapter's sha256 (an eval key input) agrees."""
    cfg = json.loads(config.read_text())
    if isinstance(cfg.get("target_modules"), list):
        cfg["target_modules"] = sorted(cfg["target_modules"])
        config.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def save_adapter(model, out: Path, lm_dir: Path) -> None:
    """Write the PEFT adapter of `model` into `out` as run_training does: sorted target_modules, the family
    check, no README (ablate.train.nested saves one adapter per volume with this)."""
    model.save_pretrained(str(out))
    _sort_target_modules(out / "adapter_config.json")
    _check_family_adapter(lm_dir, out)
    (out / "README.md").unlink(missing_ok=True)


def library_versions() -> dict:
    """torch / transformers / trl / peft versions, as the manifest records them."""
    return _versions()
