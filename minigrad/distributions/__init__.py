"""minigrad.distributions: probability distributions with torch.distributions' names and semantics.

    >>> import minigrad as mg
    >>> from minigrad.distributions import Normal, Categorical, kl_divergence
    >>> q = Normal(mu, sigma); z = q.rsample()                         # reparameterized (VAE)
    >>> kl = kl_divergence(q, Normal(mg.zeros_like(mu), mg.ones_like(sigma)))
    >>> a = Categorical(logits=policy(obs)).sample()                    # score function (REINFORCE)

Every density, entropy, moment and KL is composed from minigrad's differentiable ops (no
hand-written backward here), so `.backward()` reaches the parameters. Randomness comes from
minigrad's seeded host generator (`mg.manual_seed`) and lands on the parameters' device.

Differences from torch: Gamma, Beta and Dirichlet have has_rsample=False (sample() only; torch
reparameterizes them with a special gradient kernel); LogNormal is a plain class (there is no
TransformedDistribution / transforms module); no ExponentialFamily base (so no Bregman-divergence
entropy or KL between other exponential families); KL is registered for the same-family pairs
only (torch also has cross pairs such as Normal-Laplace: those raise NotImplementedError here).
"""
from . import constraints
from .bernoulli import Bernoulli
from .beta import Beta
from .categorical import Categorical
from .dirichlet import Dirichlet
from .distribution import Distribution
from .exponential import Exponential
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .log_normal import LogNormal
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .uniform import Uniform

__all__ = [
    "Bernoulli", "Beta", "Categorical", "Dirichlet", "Distribution", "Exponential", "Gamma", "Independent",
    "Laplace", "LogNormal", "MultivariateNormal", "Normal", "OneHotCategorical", "Uniform", "constraints",
    "kl_divergence", "register_kl",
]
