"""The stand-in of the generation LLM: a tiny Qwen3 causal LM whose chat template honours
``enable_thinking``, trained for a few seconds to answer every query-generation prompt with one fixed
JSON answer per kind, so that sampling at the paper's settings yields queries capflow's parser keeps."""

from __future__ import annotations

import json
import random
from pathlib import Path

from fakes.standins import corpus, vocab
from fakes.standins.models import DECODER

# The answers the stand-in gives, per query kind; the parser keeps every query of them.
ANSWERS = {"sm": ["图片中的场景概括", "这段文字讲了什么内容"], "kw": ["图片", "场景", "内容"]}

# Qwen's chat format; with enable_thinking false the assistant turn opens with an empty think block.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\n\n</think>\n\n' }}{% endif %}"
    "{% endif %}"
)
SEED = 0
STEPS = 200


def answer_text(kind: str) -> str:
    return json.dumps({"queries": ANSWERS[kind]}, ensure_ascii=False)


def _prompt_texts(prompts) -> list[str]:
    return [message["content"] for kind in ANSWERS for message in prompts.messages(kind, "")]


def build_llm(folder: Path, *, prompts_file: Path, texts: list[str]) -> None:
    """Tokenizer, weights and generation config of the stand-in in ``folder``; ``texts`` are passages
    like those it will be asked about. Raises if the trained model does not give the answers."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from capflow.prompts import load_prompts

    prompts = load_prompts(prompts_file)
    answers = [answer_text(kind) for kind in ANSWERS]
    bpe_texts = texts + _prompt_texts(prompts) * 50 + answers * 50
    vocab.qwen(folder, bpe_texts, eos="<|im_end|>", thinking=True, chat_template=CHAT_TEMPLATE, max_length=40960)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = Qwen3Config(vocab_size=len(tokenizer), max_position_embeddings=40960, tie_word_embeddings=False,
                         bos_token_id=None, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                         pad_token_id=tokenizer.pad_token_id, **DECODER)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # the same bytes wherever it is built
        torch.manual_seed(SEED)
        model = Qwen3ForCausalLM(config)
        _train(model, tokenizer, prompts, texts)
        _check(model, tokenizer, prompts)
    finally:
        torch.set_num_threads(threads)
    model.eval().save_pretrained(folder)
    GenerationConfig(eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id, do_sample=True,
                     temperature=0.7, top_p=0.8, top_k=20).save_pretrained(folder)


def _examples(tokenizer, prompts, texts: list[str], rng: random.Random, count: int):
    """(prompt ids, answer ids) pairs: each kind's prompt around a passage from ``texts`` or random text,
    with thinking off or on, followed by that kind's answer and <|im_end|>."""
    alphabet = "".join(corpus.WORDS) + "，。0123456789abcdefghijklmnopqrstuvwxyz "
    examples = []
    for _ in range(count):
        kind = rng.choice(list(ANSWERS))
        passage = rng.choice(texts) if rng.random() < 0.7 else "".join(rng.choices(alphabet, k=rng.randint(1, 300)))
        rendered = tokenizer.apply_chat_template(prompts.messages(kind, passage), tokenize=False,
                                                 add_generation_prompt=True, enable_thinking=rng.random() < 0.8)
        prompt = tokenizer(rendered, add_special_tokens=False)["input_ids"]
        answer = tokenizer(answer_text(kind) + "<|im_end|>", add_special_tokens=False)["input_ids"]
        examples.append((prompt, answer))
    return examples


def _train(model, tokenizer, prompts, texts: list[str]) -> None:
    """Next-token loss on the answer tokens only, over batches of varied prompts."""
    import torch

    rng = random.Random(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for _ in range(STEPS):
        batch = _examples(tokenizer, prompts, texts, rng, 8)
        width = max(len(p) + len(a) for p, a in batch)
        ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100)
        for row, (prompt, answer) in enumerate(batch):
            sequence = prompt + answer
            start = width - len(sequence)  # left padding, as the generation backend pads
            ids[row, start:] = torch.tensor(sequence)
            mask[row, start:] = 1
            labels[row, start + len(prompt):] = torch.tensor(answer)
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
        targets = labels[:, 1:]
        scored = targets != -100  # the full vocabulary is scored only where an answer token is next
        loss = torch.nn.functional.cross_entropy(model.lm_head(hidden[scored]), targets[scored])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def _check(model, tokenizer, prompts) -> None:
    """Every answer token must be the only one that top-p 0.8 sampling can pick (probability above 0.8),
    on prompts the training never drew."""
    import torch

    examples = _examples(tokenizer, prompts, corpus.passages(SEED + 1, 6, (3, 80)), random.Random(SEED + 1), 6)
    with torch.inference_mode():
        for prompt, answer in examples:
            logits = model(input_ids=torch.tensor([prompt + answer])).logits[0, len(prompt) - 1:-1]
            chosen = logits.softmax(-1)[torch.arange(len(answer)), torch.tensor(answer)]
            if chosen.min() <= 0.8:
                raise RuntimeError(f"the stand-in LLM is unsure of its answer (probability {chosen.min():.2f})")
