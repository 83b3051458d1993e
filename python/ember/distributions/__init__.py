"""ember.distributions: sampling from the distributions D2L's probability
section uses (Multinomial, Categorical, Bernoulli, Normal, Uniform), drawn
from ember's seeded generator. Densities (log_prob) are not implemented."""
from .bernoulli import Bernoulli
from .categorical import Categorical
from .multinomial import Multinomial
from .normal import Normal
from .uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Multinomial", "Normal", "Uniform"]
