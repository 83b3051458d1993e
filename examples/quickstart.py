"""ember in five minutes: D2L's first tensor and autograd steps, then D2L's
multilayer perceptron trained on real data (scikit-learn's handwritten
digits, shipped with the package: nothing to download).

    pip install ".[demo]" && python examples/quickstart.py

Each epoch shows a progress bar, saves a checkpoint (a safetensors file) and
redraws a D2L-style plot of the training loss and the train/test accuracy;
run it again and it resumes from the checkpoint. ``--quick`` (or
``EMBER_QUICKSTART_QUICK=1``) trains two short epochs, as CI does.
"""
from __future__ import annotations

import argparse
import inspect
import os
import pathlib
import time
from typing import Any

import ember as torch
from ember import nn
from ember.utils import data


def first_steps() -> None:
    """D2L 2.1 and 2.5: tensors, broadcasting and a gradient."""
    x = torch.arange(12)
    X = x.reshape(3, 4)
    Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    print("X + Y =\n", X + Y)
    print("broadcast:\n", torch.arange(3).reshape((3, 1)) + torch.arange(2).reshape((1, 2)))
    w = torch.arange(4.0, requires_grad=True)
    y = 2 * torch.dot(w, w)
    y.backward()
    print("d(2 w.w)/dw =", w.grad)


def load_digits(batch_size: int) -> tuple[data.DataLoader, data.DataLoader]:
    """8x8 digit images as 64 features in [0, 1]; a fixed 80/20 split."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y))
    n_train = int(0.8 * len(y))
    train_idx, test_idx = order[:n_train], order[n_train:]
    train = data.DataLoader(data.TensorDataset(X[train_idx], y[train_idx]), batch_size, shuffle=True)
    test = data.DataLoader(data.TensorDataset(X[test_idx], y[test_idx]), batch_size)
    return train, test


def accuracy(net: nn.Module, loader: data.DataLoader) -> float:
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for X, y in loader:
            correct += int((net(X).argmax(dim=1) == y).sum())
            total += len(y)
    return correct / total


def save_checkpoint(state: dict[str, Any], path: pathlib.Path) -> None:
    # A background save (the write finishes while the next epoch trains)
    # where this ember offers it; a plain durable save otherwise.
    if "background" in inspect.signature(torch.save).parameters:
        torch.save(state, path, background=True).result()  # type: ignore[call-arg]
    else:
        torch.save(state, path)


def plot(history: dict[str, list[float]], path: pathlib.Path) -> None:
    """D2L's Animator figure: train loss, train acc and test acc per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(3.5, 2.5))
    epochs = range(1, len(history["train_loss"]) + 1)
    for key, fmt in (("train_loss", "-"), ("train_acc", "m--"), ("test_acc", "g-.")):
        ax.plot(epochs, history[key], fmt, label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_xlim(1, max(len(history["train_loss"]), 2))
    ax.set_ylim(0, 1.05)
    ax.grid()
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def train(epochs: int, out_dir: pathlib.Path, fresh: bool, max_batches: int | None) -> dict[str, list[float]]:
    from tqdm import tqdm

    torch.manual_seed(0)
    train_iter, test_iter = load_digits(batch_size=64)
    # D2L 5.2: one hidden layer of 256 ReLU units.
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    loss_fn = nn.CrossEntropyLoss()
    trainer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    history: dict[str, list[float]] = {"train_loss": [], "train_acc": [], "test_acc": []}
    checkpoint = out_dir / "quickstart.ckpt"
    start = 0
    if checkpoint.exists() and not fresh:
        state = torch.load(checkpoint)
        net.load_state_dict(state["model"])
        trainer.load_state_dict(state["optimizer"])
        history = state["history"]
        start = int(state["epoch"])
        print(f"resuming from {checkpoint} after epoch {start}")
    if start >= epochs:
        print(f"already trained for {start} epochs (run with --fresh to start over, or --epochs N for more)")
    for epoch in range(start, epochs):
        net.train()
        total_loss = correct = seen = 0.0
        batches = tqdm(train_iter, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=True)
        for i, (X, y) in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            y_hat = net(X)
            loss = loss_fn(y_hat, y)
            trainer.zero_grad()
            loss.backward()
            trainer.step()
            total_loss += float(loss) * len(y)
            correct += int((y_hat.argmax(dim=1) == y).sum())
            seen += len(y)
            batches.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}", refresh=False)
        history["train_loss"].append(total_loss / seen)
        history["train_acc"].append(correct / seen)
        history["test_acc"].append(accuracy(net, test_iter))
        save_checkpoint({"model": net.state_dict(), "optimizer": trainer.state_dict(), "epoch": epoch + 1,
                         "history": history}, checkpoint)
        plot(history, out_dir / "quickstart.png")
    print(f"test accuracy {history['test_acc'][-1]:.3f}; plot: {out_dir / 'quickstart.png'}; "
          f"checkpoint: {checkpoint}")
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("EMBER_QUICKSTART_QUICK") == "1",
                        help="two short epochs (what CI runs)")
    parser.add_argument("--out-dir", type=pathlib.Path, default=pathlib.Path("quickstart_out"))
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    first_steps()
    start = time.perf_counter()
    train(2 if args.quick else args.epochs, args.out_dir, args.fresh, 5 if args.quick else None)
    print(f"trained in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
