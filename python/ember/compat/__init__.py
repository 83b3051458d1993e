"""ember as a stand-in for PyTorch: unchanged ``import torch`` code runs on ember.

``install()`` enters ember's modules in ``sys.modules`` under PyTorch's names
(``sys.modules['torch'] is ember``, ``torch.nn`` is ``ember.nn``, ...), and
``ember.vision`` under ``torchvision``, so that libraries doing their own
``import torch`` (the book's ``d2l`` package, tutorials) get ember too. From the
command line, ``python -m ember.compat script.py [args]`` runs a script with
the stand-in installed, as ``python script.py [args]`` would run it.

A torch name ember does not have raises :class:`NotInEmberError` (an
``AttributeError``, so ``hasattr()`` keeps working) naming it, instead of a
bare AttributeError deep inside a library.

It must be installed before anything imports the real PyTorch: two tensor
libraries under one name would hand ember tensors to PyTorch functions, so
``install()`` refuses when ``torch`` is already the real one.
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

import ember

__all__ = ["install", "is_installed", "NotInEmberError", "ModuleNotInEmberError", "TORCH_MODULES", "vision_available"]

# PyTorch's module names and ember's module for each, entered eagerly.
# Any other ``torch.<x>`` that ember has as ``ember.<x>`` is found on import.
TORCH_MODULES = {
    "torch": "ember",
    "torch.nn": "ember.nn",
    "torch.nn.functional": "ember.nn.functional",
    "torch.nn.init": "ember.nn.init",
    "torch.nn.parameter": "ember.nn.parameter",
    "torch.utils": "ember.utils",
    "torch.utils.data": "ember.utils.data",
    "torch.optim": "ember.optim",
    "torch.optim.lr_scheduler": "ember.optim.lr_scheduler",
    "torch.distributions": "ember.distributions",
    "torch.cuda": "ember.cuda",
    "torch.autograd": "ember.autograd",
    "torch.backends": "ember.backends",
    "torch.backends.cuda": "ember.backends.cuda",
    "torch.backends.mps": "ember.backends.mps",
    "torch.accelerator": "ember.accelerator",
    "torch.return_types": "ember.return_types",
}
# Sub-packages that arrive with later parts of ember; entered when present.
_OPTIONAL_TORCH_MODULES = {
    "torch.utils.dlpack": "ember.utils.dlpack",
}
_VISION_MODULES = {
    "torchvision": "ember.vision",
    "torchvision.datasets": "ember.vision.datasets",
    "torchvision.transforms": "ember.vision.transforms",
}
_PREFIXES = {"torch": "ember", "torchvision": "ember.vision"}


class NotInEmberError(AttributeError):
    """A PyTorch name the stand-in was asked for that ember does not have."""

    def __init__(self, message, name=None, obj=None):
        super().__init__(message)
        self.name, self.obj = name, obj  # AttributeError's fields (keywords only from Python 3.10)


class ModuleNotInEmberError(ModuleNotFoundError):
    """A PyTorch module the stand-in was asked for that ember does not have."""


def _missing_message(torch_name):
    return f"{torch_name} is not in ember yet (ember is standing in for PyTorch here, through ember.compat)"


def _torch_name_of(module):
    return getattr(module, "__torch_name__", module.__name__)


def _add_missing_name_errors(module, torch_name):
    """Gives ``module`` a module-level ``__getattr__`` (called only for names it
    lacks) that raises NotInEmberError naming the torch attribute."""
    if getattr(module, "__torch_name__", None) is not None:
        return
    previous = module.__dict__.get("__getattr__")

    def __getattr__(name):
        if previous is not None:
            try:
                return previous(name)
            except AttributeError:
                pass
        if name.startswith("__") and name.endswith("__"):
            # Protocol probes (__path__, __wrapped__, ...) are not user names.
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
        raise NotInEmberError(_missing_message(f"{torch_name}.{name}"), name=name, obj=module)

    module.__getattr__ = __getattr__
    module.__torch_name__ = torch_name


def _placeholder(torch_name, reason):
    """A module for a torch package ember does not provide yet: importing it
    works (so that libraries importing it at the top still load), using any
    name from it raises NotInEmberError saying why."""
    module = types.ModuleType(torch_name, f"ember has no {torch_name} yet: {reason}")

    def __getattr__(name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"module {torch_name!r} has no attribute {name!r}")
        raise NotInEmberError(f"{torch_name}.{name} is not in ember yet ({reason})", name=name, obj=module)

    module.__getattr__ = __getattr__
    module.__torch_name__ = torch_name
    module.__path__ = []  # a package, so that its placeholder sub-modules import
    module.__ember_placeholder__ = True
    return module


def vision_available():
    """True when ember has ``ember.vision`` (torchvision's datasets and transforms)."""
    if "ember.vision" in sys.modules:
        return True
    return importlib.util.find_spec("ember.vision") is not None


def _ember_module(name):
    """Imports ember's module ``name``; None if ember has no such module."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            return None
        raise  # a module that exists but failed to import: show the real error


def _enter(torch_name, module):
    sys.modules[torch_name] = module
    _add_missing_name_errors(module, torch_name)
    parent, _, child = torch_name.rpartition(".")
    # `import torch.utils.dlpack` must make torch.utils.dlpack an attribute:
    # the same module object is ember.utils.dlpack, so this is already true.
    if parent and parent in sys.modules and not hasattr(sys.modules[parent], child):
        setattr(sys.modules[parent], child, module)


class _AliasLoader(importlib.abc.Loader):
    """Loads an alias: the module is ember's own, already imported."""

    def __init__(self, module):
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        module.__spec__ = self.spec  # module_from_spec replaced it with the alias's


class _StandInFinder(importlib.abc.MetaPathFinder):
    """Finds ``torch.<x>`` as ``ember.<x>`` (and ``torchvision.<x>`` as
    ``ember.vision.<x>``) for modules not entered eagerly; a module ember
    lacks raises a ModuleNotFoundError naming it."""

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top not in _PREFIXES:
            return None
        if top == "torchvision" and not vision_available():
            parent = sys.modules.get(fullname.rpartition(".")[0])
            if parent is not None and getattr(parent, "__ember_placeholder__", False) and fullname.count(".") == 1:
                return None  # handled by the error below
            raise ModuleNotInEmberError(_missing_message(fullname), name=fullname)
        target_name = _PREFIXES[top] + fullname[len(top):]
        module = _ember_module(target_name)
        if module is None:
            raise ModuleNotInEmberError(_missing_message(fullname), name=fullname)
        _add_missing_name_errors(module, fullname)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module))


