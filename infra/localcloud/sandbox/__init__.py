"""The sandbox provider: a local, deterministic stand-in for OpenRouter, a custom endpoint
and a Hugging Face endpoint, for tests, the demo (`make local`) and benchmarks.

Everything it serves is a toy and says so: model ids start with ``sandbox/`` and names with
"Sandbox (toy)". Answers are deterministic functions of the input.

OpenRouter shapes (point ``providers.openrouter_base_url`` at ``<url>/api/v1``):
- ``GET  /api/v1/models``                              catalog (pricing per token, hugging_face_id)
- ``GET  /api/v1/models/{author}/{slug}/endpoints``    latency_last_30m p50/p75/p90/p99 (ms)
- ``POST /api/v1/chat/completions``                    OpenAI answer with ``usage.cost``
- ``GET  /api/v1/key``                                 key info; 401 for a bad key
Keys: any ``Bearer sk-or-…`` is valid, except ones starting ``sk-or-invalid``.

Toy models:
- ``sandbox/arithmetic-exact``  solves "a op b" (+ - * / x) exactly
- ``sandbox/coin-flip-half``    the right answer or the right answer + 1, chosen by a hash of the input
- ``sandbox/off-by-one``        always the right answer + 1 (never right)
- ``sandbox/echo``              echoes the last user message
- ``sandbox/flaky``             echoes, but "[fail]" in the input answers 500 and "[429]" answers 429
- ``sandbox/almanac``           answers the local hub's short-answer sample questions, else "I don't know."
- ``sandbox/judge-toy``         a toy judge: grades by the reference answer and the rubric's quoted phrases
                                (``judge``); the local cloud's default judge
``sandbox/arithmetic-exact`` and ``sandbox/echo`` (and ``/custom/openai``) also honour tools
(they call the first tool given), JSON mode, structured outputs, logprobs, stop, seed and
top_p (``chat``); the others list only max_tokens and temperature in ``supported_parameters``.

Other fixtures on the same server:
- ``POST /custom/openai`` (chat completion), ``/custom/json`` (``{"result": {"text": …}}``),
  ``/custom/text`` (text/plain), ``/custom/secure/json`` (needs ``Bearer`` or ``X-Api-Key``
  = ``SANDBOX_CUSTOM_SECRET``), ``/custom/echo-headers`` (returns the request headers),
  ``/custom/redirect?to=URL`` (302), ``/custom/status/{code}``, ``/custom/large?bytes=N``.
- ``POST /hf/{toy}/v1/chat/completions`` (TGI) and ``POST /hf/{toy}`` (classic ``{"inputs"}``);
  ``/hf/private-{toy}…`` needs ``Bearer SANDBOX_HF_TOKEN``. ``{toy}`` is a toy slug, e.g. ``echo``.

Streaming: ``stream: true`` on any chat route above answers OpenAI chunks word by word,
``stream_delay_ms`` apart (knob, or header ``X-Sandbox-Stream-Delay-Ms``), a usage chunk with
``stream_options.include_usage``, then ``data: [DONE]``; ``sandbox/flaky`` with "[fail]" sends
an error event after its first words.

Knobs (per model id, or "*" for all; "custom" and "hf" for the fixtures):
``POST /_sandbox/control {"model", "latency_ms", "error_rate", "rate_limit_next", "fail_next",
"retry_after", "stream_delay_ms"}``; ``POST /_sandbox/reset``; ``GET /_sandbox/stats``. Per request headers:
``X-Sandbox-Latency-Ms``, ``X-Sandbox-Status`` (force a status), ``X-Sandbox-Retry-After``.
``error_rate`` fails a deterministic share of requests (by per-model request count), so a
retry of the same input can succeed.

Fine-tuning (OpenAI-style ``/v1/files``, ``/v1/fine_tuning/jobs…``, ``/v1/chat/completions``
for tuned toys ``sandbox/ft-<job>``): see ``finetune``; knobs at ``POST /_sandbox/fine_tune``.

Modules, one job each:

- ``server``: :func:`start_sandbox` (re-exported here, the package's entry point).
- ``handler``: the HTTP request handler: plumbing, knobs applied before an answer, the
  ``/_sandbox/*`` control routes, dispatch to the modules below.
- ``openrouter`` / ``custom`` / ``huggingface`` / ``finetune``: the emulated APIs.
- ``toys``: the toy model catalogue; ``behaviours``: what each toy answers; ``judge``: the toy
  judge; ``chat``: tool calls, JSON mode, logprobs and stop on top of it.
- ``shapes``: chat-completion, catalogue and endpoints answer shapes; the toy tokenizer.
- ``state``: knobs, counters and in-flight gauges shared by the handler threads.
"""

from localcloud.sandbox.server import start_sandbox

__all__ = ["start_sandbox"]
