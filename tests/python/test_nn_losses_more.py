"""NLL, BCE and BCE-with-logits losses, one_hot and Embedding against PyTorch:
values and gradients on the same inputs, and PyTorch's errors."""
import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(0)


def _pair(a, requires_grad=True):
    return ember.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def _close(e, t, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


def _check(fe, ft, inputs, rtol=1e-5, atol=1e-6):
    """Same loss and same gradients for every input that requires grad."""
    pairs = [_pair(a, rg) for a, rg in inputs]
    le = fe(*[p[0] for p in pairs])
    lt = ft(*[p[1] for p in pairs])
    _close(le, lt, rtol, atol)
    (le * ember.tensor(np.linspace(1, 2, max(le.numel(), 1)).reshape(tuple(le.shape)).astype(np.float32))).sum() \
        .backward()
    (lt * torch.tensor(np.linspace(1, 2, max(lt.numel(), 1)).reshape(tuple(lt.shape)).astype(np.float32))).sum() \
        .backward()
    for (e, t), (_, rg) in zip(pairs, inputs):
        if rg:
            _close(e.grad, t.grad, rtol, atol)


LOGP = np.log(RNG.dirichlet(np.ones(5), size=6)).astype(np.float32)
TARGET = RNG.integers(0, 5, 6)
TARGET_IGNORED = np.where(np.arange(6) % 3 == 0, -100, TARGET)
WEIGHT = RNG.uniform(0.5, 2, 5).astype(np.float32)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target", [TARGET, TARGET_IGNORED])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, target, weighted):
    t = target.astype(np.int64)
    we, wt = (ember.tensor(WEIGHT), torch.tensor(WEIGHT)) if weighted else (None, None)
    _check(lambda x: F.nll_loss(x, ember.tensor(t), weight=we, reduction=reduction),
           lambda x: TF.nll_loss(x, torch.tensor(t), weight=wt, reduction=reduction), [(LOGP, True)])
    _check(lambda x: nn.NLLLoss(weight=we, reduction=reduction)(x, ember.tensor(t)),
           lambda x: torch.nn.NLLLoss(weight=wt, reduction=reduction)(x, torch.tensor(t)), [(LOGP, True)])


def test_nll_loss_spatial_unbatched_and_custom_ignore_index():
    x = np.ascontiguousarray(np.log(RNG.dirichlet(np.ones(3), size=(2, 4, 5))).transpose(0, 3, 1, 2), np.float32)
    t = RNG.integers(0, 3, (2, 4, 5))
    for reduction in ("mean", "none"):
        _check(lambda a: F.nll_loss(a, ember.tensor(t), reduction=reduction, ignore_index=1),
               lambda a: TF.nll_loss(a, torch.tensor(t), reduction=reduction, ignore_index=1), [(x, True)])
    _check(lambda a: F.nll_loss(a, ember.tensor(2)), lambda a: TF.nll_loss(a, torch.tensor(2)), [(LOGP[0], True)])
    # every target ignored: the mean is nan, as in PyTorch
    assert np.isnan(F.nll_loss(ember.tensor(LOGP), ember.full((6,), -100)).item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_grad_fn_name_matches_pytorch(reduction):
    e = F.nll_loss(ember.tensor(LOGP, requires_grad=True), ember.tensor(TARGET), reduction=reduction)
    t = TF.nll_loss(torch.tensor(LOGP, requires_grad=True), torch.tensor(TARGET), reduction=reduction)
    assert type(e.grad_fn).__name__ == type(t.grad_fn).__name__ == "NllLossBackward0"


def test_nll_loss_errors():
    x = ember.tensor(LOGP)
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        F.nll_loss(x, ember.tensor([0, 5, 1, 1, 1, 1]))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Float"):
        F.nll_loss(x, ember.zeros(6))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(6\) to match target batch_size \(2\)"):
        F.nll_loss(x, ember.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 5 classes"):
        F.nll_loss(x, ember.tensor(TARGET), weight=ember.ones(3))
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.nll_loss(x, ember.tensor(TARGET), reduction="avg")


PROBS = RNG.uniform(0.02, 0.98, (4, 3)).astype(np.float32)
LABELS = (RNG.uniform(size=(4, 3)) > 0.5).astype(np.float32)
SOFT = RNG.uniform(size=(4, 3)).astype(np.float32)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight", [None, RNG.uniform(0.5, 2, (4, 3)).astype(np.float32),
                                    RNG.uniform(0.5, 2, (3,)).astype(np.float32)])
def test_binary_cross_entropy(reduction, weight):
    we, wt = (None, None) if weight is None else (ember.tensor(weight), torch.tensor(weight))
    _check(lambda x, y: F.binary_cross_entropy(x, y, weight=we, reduction=reduction),
           lambda x, y: TF.binary_cross_entropy(x, y, weight=wt, reduction=reduction),
           [(PROBS, True), (SOFT, True)])
    _check(lambda x, y: nn.BCELoss(weight=we, reduction=reduction)(x, y),
           lambda x, y: torch.nn.BCELoss(weight=wt, reduction=reduction)(x, y), [(PROBS, True), (LABELS, False)])


def test_binary_cross_entropy_at_zero_and_one_matches_pytorch():
    x = np.array([0.0, 1.0, 0.3, 1.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    _check(lambda a, b: F.binary_cross_entropy(a, b), lambda a, b: TF.binary_cross_entropy(a, b),
           [(x, True), (y, False)], rtol=1e-4)


def test_binary_cross_entropy_errors():
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(ember.tensor([0.5, 1.5]), ember.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="Using a target size .* that is different to the input size"):
        F.binary_cross_entropy(ember.tensor([0.5, 0.5]), ember.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"Target size \(ember.Size\(\[3\]\)\) must be the same as input size"):
        F.binary_cross_entropy_with_logits(ember.tensor([0.5, 0.5]), ember.tensor([0.0, 1.0, 1.0]))


LOGITS = (RNG.normal(size=(4, 3)) * 4).astype(np.float32)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pos_weight", [None, np.array([0.5, 2.0, 3.0], np.float32)])
@pytest.mark.parametrize("weight", [None, RNG.uniform(0.5, 2, (4, 3)).astype(np.float32)])
def test_binary_cross_entropy_with_logits(reduction, pos_weight, weight):
    pe, pt = (None, None) if pos_weight is None else (ember.tensor(pos_weight), torch.tensor(pos_weight))
    we, wt = (None, None) if weight is None else (ember.tensor(weight), torch.tensor(weight))
    _check(lambda x, y: F.binary_cross_entropy_with_logits(x, y, we, reduction=reduction, pos_weight=pe),
           lambda x, y: TF.binary_cross_entropy_with_logits(x, y, wt, reduction=reduction, pos_weight=pt),
           [(LOGITS, True), (SOFT, True)])
    _check(lambda x, y: nn.BCEWithLogitsLoss(we, reduction=reduction, pos_weight=pe)(x, y),
           lambda x, y: torch.nn.BCEWithLogitsLoss(wt, reduction=reduction, pos_weight=pt)(x, y),
           [(LOGITS, True), (LABELS, False)])


def test_binary_cross_entropy_with_logits_is_stable_for_large_logits():
    x = np.array([-200.0, -50.0, 50.0, 200.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    _check(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
           lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction="none"), [(x, True), (y, False)])
    assert np.isfinite(F.binary_cross_entropy_with_logits(ember.tensor(x), ember.tensor(y)).item())


def test_bce_modules_register_weights_as_buffers():
    m = nn.BCEWithLogitsLoss(weight=ember.ones(3), pos_weight=ember.ones(3))
    assert set(m.state_dict()) == {"weight", "pos_weight"}
    assert set(nn.NLLLoss(weight=ember.ones(3)).state_dict()) == {"weight"}


@pytest.mark.parametrize("shape, num_classes", [((5,), -1), ((2, 3), 7), ((0,), 3), ((), 4)])
def test_one_hot(shape, num_classes):
    idx = RNG.integers(0, 4, shape)
    e = F.one_hot(ember.tensor(idx, dtype=ember.int64), num_classes)
    t = TF.one_hot(torch.tensor(idx, dtype=torch.int64), num_classes)
    assert e.dtype == ember.int64 and tuple(e.shape) == tuple(t.shape)
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_one_hot_errors():
    with pytest.raises(RuntimeError, match="one_hot is only applicable to index tensor of type LongTensor"):
        F.one_hot(ember.tensor([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="Class values must be non-negative"):
        F.one_hot(ember.tensor([0, -1]))
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        F.one_hot(ember.tensor([0, 3]), 3)
    with pytest.raises(RuntimeError, match="Can not infer total number of classes from empty tensor"):
        F.one_hot(ember.zeros(0, dtype=ember.int64))


def _embedding_pair(**kwargs):
    w = RNG.normal(size=(6, 3)).astype(np.float32)
    e = nn.Embedding(6, 3, **kwargs)
    t = torch.nn.Embedding(6, 3, **kwargs)
    with ember.no_grad():
        e.weight.copy_(ember.tensor(w))
    with torch.no_grad():
        t.weight.copy_(torch.tensor(w))
    return e, t


@pytest.mark.parametrize("kwargs", [dict(), dict(padding_idx=0), dict(padding_idx=-1), dict(max_norm=1.0),
                                    dict(max_norm=0.5, norm_type=1.0, padding_idx=2)])
def test_embedding_forward_backward(kwargs):
    e, t = _embedding_pair(**kwargs)
    idx = np.array([[0, 2, 5, 2], [1, 0, 5, 3]])
    ye, yt = e(ember.tensor(idx)), t(torch.tensor(idx))
    _close(ye, yt)
    (ye * ye).sum().backward()
    (yt * yt).sum().backward()
    _close(e.weight.grad, t.weight.grad)
    _close(e.weight, t.weight)  # max_norm renormalized the same rows in place
    assert repr(e) == repr(t)


def test_embedding_init_padding_and_from_pretrained():
    e = nn.Embedding(10, 4, padding_idx=3)
    assert e.weight.shape == (10, 4) and float(e.weight[3].abs().sum()) == 0.0
    assert 0.5 < float(e.weight.std()) < 1.5
    w = ember.tensor(RNG.normal(size=(4, 2)).astype(np.float32))
    frozen = nn.Embedding.from_pretrained(w)
    assert not frozen.weight.requires_grad and frozen(ember.tensor([1])).tolist() == [w[1].tolist()]
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    y = F.embedding(ember.tensor([[1, 1]]), w)
    assert y.shape == (1, 2, 2)


def test_embedding_errors():
    e = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match="index out of range in self"):
        e(ember.tensor([5]))
    with pytest.raises(IndexError, match="index out of range in self"):
        e(ember.tensor([-1]))
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices' to have one of the following"):
        e(ember.tensor([1.0]))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_grad_fn_names_match_pytorch(reduction):
    x, y = ember.tensor(LOGITS, requires_grad=True), ember.tensor(SOFT)
    tx, ty = torch.tensor(LOGITS, requires_grad=True), torch.tensor(SOFT)
    for fe, ft in ((F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits),
                   (lambda a, b, **k: F.binary_cross_entropy(a.sigmoid(), b, **k),
                    lambda a, b, **k: TF.binary_cross_entropy(a.sigmoid(), b, **k))):
        assert type(fe(x, y, reduction=reduction).grad_fn).__name__ == \
            type(ft(tx, ty, reduction=reduction).grad_fn).__name__


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_gradients_for_weights_pass_gradcheck(reduction):
    """PyTorch refuses gradients for weight and pos_weight; ember gives them
    (documented), checked here against finite differences."""
    def leaf(a):
        return ember.tensor(a.astype(np.float64), requires_grad=True)
    x, t = leaf(LOGITS[:2]), leaf(SOFT[:2])
    w, pw = leaf(RNG.uniform(0.5, 2, (2, 3))), leaf(np.array([0.5, 2.0, 3.0]))
    assert ember.autograd.gradcheck(
        lambda a, b, c, d: F.binary_cross_entropy_with_logits(a, b, c, reduction=reduction, pos_weight=d),
        (x, t, w, pw))
    p = leaf(PROBS[:2])
    assert ember.autograd.gradcheck(lambda a, b, c: F.binary_cross_entropy(a, b, c, reduction=reduction), (p, t, w))
