"""ember.backends: facts about how ember was built, as in torch.backends."""
from . import cuda, mps  # noqa: F401
