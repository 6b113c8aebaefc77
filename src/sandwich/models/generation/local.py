"""Local generation: any registry model through transformers ``generate``.

Requests are sorted by prompt length and run ``batch_size`` at a time with left
padding and the KV cache. Each row keeps its own parameters inside one batch:
a logits processor samples rows with temperature > 0 from their own
``torch.Generator`` (seeded by the request's seed), so a seeded request gives
the same text whatever batch it lands in; greedy rows take the argmax. Rows
stop on EOS, their own ``max_new_tokens`` or a ``stop`` string (cut from the
text). ``token_logprobs`` are log-softmax of the model's raw logits (before
temperature / top-p) at each generated token.

``score_choices`` computes exact log P(choice tokens | prompt tokens): prompt
and choice are tokenized separately, concatenated, and scored in one
right-padded forward pass per batch.
"""

from __future__ import annotations

import importlib.metadata
import random
from collections.abc import Sequence
from typing import Any, Literal

from tqdm.auto import tqdm

from sandwich.errors import ConfigError, required
from sandwich.models.generation.base import ChoiceRequest, Generator, GenRequest, GenResult
from sandwich.models.generation.config import LocalParams
from sandwich.models.generation.prompt import encode, render, resolve_format


def _processors() -> tuple[type, type]:
    from transformers import LogitsProcessor, StoppingCriteria

    return LogitsProcessor, StoppingCriteria


class _RowSampler:
    """Per-row temperature / top-p sampling; greedy rows untouched. Returns one-hot scores."""

    def __init__(self, requests: Sequence[GenRequest], generators: list[Any]) -> None:
        self.requests = requests
        self.generators = generators

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        out = scores
        for i, req in enumerate(self.requests):
            if req.temperature <= 0:
                continue
            if out is scores:
                out = scores.clone()
            probs = torch.softmax(scores[i].float() / req.temperature, dim=-1)
            if req.top_p < 1.0:
                sorted_p, order = torch.sort(probs, descending=True)
                drop = torch.cumsum(sorted_p, -1) - sorted_p >= req.top_p
                sorted_p[drop] = 0.0
                probs = torch.zeros_like(probs).scatter_(0, order, sorted_p)
            tok = torch.multinomial(probs, 1, generator=self.generators[i])
            out[i] = float("-inf")
            out[i, tok] = 0.0
        return out


