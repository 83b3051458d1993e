"""Writes the type stubs of ember's native module (python/ember/_C/*.pyi).

pybind11-stubgen describes what the C++ bindings declare. Two things it
cannot see are added here: it must meet ``ember._C`` before the package's
``__init__`` runs (otherwise it finds ``ember.Tensor`` and writes an import
instead of the class), and the Tensor methods that the Python layer attaches
at import (``reshape``, ``sum``, ``to``, ...) are appended to the class with
their Python signatures, so that editors and mypy know them too.

Run it through scripts/gen_stubs.sh after changing a binding.
"""
import importlib.machinery
import importlib.util
import inspect
import pathlib
import re
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "ember"
OUT = PACKAGE / "_C"


def native_module():
    """ember._C imported on its own, under a bare 'ember' package."""
    package = types.ModuleType("ember")
    package.__path__ = [str(PACKAGE)]
    sys.modules["ember"] = package
    spec = importlib.machinery.PathFinder.find_spec("ember._C", [str(PACKAGE)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["ember._C"] = module
    spec.loader.exec_module(module)
    return module


def python_tensor_methods():
    """Signature lines of the methods the Python layer attaches to Tensor."""
    for name in [n for n in sys.modules if n == "ember" or n.startswith("ember.")]:
        del sys.modules[name]
    sys.path.insert(0, str(PACKAGE.parent))
    import ember
    lines = []
    for name, value in sorted(vars(ember.Tensor).items()):
        if not inspect.isfunction(value):
            continue
        try:
            sig = inspect.signature(value)
        except (TypeError, ValueError):
            continue
        params = []
        for p in sig.parameters.values():
            text = p.name if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) else \
                ("*" if p.kind == p.VAR_POSITIONAL else "**") + p.name
            if p.default is not p.empty:
                text += "=..."
            params.append((p.kind, text))
        rendered, star_done = [], False
        for kind, text in params:
            if kind == inspect.Parameter.KEYWORD_ONLY and not star_done:
                rendered.append("*")
                star_done = True
            if kind == inspect.Parameter.VAR_POSITIONAL:
                star_done = True
            rendered.append(text)
        lines.append(f"    def {name}({', '.join(rendered)}): ...")
    return lines


def _fix_names(text):
    """Names the generated stub gets wrong for a type checker: ember's dtype
    caster is labelled numpy.dtype, and inside the classes ``bool`` (a dtype
    member), ``dtype`` and ``numpy`` (Tensor members) shadow the types."""
    text = text.replace("numpy.dtype[typing.Any]", "DType")
    text = re.sub(r"^import numpy$", "import builtins\nimport numpy as _numpy", text, flags=re.M)
    text = re.sub(r"\bnumpy\.", "_numpy.", text)
    text = re.sub(r"(->|:) bool\b", r"\1 builtins.bool", text)
    text = text.replace("\nclass ", "\nDType: typing.TypeAlias = \"dtype\"\nclass ", 1)
    return text


def main():
    from pybind11_stubgen import main as stubgen
    native_module()
    out_root = OUT.parent.parent  # the folder holding 'ember'
    sys.argv = ["pybind11-stubgen", "ember._C", "-o", str(out_root), "--ignore-all-errors"]
    stubgen()
    methods = python_tensor_methods()
    init = OUT / "__init__.pyi"
    text = _fix_names(init.read_text())
    match = re.search(r"^class Tensor:.*?(?=^\S)", text, flags=re.S | re.M)
    if match is None:
        raise SystemExit("gen_stubs: no 'class Tensor' in the generated stub")
    block = match.group(0).rstrip("\n") + "\n    # Attached by the Python layer (python/ember/_tensor.py):\n" + \
        "\n".join(methods) + "\n"
    init.write_text(text[:match.start()] + block + text[match.end():])
    print(f"gen_stubs: wrote {init.relative_to(ROOT)} ({len(methods)} Python-level Tensor methods)")


if __name__ == "__main__":
    main()
