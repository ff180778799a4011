"""Compile to bytecode the layer's modules that the predict function loads, and only those.

Run by ``layers/runtime/Makefile`` with the layer's python3.12: imports :data:`MODULES`
from the layer folder given as the argument, then writes an "unchecked-hash" ``.pyc``
(PEP 552: valid whatever mtimes the sources get in the zip) for every module loaded from
there. The layer's other modules (most of Pillow's plugins, Powertools' utilities the
function does not use...) stay source-only: compiled on first use, if ever, and not
shipped twice. ``tests/functions/predict/test_lambda_package.py`` checks that a cold start
of the built function finds bytecode for what it loads from the layer.

    python3.12 compile_imported.py build/RuntimeLayer/python
"""

import importlib
import importlib.util
import py_compile
import sys
from pathlib import Path

MODULES = [
    # What the function's modules import at init, and what the first requests load later
    # (tests/functions/predict/test_lambda_package.py serves them and names any left out).
    "anyio._backends._asyncio",  # Starlette runs the sync endpoints in anyio's thread pool
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.logging.correlation_paths",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.shared.json_encoder",  # the metrics' flush at the end of a request
    "aws_lambda_powertools.utilities.parameters",
    "fastapi",
    "fastapi.exceptions",
    "fastapi.responses",
    "mangum",
    "numpy",
    "onnxruntime",
    "PIL.BmpImagePlugin",
    "PIL.GifImagePlugin",  # with PPM, imported by every Image.open (Image.preinit)
    "PIL.Image",
    "PIL.ImageOps",
    "PIL.JpegImagePlugin",
    "PIL.PngImagePlugin",
    "PIL.PpmImagePlugin",
    "PIL.WebPImagePlugin",
    "prometheus_client",
    "prometheus_client.exposition",
    "pydantic",
    "pydantic.v1",  # FastAPI checks every response model against it
    "pydantic_settings",
    "python_multipart",
    "starlette.concurrency",
    "starlette.datastructures",
    "starlette.exceptions",
    "starlette.formparsers",
    "starlette.requests",
]


RUNTIME_PROVIDED = {"boto3", "botocore"}
"""In the Lambda runtime, not in the layer: a module needing them is compiled whole, by path."""


def compile_source(source: Path) -> None:
    py_compile.compile(
        str(source), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


def main(site: str) -> int:
    root = Path(site).resolve()
    sys.path.insert(0, str(root))
    sources: set[Path] = set()
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name not in RUNTIME_PROVIDED:
                raise
            package = Path(importlib.util.find_spec(name).origin).parent
            sources.update(package.rglob("*.py"))
    for module in list(sys.modules.values()):
        source = Path(getattr(module, "__file__", None) or "/").resolve()
        if source.suffix == ".py" and source.is_relative_to(root):
            sources.add(source)
    for source in sources:
        compile_source(source)
    print(f"compiled {len(sources)} modules in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