_finder = _StandInFinder()


def is_installed():
    return sys.modules.get("torch") is ember


def install():
    """Makes ``import torch`` (and ``import torchvision``) give ember.

    Safe to call more than once. Raises RuntimeError if the real PyTorch (or
    torchvision) was already imported in this process: restart the
    interpreter (or notebook kernel) and install the stand-in first.
    """
    for name in ("torch", "torchvision"):
        existing = sys.modules.get(name)
        if existing is not None and not getattr(existing, "__torch_name__", None) and existing is not ember:
            where = getattr(existing, "__file__", None) or "an unknown location"
            raise RuntimeError(
                f"ember.compat.install(): the real {name} is already imported in this process (from {where}); "
                f"ember cannot stand in for it now, since objects of both libraries would mix. Call "
                f"ember.compat.install() (or run `python -m ember.compat script.py`) before anything imports "
                f"{name}, in a fresh interpreter or notebook kernel.")
    if is_installed():
        return
    for torch_name, ember_name in TORCH_MODULES.items():
        _enter(torch_name, importlib.import_module(ember_name))
    for torch_name, ember_name in _OPTIONAL_TORCH_MODULES.items():
        module = _ember_module(ember_name)
        if module is not None:
            _enter(torch_name, module)
    if vision_available():
        for torch_name, ember_name in _VISION_MODULES.items():
            module = _ember_module(ember_name)
            if module is not None:
                _enter(torch_name, module)
    else:
        reason = "torchvision's datasets and transforms come with ember.vision, which this ember lacks"
        for torch_name in _VISION_MODULES:
            _enter(torch_name, _placeholder(torch_name, reason))
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
