"""D2L's LeNet (section 6.6) trained on Fashion-MNIST, on ember.

    python examples/lenet_fashion_mnist.py [--root ../data] [--epochs 10] [--download]

The data path is D2L's load_data_fashion_mnist: ember.vision's FashionMNIST
reads torchvision's layout, root/FashionMNIST/raw/ (files already fetched
for torchvision are found), and --download fetches missing files. Without
the files the script says which ones to put where and exits.
"""
import argparse
import sys
import time

import ember as torch
from ember import nn
from ember.utils import data
from ember.vision import datasets, transforms


def load_data_fashion_mnist(batch_size, root, download=False, resize=None, workers=2, limit=None):
    """D2L's loader pair (train shuffled, test in order)."""
    trans = [transforms.ToTensor()]
    if resize:
        trans.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(trans)
    train = datasets.FashionMNIST(root=root, train=True, transform=trans, download=download)
    test = datasets.FashionMNIST(root=root, train=False, transform=trans, download=download)
    if limit:
        train = data.Subset(train, range(min(limit, len(train))))
        test = data.Subset(test, range(min(limit, len(test))))
    return (data.DataLoader(train, batch_size, shuffle=True, num_workers=workers),
            data.DataLoader(test, batch_size, shuffle=False, num_workers=workers))


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def accuracy(net, loader):
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for X, y in loader:
            correct += int((net(X).argmax(dim=1) == y).sum())
            total += y.numel()
    return correct / total


def train_ch6(net, train_iter, test_iter, num_epochs, lr):
    def init_weights(m):
        if type(m) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)

    net.apply(init_weights)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    for epoch in range(num_epochs):
        net.train()
        start, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        for X, y in train_iter:
            optimizer.zero_grad()
            y_hat = net(X)
            batch_loss = loss(y_hat, y)
            batch_loss.backward()
            optimizer.step()
            loss_sum += float(batch_loss) * y.numel()
            correct += int((y_hat.argmax(dim=1) == y).sum())
            seen += y.numel()
        elapsed = time.perf_counter() - start
        print(f"epoch {epoch + 1}: loss {loss_sum / seen:.3f}, train acc {correct / seen:.3f}, "
              f"test acc {accuracy(net, test_iter):.3f}, {seen / elapsed:.0f} examples/sec")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="../data", help="folder holding FashionMNIST/raw/ (default ../data, as D2L)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--download", action="store_true", help="fetch missing files from the dataset's mirrors")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.9)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images of each split")
    args = parser.parse_args(argv)
    try:
        train_iter, test_iter = load_data_fashion_mnist(args.batch_size, args.root, args.download,
                                                        workers=args.workers, limit=args.limit)
    except RuntimeError as err:
        names = ", ".join(name for name, _ in datasets.FashionMNIST.resources)
        how = "" if args.download else "run again with --download to fetch them, or "
        print(f"{err}\n\nFashion-MNIST is four files ({names}) from {datasets.FashionMNIST.mirrors[0]}: "
              f"{how}place them in {args.root}/FashionMNIST/raw/ yourself (files downloaded for "
              "torchvision work as they are).", file=sys.stderr)
        return 1
    torch.manual_seed(0)
    train_ch6(lenet(), train_iter, test_iter, args.epochs, args.lr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
