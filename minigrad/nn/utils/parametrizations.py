"""Ready-made parametrizations (torch.nn.utils.parametrizations): weight_norm, spectral_norm, orthogonal.

    m = nn.utils.parametrizations.weight_norm(nn.Linear(20, 40))
    m.parametrizations.weight.original0   # g [40, 1]   (state_dict key parametrizations.weight.original0)
    m.parametrizations.weight.original1   # v [40, 20]  (state_dict key parametrizations.weight.original1)
    m.weight                              # g * v / ||v||, computed on each access

    D = nn.utils.parametrizations.spectral_norm(nn.Linear(20, 40))
    D.weight                              # W / sigma(W); one power step per access in training mode

    Q = nn.utils.parametrizations.orthogonal(nn.Linear(5, 5))
    Q.weight.T @ Q.weight                 # the identity

All are `register_parametrization` (see parametrize.py) with the modules below, so
`remove_parametrizations(m, "weight")` undoes them and `parametrize.cached()` applies.
"""
from __future__ import annotations

from enum import Enum, auto

from ... import backend as _B
from ... import functional as F
from ... import linalg as _linalg
from ...autograd import no_grad
from ...factory import eye, randn, zeros_like
from ...ops.shape import cat
from ...tensor import Tensor
from ..module import Module
from . import parametrize
from .spectral_norm import _as_matrix, _output_dim
from .weight_norm import _weight_norm, norm_except_dim

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


