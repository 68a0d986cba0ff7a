"""Greedy generation with vLLM from prompt embeddings, in its own process (the engine spawns workers).

    python -m ablate.base.vllm_worker LM_DIR EMBEDS.pt OUT.json [MAX_TOKENS]

EMBEDS.pt is a list of float32 tensors [L, hidden] (from `FrameEncoder.prompt_embeds`); OUT.json gets
the list of replies in the same order. Run as a module so the spawned engine process re-imports a
module with a `__main__` guard, whatever the caller is (the CLI, pytest, a notebook).
"""

from __future__ import annotations

import json
import os
import sys


def generate(lm_dir: str, embeds: list, max_tokens: int = 32) -> list[str]:
    import ablate  # noqa: F401  (hide broken media libraries before vllm/transformers load)

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM, SamplingParams

    from ablate.compat import vllm_inspect_in_process

    vllm_inspect_in_process()  # as ablate.eval.engines.vllm_engine does (see ablate.compat)

    llm = LLM(model=lm_dir, enable_prompt_embeds=True, dtype="float32", max_model_len=2048, seed=0,
              max_num_seqs=16, enforce_eager=True)
    outs = llm.generate([{"prompt_embeds": e} for e in embeds],
                        SamplingParams(temperature=0.0, max_tokens=max_tokens), use_tqdm=False)
    return [o.outputs[0].text for o in outs]


def main(argv: list[str]) -> int:
    import torch

    lm_dir, embeds_path, out_path = argv[:3]
    max_tokens = int(argv[3]) if len(argv) > 3 else 32
    embeds = torch.load(embeds_path)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(generate(lm_dir, embeds, max_tokens), f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