class _RowStop:
    """Per-row stop: the row's own max_new_tokens, or one of its stop strings appeared."""

    def __init__(self, requests: Sequence[GenRequest], prompt_len: int, tokenizer: Any) -> None:
        self.requests = requests
        self.prompt_len = prompt_len
        self.tokenizer = tokenizer

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        n_new = input_ids.shape[1] - self.prompt_len
        done = []
        for i, req in enumerate(self.requests):
            stop = n_new >= req.max_new_tokens
            if not stop and req.stop:
                text = self.tokenizer.decode(input_ids[i, self.prompt_len :])
                stop = any(s and s in text for s in req.stop)
            done.append(stop)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class LocalGenerator(Generator):
    Params = LocalParams

    def __init__(
        self, model: str, *, store: Any = None, progress: bool = False, **params: Any
    ) -> None:
        """``params``: the rest of :class:`LocalParams` (defaults there); ``store`` and
        ``progress`` are runtime arguments."""
        p = LocalParams(model=model, **params)
        from sandwich.models import load_model
        from sandwich.models.hf import HFModel

        backbone = load_model(model, store=store)
        if not isinstance(backbone, HFModel):
            raise ConfigError(
                f"model {model!r} cannot generate text (it is a {type(backbone).__name__}); "
                "use a decoder such as smollm2-135m or gemma3-270m, or backend 'fake'"
            )
        backbone.progress = progress
        self.name = model
        self.backbone = backbone
        self.batch_size, self.dtype, self.prompt_format = p.batch_size, p.dtype, p.prompt_format
        self.progress = progress
        self._lm: Any = None
        self._tok: Any = None
        self._fmt: Literal["chat", "plain"] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "local",
            "model": self.name,
            "fingerprint": self.backbone.fingerprint,
            "dtype": self.dtype,
            "prompt_format": self.prompt_format,
            "transformers": importlib.metadata.version("transformers"),
        }

    def __repr__(self) -> str:
        return f"LocalGenerator({self.name!r}, loaded={self._lm is not None})"

    # -- loading -------------------------------------------------------------
    def _load(self) -> tuple[Any, Any, Literal["chat", "plain"]]:
        if self._lm is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from sandwich.models.hf import quiet_weight_loading

            if self.backbone.kind != "decoder":
                raise ConfigError(f"model {self.name!r} is an encoder; it cannot generate text")
            directory = self.backbone.directory
            tok = AutoTokenizer.from_pretrained(directory)
            if tok.pad_token_id is None:
                tok.pad_token = tok.eos_token
            with quiet_weight_loading():
                lm = AutoModelForCausalLM.from_pretrained(
                    directory, dtype=getattr(torch, self.dtype)
                )
            self._lm, self._tok = lm.eval(), tok
            self._fmt = resolve_format(self.prompt_format, self.name, tok)
        return self._lm, self._tok, required(self._fmt, f"{self.name}: prompt format")

    def prompt_ids(self, messages: Sequence[Any]) -> list[int]:
        _, tok, fmt = self._load()
        return encode(render(messages, fmt, tok), fmt, tok)

    # -- generation ----------------------------------------------------------
    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        prompts = [self.prompt_ids(r.messages) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: -len(prompts[i]))
        out: list[GenResult | None] = [None] * len(requests)
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        for idx in tqdm(batches, desc=f"{self.name} generate", disable=not self.progress):
            for i, res in zip(
                idx, self._batch([requests[i] for i in idx], [prompts[i] for i in idx]), strict=True
            ):
                out[i] = res
        return [r for r in out if r is not None]

    def _batch(self, reqs: list[GenRequest], prompts: list[list[int]]) -> list[GenResult]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        lm, tok, _ = self._load()
        width = max(len(p) for p in prompts)
        pad = tok.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        gens = [
            torch.Generator().manual_seed(
                r.seed if r.seed is not None else random.SystemRandom().randrange(2**62)
            )
            for r in reqs
        ]
        LogitsProcessor, StoppingCriteria = _processors()
        sampler = type("RowSampler", (_RowSampler, LogitsProcessor), {})(reqs, gens)
        stopper = type("RowStop", (_RowStop, StoppingCriteria), {})(reqs, width, tok)
        eos = lm.generation_config.eos_token_id
        want_logprobs = any(r.logprobs for r in reqs)
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=max(r.max_new_tokens for r in reqs),
            pad_token_id=pad,
            eos_token_id=eos if eos is not None else tok.eos_token_id,
            output_logits=want_logprobs,
            return_dict_in_generate=True,
            use_cache=True,
        )
        with torch.inference_mode():
            gen = lm.generate(
                input_ids=ids,
                attention_mask=mask,
                generation_config=config,
                logits_processor=LogitsProcessorList([sampler]),
                stopping_criteria=StoppingCriteriaList([stopper]),
            )
        new = gen.sequences[:, width:]
        logps = None  # log-softmax over the vocabulary at every step: only when asked for
        if want_logprobs:
            logps = torch.stack([torch.log_softmax(x.float(), -1) for x in gen.logits], dim=1)
        eos_ids = set(
            eos if isinstance(eos, list) else [eos if eos is not None else tok.eos_token_id]
        )
        return [
            self._finish(reqs[i], new[i].tolist(), None if logps is None else logps[i], eos_ids)
            for i in range(len(reqs))
        ]

    def _finish(self, req: GenRequest, ids: list[int], logps: Any, eos_ids: set[int]) -> GenResult:
        finish = "length"
        keep = ids[: req.max_new_tokens]
        for k, t in enumerate(keep):
            if t in eos_ids:
                keep, finish = keep[:k], "stop"
                break
        tok = self._tok
        text = tok.decode(keep, skip_special_tokens=True)
        cut = min((text.index(s) for s in req.stop if s and s in text), default=None)
        if cut is not None:
            text, finish = text[:cut], "stop"
            n = 0
            while n < len(keep) and len(tok.decode(keep[: n + 1], skip_special_tokens=True)) <= cut:
                n += 1
            keep = keep[:n]
        lps = None
        if req.logprobs and logps is not None:
            lps = tuple(float(logps[k, t]) for k, t in enumerate(keep))
        return GenResult(text=text, token_logprobs=lps, finish_reason=finish)

    # -- scoring -------------------------------------------------------------
    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float] | None]:
        import torch

        lm, tok, _ = self._load()
        rows: list[tuple[int, str, list[int], int]] = []  # request, choice, ids, prompt length
        for i, r in enumerate(requests):
            prompt = self.prompt_ids(r.messages)
            for c in r.choices:
                cids = list(tok(c, add_special_tokens=False)["input_ids"])
                if not cids:
                    raise ValueError(f"choice {c!r} of request {i} encodes to no tokens")
                rows.append((i, c, prompt + cids, len(prompt)))
        out: list[dict[str, float]] = [{} for _ in requests]
        order = sorted(range(len(rows)), key=lambda j: -len(rows[j][2]))
        pad = tok.pad_token_id
        for s in range(0, len(order), self.batch_size):
            chunk = [rows[j] for j in order[s : s + self.batch_size]]
            width = max(len(r[2]) for r in chunk)
            ids = torch.tensor([r[2] + [pad] * (width - len(r[2])) for r in chunk])
            mask = torch.tensor([[1] * len(r[2]) + [0] * (width - len(r[2])) for r in chunk])
            with torch.inference_mode():
                logits = lm(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits, -1)
            for b, (i, c, seq, plen) in enumerate(chunk):
                pos = torch.arange(plen, len(seq))
                total = logp[b, pos - 1, torch.tensor(seq[plen:])].sum()
                out[i][c] = float(total)
        return list[dict[str, float] | None](out)
