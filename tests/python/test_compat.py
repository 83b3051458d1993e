"""The torch stand-in (ember.compat): install(), the module aliases, the
refusal when real PyTorch is loaded, errors naming missing torch names, and
the `python -m ember.compat script.py` runner. Each case runs in a fresh
interpreter, since the stand-in changes sys.modules for good."""
import textwrap

import pytest

from _compat_util import run


def _script(tmp_path, body, name="script.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_install_enters_ember_modules_under_torch_names(tmp_path):
    script = _script(tmp_path, """
        import sys
        import ember, ember.compat
        ember.compat.install()
        ember.compat.install()  # idempotent
        import torch, torch.nn, torch.nn.functional as F, torch.nn.init, torch.utils.data, torch.optim
        import torch.distributions, torch.cuda, torch.autograd, torch.backends
        from torch import nn
        from torch.utils import data
        assert sys.modules["torch"] is ember and torch is ember
        assert torch.nn is ember.nn and nn is ember.nn and F is ember.nn.functional
        assert torch.nn.init is ember.nn.init and data is ember.utils.data and torch.optim is ember.optim
        assert torch.distributions is ember.distributions and torch.cuda is ember.cuda
        assert torch.autograd is ember.autograd and torch.backends is ember.backends
        assert sys.modules["torch.optim.lr_scheduler"] is ember.optim.lr_scheduler
        assert ember.__name__ == "ember" and ember.nn.__spec__.name == "ember.nn"
        assert ember.compat.is_installed()
        print("ok")
    """)
    assert run([str(script)]).stdout.strip() == "ok"


def test_refuses_when_real_torch_is_imported(tmp_path):
    pytest.importorskip("torch")
    script = _script(tmp_path, """
        import torch
        import ember.compat
        try:
            ember.compat.install()
        except RuntimeError as e:
            print(e)
        else:
            print("installed")
    """)
    out = run([str(script)]).stdout
    assert "real torch is already imported" in out and "before anything imports torch" in out


def test_runner_refuses_a_script_that_already_has_real_torch(tmp_path):
    pytest.importorskip("torch")
    script = _script(tmp_path, "print('ran')\n")
    proc = run(["-c", "import torch, sys, runpy; sys.argv = ['x', %r]; runpy.run_module('ember.compat', "
                "run_name='__main__')" % str(script)], check=False)
    assert proc.returncode != 0 and "real torch is already imported" in proc.stderr and "ran" not in proc.stdout


def test_missing_torch_name_names_it_and_keeps_hasattr(tmp_path):
    script = _script(tmp_path, """
        import ember.compat
        ember.compat.install()
        import torch
        from torch import nn
        assert not hasattr(torch, "stft_of_nothing") and getattr(torch, "stft_of_nothing", 7) == 7
        for fn in (lambda: torch.stft_of_nothing, lambda: nn.functional.grid_sample_x, lambda: torch.optim.LBFGSx):
            try:
                fn()
            except AttributeError as e:
                assert isinstance(e, ember.compat.NotInEmberError)
                print(e)
        try:
            import torch.not_a_module
        except ModuleNotFoundError as e:
            print("import:", e)
        assert torch.tensor([1.0]).sum().item() == 1.0  # present names are untouched
    """)
    lines = run([str(script)]).stdout.splitlines()
    assert lines[0].startswith("torch.stft_of_nothing is not in ember yet")
    assert lines[1].startswith("torch.nn.functional.grid_sample_x is not in ember yet")
    assert lines[2].startswith("torch.optim.LBFGSx is not in ember yet")
    assert lines[3].startswith("import: torch.not_a_module is not in ember yet")


def test_torchvision_stand_in(tmp_path):
    script = _script(tmp_path, """
        import sys, ember, ember.compat
        ember.compat.install()
        import torchvision
        from torchvision import transforms, datasets
        if ember.compat.vision_available():
            assert torchvision is ember.vision and transforms is ember.vision.transforms
            print("vision")
        else:
            assert not hasattr(transforms, "ToTensor")
            try:
                datasets.FashionMNIST
            except AttributeError as e:
                print(e)
    """)
    out = run([str(script)]).stdout.strip()
    assert out == "vision" or out.startswith("torchvision.datasets.FashionMNIST is not in ember yet") and \
        "ember.vision" in out


def test_runner_runs_script_as_main_with_argv_and_path(tmp_path):
    _script(tmp_path, "VALUE = 41\n", name="helper_module.py")
    script = _script(tmp_path, """
        import sys, torch
        import helper_module  # the script's folder comes first on sys.path
        from torch import nn
        if __name__ == "__main__":
            net = nn.Linear(2, 1)
            print(torch.__name__, sys.argv[1:], helper_module.VALUE + 1, type(net).__module__)
    """)
    out = run(["-m", "ember.compat", str(script), "--lr", "0.1", "x"], cwd=tmp_path.parent).stdout
    assert out.split() == ["ember", "['--lr',", "'0.1',", "'x']", "42", "ember.nn.linear"]


def test_runner_exit_codes_and_errors(tmp_path):
    exits = _script(tmp_path, "import sys, torch\nsys.exit(3)\n", name="exits.py")
    assert run(["-m", "ember.compat", str(exits)], check=False).returncode == 3
    fails = _script(tmp_path, "import torch\nraise ValueError('boom')\n", name="fails.py")
    proc = run(["-m", "ember.compat", str(fails)], check=False)
    assert proc.returncode == 1 and "ValueError: boom" in proc.stderr
    proc = run(["-m", "ember.compat", str(tmp_path / "missing.py")], check=False)
    assert proc.returncode == 2 and "missing.py" in proc.stderr
    proc = run(["-m", "ember.compat"], check=False)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_runner_runs_a_module(tmp_path):
    _script(tmp_path, "import sys, torch\nprint(__name__, torch.__name__, sys.argv[1:])\n", name="mod_main.py")
    out = run(["-m", "ember.compat", "-m", "mod_main", "a"], cwd=tmp_path).stdout.strip()
    assert out == "__main__ ember ['a']"


def test_learn_the_basics_tutorials_match_pytorch(tmp_path):
    pytest.importorskip("torch")
    from _compat_util import SCRIPTS, assert_close, run_both
    expected, actual = run_both(SCRIPTS / "learn_the_basics.py", tmp_path)
    assert_close(expected, actual)
