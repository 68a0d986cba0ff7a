"""A trained adapter loads in vLLM (CPU) with LoRARequest and changes its greedy output logprobs (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ablate.train import TrainOptions, train_adapter

SCRIPT = textwrap.dedent('''
    import json, sys
    import ablate  # noqa: F401 - before vllm / transformers

    def main(lm_dir, adapter, rank):
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest

        llm = LLM(model=lm_dir, enable_lora=True, max_lora_rank=rank, max_loras=1, max_model_len=256,
                  dtype="float32", enforce_eager=True, seed=0)
        sp = SamplingParams(max_tokens=4, temperature=0.0, logprobs=1)
        prompt = "<|im_start|>user\\nCaptions:\\nred circle\\nQuestion: what comes first ?<|im_end|>\\n<|im_start|>assistant\\n"
        base = llm.generate([prompt], sp)[0].outputs[0]
        tuned = llm.generate([prompt], sp, lora_request=LoRARequest("a", 1, adapter))[0].outputs[0]
        print("RESULT " + json.dumps({"base": base.cumulative_logprob, "tuned": tuned.cumulative_logprob,
                                      "base_ids": list(base.token_ids), "tuned_ids": list(tuned.token_ids)}))

    if __name__ == "__main__":
        main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
''')


@pytest.mark.slow
def test_adapter_loads_in_vllm(train_lm_dir, train_pool, tmp_path):
    out = tmp_path / "a"
    opts = TrainOptions(batch_size=8, epochs=2.0, learning_rate=1e-2, lora_rank=8, lora_alpha=16)
    train_adapter(train_lm_dir, train_pool, out, n=32, options=opts, show_progress=False)
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_TARGET_DEVICE="cpu")
    proc = subprocess.run([sys.executable, str(script), str(train_lm_dir), str(out), "8"], capture_output=True,
                          text=True, env=env, timeout=900, cwd=Path(__file__).parents[1])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    res = json.loads(lines[-1][len("RESULT "):])
    assert res["tuned_ids"] and res["base"] != pytest.approx(res["tuned"], abs=1e-3)
