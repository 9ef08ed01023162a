"""Command line: `slm-engine build | serve | healthcheck | verify`.

Exit codes: 0 success, 1 failure (build error, unhealthy, corrupt model), 2 bad input or bad
configuration (the message on stderr names the option or variable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from . import __version__
from .errors import BadInput, BuildFailed


def _build(args: argparse.Namespace) -> int:
    from . import build  # imports nothing heavy: the builder runs in a child process

    try:
        request = build.validate(
            source=args.source,
            output=args.output,
            revision=args.revision,
            model_id=args.model_id,
            precision=args.precision,
            execution_provider=args.execution_provider,
            block_size=args.block_size,
            accuracy_level=args.accuracy_level,
            variant=args.variant,
            cache_dir=args.cache_dir,
        )
        result = build.build(request)
    except BadInput as exc:
        print(f"slm-engine build: {exc}", file=sys.stderr)
        return 2
    except BuildFailed as exc:
        print(f"slm-engine build: failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


def _serve(_: argparse.Namespace) -> int:
    import logging

    from .config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        print("slm-engine serve: invalid configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    import uvicorn

    from .app import HEALTH_RESERVE, create_app
    from .state import Server

    server = Server(config)
    http = uvicorn.Server(
        uvicorn.Config(
            create_app(server),
            host=config.host,
            port=config.port,
            log_level=config.log_level,
            access_log=config.log_level == "debug",
            timeout_graceful_shutdown=30,
            # A hard cap (plain 503 for every path); the app refuses generation requests
            # already beyond SLM_MAX_CONNECTIONS, with an OpenAI error and Retry-After.
            limit_concurrency=config.max_connections + HEALTH_RESERVE,
        )
    )
    server.open_connections = lambda: len(http.server_state.connections)
    http.run()
    return 0 if http.started else 1


def _healthcheck(args: argparse.Namespace) -> int:
    port = os.environ.get("SLM_PORT", "8000")
    host = os.environ.get("SLM_HOST", "")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError):
        return 1


def _verify(args: argparse.Namespace) -> int:
    from . import manifest

    model_dir = Path(args.model_dir)
    data = manifest.read_manifest(model_dir)
    if data is None:
        print(json.dumps({"status": "invalid", "problems": ["no schema-1 manifest.json"]}))
        return 1
    problems = manifest.verify(model_dir, data)
    print(
        json.dumps(
            {
                "status": "corrupt" if problems else "ok",
                "build_key": data.get("build_key"),
                "problems": problems,
            }
        )
    )
    return 1 if problems else 0


class _Parser(argparse.ArgumentParser):
    """argparse with exit status 2 and 'what was given / what is allowed' messages."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message}\n")


def parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the commands)."""
    top = _Parser(prog="slm-engine", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"slm-engine {__version__}")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser(
        "build",
        help="convert a Hugging Face checkpoint to an onnxruntime-genai "
        "model directory with manifest.json; prints one JSON object",
    )
    b.add_argument("--source", required=True, help="checkpoint directory or Hub repo id")
    b.add_argument("--revision", help="Hub branch, tag or commit (token: env HF_TOKEN)")
    b.add_argument("--output", required=True, help="model directory to create or update")
    b.add_argument("--model-id", help="name recorded in the manifest and served by default")
    b.add_argument("--precision", default="int4", help="int4 (default), int8, fp16, fp32")
    b.add_argument("--execution-provider", default="cpu", help="cpu (default) or cuda")
    b.add_argument("--block-size", type=int, help="int4/int8 quantization block (default 32)")
    b.add_argument(
        "--accuracy-level",
        type=int,
        help="int4/int8 compute accuracy 0-4 (default 4 on cpu: int8 activations)",
    )
    b.add_argument(
        "--variant",
        default="default",
        help="default (float embedding) or compact (int4 embedding, shared with lm_head when tied)",
    )
    b.add_argument("--cache-dir", help="Hub downloads (default ~/.cache/slm-engine)")
    b.set_defaults(func=_build)

    s = sub.add_parser(
        "serve",
        help="run the OpenAI-compatible server (configured by SLM_* "
        "environment variables, see README)",
    )
    s.set_defaults(func=_serve)

    h = sub.add_parser("healthcheck", help="exit 0 if the local server's /health is 200")
    h.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    h.set_defaults(func=_healthcheck)

    v = sub.add_parser("verify", help="check a model directory against its manifest.json")
    v.add_argument("model_dir")
    v.set_defaults(func=_verify)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `slm-engine` console script."""
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
