"""Generation with a local Hugging Face causal LM (CPU or GPU), through the model's chat template.

No constrained decoding here: answers rely on the prompt asking for JSON and on the tolerant
parser. Batches are left-padded so every prompt ends where generation starts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from capflow.errors import UserError
from capflow.generate.backend import GenerationRequest, GeneratorSettings, OnAnswer

log = logging.getLogger(__name__)


class TransformersBackend:
    def __init__(self, settings: GeneratorSettings):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from capflow.runtime.hardware import pick_device

        self.settings = settings
        self.device = settings.transformers.device or pick_device()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(settings.model, revision=settings.revision,
                                                           padding_side="left")
            dtype = torch.bfloat16 if self.device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(settings.model, revision=settings.revision,
                                                              dtype=dtype).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise UserError(f"generation model '{settings.model}': cannot load: {str(exc).splitlines()[0]}") from None
        if self.tokenizer.chat_template is None:
            raise UserError(f"generation model '{settings.model}': its tokenizer has no chat template")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def render(self, request: GenerationRequest) -> str:
        return self.tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True,
                                                  **self.settings.chat_template_kwargs)

    def generate(self, requests: Sequence[GenerationRequest], on_answer: OnAnswer | None = None) -> list[str]:
        import torch

        sampling = self.settings.sampling
        batch_size = self.settings.transformers.batch_size
        torch.manual_seed(sampling.seed)
        sample = sampling.temperature > 0
        answers: list[str] = []
        for start in range(0, len(requests), batch_size):
            prompts = [self.render(r) for r in requests[start:start + batch_size]]
            inputs = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            with torch.inference_mode():
                generated = self.model.generate(
                    **inputs, max_new_tokens=sampling.max_tokens, do_sample=sample,
                    temperature=sampling.temperature if sample else None, top_p=sampling.top_p if sample else None,
                    top_k=None, pad_token_id=self.tokenizer.pad_token_id)
            new_tokens = generated[:, inputs["input_ids"].shape[1]:]
            for answer in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True):
                if on_answer is not None:
                    on_answer(len(answers), answer)
                answers.append(answer)
            log.info("%d/%d answers", len(answers), len(requests))
        return answers