class _WeightNorm(Module):
    """(g, v) -> g * v / ||v|| (the norm over every dim but `dim`); right_inverse: w -> (||w||, w)."""

    def __init__(self, dim: int | None = 0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalization as a parametrization: `module.<name>` = g * v / ||v||, computed on access.

    g (the magnitude, `parametrizations.<name>.original0`) and v (the direction,
    `parametrizations.<name>.original1`) are the parameters; gradients reach both. The
    same math as the legacy `nn.utils.weight_norm` (there: `<name>_g`, `<name>_v`).

    Args:
        module: the module holding the parameter.
        name: the parameter's name.
        dim: the dim kept by the norm (0: one norm per output unit); None for the whole tensor.

    Returns:
        `module` (now a `Parametrized<Class>`).

    Unlike torch, a state_dict saved with the legacy keys (`weight_g`, `weight_v`) is not
    converted on load (minigrad's Module has no load_state_dict pre-hooks): rename the keys to
    `parametrizations.weight.original0/1` first.
    """
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    """W -> W / sigma(W), sigma estimated by power iteration with the buffers _u, _v (torch's module).

    A 1-d weight is simply divided by its norm. Otherwise the weight is viewed as a matrix
    [W.shape[dim], -1]; at construction u, v start as random unit vectors refined by 15 power
    steps, and each forward in training mode runs `n_power_iterations` more (updating _u, _v
    in place). sigma = u . (W v) with u, v taken as constants (cloned), so the gradient flows
    through W only.
    """

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:  # (a vector needs no estimate: see forward)
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            with no_grad():
                u = weight_mat.new_empty(h).normal_(0, 1)
                v = weight_mat.new_empty(w).normal_(0, 1)
                self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
                self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            # start from a reasonable estimate
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        return _as_matrix(weight, self.dim)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        """u <- W v / |W v|, v <- W^T u / |W^T u|, n times, written into the buffers in place (their state
        must persist, and a module copy sharing them sees the update)."""
        with no_grad():
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(weight_mat.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(weight_mat.t().mv(self._u), dim=0, eps=self.eps))  # (real: W^H = W^T)

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)  # exact: sigma of a vector is its norm
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        # copies: a second forward's in-place update must not change what this graph saved (e.g. a GAN's
        # D(real) - D(fake) backpropagates through two forwards)
        u, v = self._u.clone(), self._v.clone()
        sigma = u.vdot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value  # (the value is stored as it is; it need not have sigma 1)


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Spectral normalization as a parametrization: `module.<name>` = W / sigma(W), computed on access.

    W is `parametrizations.<name>.original`; the power-iteration vectors are the buffers
    `parametrizations.<name>.0._u` and `._v` (in the state_dict, so loading torch's state gives
    the same weights). Each access in training mode runs `n_power_iterations` power steps
    (use `parametrize.cached()` to compute the weight once for several uses); in eval mode none.

    Args:
        module: the module holding the parameter.
        name: the parameter's name.
        n_power_iterations: power steps per access in training mode (>= 1).
        eps: floor of the norms when u and v are normalized.
        dim: the output dim (rows of the matrix); default 0, 1 for ConvTranspose layers.

    Returns:
        `module` (now a `Parametrized<Class>`).
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = _output_dim(module)
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ---------------------------------------------------------------- orthogonal
def _is_orthogonal(Q: Tensor) -> bool:
    """Q^T Q == I up to 10 n eps (torch's test)."""
    n, k = Q.shape[-2], Q.shape[-1]
    Id = eye(k, dtype=Q.dtype, device=Q.device)
    eps = 10.0 * n * float(_B.np.finfo(Q.dtype).eps)
    return bool((Q.mT @ Q).allclose(Id, atol=eps))


def _make_orthogonal(A: Tensor) -> Tensor:
    """The Q of A = QR (A tall) with diag(R) >= 0: the unique such factor (torch's, which uses geqrf)."""
    Q, R = _linalg.qr(A)
    return Q * R.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


def _householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """The first k columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T, v_i = (0.., 1, A[i+1:, i]) (torch.linalg's).

    Composed (differentiable): the reflectors are applied, last first, to the first k columns of I.
    """
    n, k = A.shape[-2], A.shape[-1]
    xp = _B.get_array_module(A.data)
    rows = xp.arange(n)
    M = eye(n, k, dtype=A.dtype, device=A.device)
    for i in reversed(range(k)):
        below = Tensor(xp.asarray(rows > i, dtype=A.data.dtype))  # A's entries under the diagonal ...
        unit = Tensor(xp.asarray(rows == i, dtype=A.data.dtype))  # ... and the implicit 1 on it
        v = (A[..., :, i] * below + unit).unsqueeze(-1)  # [..., n, 1]
        M = M - tau[..., i].unsqueeze(-1).unsqueeze(-1) * (v @ (v.mT @ M))
    return M


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    """X -> an orthogonal Q (Q^T Q = I for tall, Q Q^T = I for wide matrices), torch's parametrization.

    matrix_exp / cayley: A = tril(X) - tril(X)^T (skew-symmetric) and Q = exp(A) or
    (I + A/2)(I - A/2)^-1, first k columns; householder: the product of the reflectors in X's
    strictly lower part. With use_trivialization (default) Q is `base @ Q`, base an orthogonal
    buffer that `right_inverse` sets (so assigning an orthogonal matrix stores it there).
    """

    def __init__(self, weight: Tensor, orthogonal_map: _OrthMaps, *, use_trivialization: bool = True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            X = X.tril()  # n k - k (k - 1) / 2 free entries
            if n != k:  # embedded into a square matrix
                X = cat([X, X.new_zeros(n, n - k).expand(*X.shape[:-2], -1, -1)], dim=-1)
            A = X - X.mT  # skew-symmetric
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = _linalg.matrix_exp(A)
            else:  # the Cayley map (I + A/2)(I - A/2)^-1, as torch computes it: solve((I - A/2), (I + A/2))
                Id = eye(n, dtype=A.dtype, device=A.device)
                Q = _linalg.solve(Id - 0.5 * A, Id + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = _householder_product(A, tau)
            # X's diagonal (+-1) picks the signs; not differentiated (torch casts it to int)
            Q = Q * X.diagonal(dim1=-2, dim2=-1).detach().trunc().unsqueeze(-2)
        if hasattr(self, "base"):
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        with no_grad():
            if Q.shape != self.shape:
                raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                                 f"Got a tensor of shape {Q.shape}.")
            Q_init = Q
            n, k = Q.shape[-2], Q.shape[-1]
            transpose = n < k
            if transpose:
                Q = Q.mT
                n, k = k, n
            if not hasattr(self, "base"):
                if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                    raise NotImplementedError("It is not possible to assign to the matrix exponential "
                                              "or the Cayley parametrizations when use_trivialization=False.")
                raise NotImplementedError("orthogonal: assigning to the householder parametrization with "
                                          "use_trivialization=False needs torch.geqrf, which minigrad lacks")
            if n == k:
                Q = _make_orthogonal(Q) if not _is_orthogonal(Q) else Q.clone()
            else:  # completed to a full n x n orthogonal matrix with random columns
                N = randn(*(tuple(Q.shape[:-2]) + (n, n - k)), dtype=Q.dtype, device=Q.device)
                Q = _make_orthogonal(cat([Q, N], dim=-1))
            self.base = Q
            # -I: householder(zeros) with diagonal -1 is the identity, and the other maps give I at X = 0
            # (torch fills a diagonal view of zeros; here -I is built out of place, broadcast over the batch)
            return zeros_like(Q_init) - eye(Q_init.shape[-2], Q_init.shape[-1], dtype=Q_init.dtype,
                                            device=Q_init.device)


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> Module:
    """Make `module.<name>` (a matrix or batch of matrices) orthogonal, as torch's parametrization.

    Args:
        module: the module holding the tensor.
        name: its name.
        orthogonal_map: "matrix_exp", "cayley" or "householder"; default "matrix_exp" for square
            matrices, "householder" otherwise.
        use_trivialization: keep an orthogonal `base` buffer (`parametrizations.<name>.0.base`) that Q
            multiplies (torch's dynamic trivialization); the initial Q is the weight orthogonalized by QR.

    Returns:
        `module` (now a `Parametrized<Class>`).

    Not supported (a NotImplementedError): orthogonal_map="householder" with use_trivialization=False,
    whose right_inverse needs torch.geqrf.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    orth_enum = getattr(_OrthMaps, orthogonal_map, None) if isinstance(orthogonal_map, str) else None
    if orth_enum is None:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    if orth_enum == _OrthMaps.householder and not use_trivialization:
        raise NotImplementedError("orthogonal: orthogonal_map='householder' with use_trivialization=False needs "
                                  "torch.geqrf (a QR in LAPACK's compact form), which minigrad lacks; use "
                                  "use_trivialization=True (the default) or another orthogonal_map")
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
