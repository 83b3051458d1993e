"""``python -m ember.compat script.py [args]``: runs an unchanged PyTorch
script on ember, as ``python script.py [args]`` would run it (``__main__``,
``sys.argv``, the script's folder first on ``sys.path``).
``python -m ember.compat -m module [args]`` runs a module the same way."""
import os
import runpy
import sys

from ember import compat

USAGE = "usage: python -m ember.compat script.py [args ...]\n       python -m ember.compat -m module [args ...]"


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    compat.install()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = [argv[1], *argv[2:]]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.exists(script):
        print(f"python -m ember.compat: can't open file {script!r}: No such file or directory", file=sys.stderr)
        return 2
    sys.argv = list(argv)
    # `python -m` put the current folder first; `python script.py` puts the script's.
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
