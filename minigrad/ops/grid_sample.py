"""Spatial transformers: `affine_grid` (where to sample) and `grid_sample` (sample there), torch's semantics.

A grid holds, for every output pixel, a point (x, y) of the input in normalised coordinates:
-1 is the left/top edge and +1 the right/bottom one. With align_corners=True these are the
centres of the corner pixels, so the pixel index is

    ix = (x + 1) / 2 * (W - 1)                     (align_corners=True)
    ix = ((x + 1) * W - 1) / 2                     (align_corners=False: -1 and +1 are the outer pixel edges)

and likewise iy with H. A point outside the image is read as 0 (padding_mode='zeros'), at the
nearest edge pixel ('border': ix clipped into [0, W-1]) or mirrored at the edges ('reflection',
then clipped). 'bilinear' mixes the four pixels around (ix, iy) with weights given by the
distances; 'nearest' reads the pixel at rint(ix), rint(iy) (round half to even, as torch).

Everything is vectorised over all output points at once: the four corner reads are gathers
from the flattened image, and the input gradient scatters them back (`backend.scatter_add`,
which is `np.add.at` / `cupyx.scatter_add`). The grid gradient is the derivative of the
bilinear weights times d(ix)/dx, which is the unnormalising scale, 0 where 'border' or
'reflection' clipped the point, and -1 on a mirrored stretch. As in torch's CPU kernel, a
point exactly on a clipping edge counts as clipped (zero gradient), and at an integer ix
the gradient is the one-sided one of the cell to its right.

Only 4-D inputs (N, C, H, W) are supported; mode='bicubic' and 5-D (volumetric) inputs raise
NotImplementedError.
"""
from __future__ import annotations

import numbers
import warnings

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor
from .common import check_float, describe, quiet
from .. import amp as _amp

np = _B.np  # dtypes and the host-side base grid only
get_xp = _B.get_array_module

__all__ = ["affine_grid", "grid_sample", "AffineGrid", "GridSample"]

_MODES = ("bilinear", "nearest", "bicubic")
_PADDING_MODES = ("zeros", "border", "reflection")


# ---------------------------------------------------------------- affine_grid
def _linspace_from_neg_one(steps: int, align_corners: bool):
    """torch's linspace_from_neg_one: `steps` points from -1 to 1 (pixel centres when not align_corners)."""
    if steps <= 1:
        return np.zeros(1)
    i = np.arange(steps, dtype=np.float64)
    step = 2.0 / (steps - 1)
    # torch's linspace: the first half counts up from -1, the second half down from +1
    r = np.where(i < steps // 2, -1.0 + step * i, 1.0 - step * (steps - 1 - i))
    return r if align_corners else r * (steps - 1) / steps


class AffineGrid(Function):
    """grid[n, h, w, :] = theta[n] @ (x_w, y_h, 1);  dtheta[n] = sum_{h,w} dgrid[n, h, w, :] (x_w, y_h, 1)^T"""

    @staticmethod
    def forward(ctx, theta, base, hw):
        xp = get_xp(theta)
        ctx.base = base  # (H*W, 3) constant rows (x, y, 1)
        grid = xp.matmul(base, xp.swapaxes(theta, 1, 2))  # (N, H*W, 2)
        return grid.reshape((theta.shape[0],) + tuple(hw) + (2,))

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        base = ctx.base
        g = g.reshape(g.shape[0], base.shape[0], 2)  # (N, H*W, 2)
        return xp.matmul(xp.swapaxes(g, 1, 2), base)  # (N, 2, 3)


def _int_size(op, size):
    try:
        items = tuple(size)
    except TypeError:
        raise TypeError(f"{op}: size must be a sequence of ints (N, C, H, W), got {size!r}") from None
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{op}: size must hold ints (N, C, H, W), got {size!r}")
    return tuple(int(v) for v in items)


def affine_grid(theta, size, align_corners=None):
    """torch.nn.functional.affine_grid for 2-D transforms: the sampling grid of a batch of affine maps.

    Args:
        theta: (N, 2, 3) floating-point tensor; theta[n] maps output coordinates (x, y, 1) to
            input coordinates, all normalised to [-1, 1].
        size: the target output size (N, C, H, W) (e.g. `x.size()`).
        align_corners: as in `grid_sample` (use the same value for both); None means False (torch's
            default, which torch announces with a warning).

    Returns:
        The grid (N, H, W, 2) of theta's dtype and device: grid[n, h, w] = theta[n] @ (x_w, y_h, 1),
        with x_w, y_h evenly spaced over [-1, 1] (pixel centres unless align_corners).
    """
    op = "affine_grid"
    if not isinstance(theta, Tensor):
        raise TypeError(f"{op}: theta must be a minigrad Tensor, got {type(theta).__name__}")
    check_float(op, theta)
    align_corners = False if align_corners is None else bool(align_corners)
    size = _int_size(op, size)
    if len(size) == 5:
        raise NotImplementedError(f"{op}: 3-D affine grids (a 5-D size {size}) are not implemented in minigrad; "
                                  "only 4-D sizes (N, C, H, W)")
    if len(size) != 4:
        raise ValueError(f"{op}: expected a 4-D size (N, C, H, W), got {size}")
    if theta.data.ndim != 3 or theta.data.shape[1:] != (2, 3):
        raise ValueError(f"{op}: expected a batch of 2D affine matrices of shape Nx2x3 for size {size}, "
                         f"got theta {describe(theta)}")
    n, _, h, w = size
    if min(size) <= 0:
        raise ValueError(f"{op}: expected a positive output size, got {size}")
    if theta.data.shape[0] != n:
        raise ValueError(f"{op}: theta {describe(theta)} holds {theta.data.shape[0]} matrices but size {size} "
                         f"asks for a batch of {n}")
    if align_corners and min(h, w) == 1:
        warnings.warn(f"{op}: with align_corners=True a unit-size grid side has its single point at 0 "
                      "(torch's behaviour since 1.3.0); this is not an intended use of affine_grid", UserWarning,
                      stacklevel=2)
    xs, ys = _linspace_from_neg_one(w, align_corners), _linspace_from_neg_one(h, align_corners)
    base = np.stack([np.broadcast_to(xs[None, :], (h, w)), np.broadcast_to(ys[:, None], (h, w)),
                     np.ones((h, w))], axis=-1).reshape(h * w, 3).astype(theta.data.dtype)
    base = _B.to_device(base, theta.device)
    return AffineGrid.apply(theta, base=base, hw=(h, w))


# ---------------------------------------------------------------- grid_sample: source indices
def _clip(xp, v, size):
    """v clipped into [0, size-1]; NaN becomes 0 (fmax ignores NaN, as torch's clamp does here)."""
    return xp.fmin(xp.fmax(v, 0.0), size - 1.0)


def _clip_grad(v, size, dtype):
    """d clip(v)/dv: 1 strictly inside (0, size-1), else 0 (torch counts the edges as clipped)."""
    return ((v > 0.0) & (v < size - 1.0)).astype(dtype)


def _reflect(xp, v, size, align_corners):
    """(v mirrored into [low, low + span], d/dv = +-1), torch's reflect_coordinates."""
    if align_corners:
        if size <= 1:  # an empty span: every point reflects onto 0
            return xp.zeros_like(v), xp.zeros_like(v)
        low, twice_span = 0.0, 2.0 * (size - 1)  # mirror at the corner pixels' centres
    else:
        low, twice_span = -0.5, 2.0 * size  # mirror at the outer pixel edges
    d = v - low
    a = xp.abs(d)
    extra = a - xp.trunc(a / twice_span) * twice_span  # |d| modulo a there-and-back
    flipped = twice_span - extra
    back = extra > flipped  # on the way back: one more mirror image
    sign = xp.where(back ^ (d < 0.0), -1.0, 1.0).astype(v.dtype)
    return xp.where(back, flipped, extra) + low, sign


def _source_index(xp, coord, size, padding_mode, align_corners):
    """(pixel index, d index / d unnormalised index (None for 'zeros': 1), the unnormalising scale) for
    normalised coordinates along one axis of `size` pixels."""
    scale = (size - 1) / 2.0 if align_corners else size / 2.0
    v = (coord + 1.0) * scale
    if not align_corners:
        v = v - 0.5
    if padding_mode == "zeros":
        return v, None, scale  # the multiplier is the constant scale
    mult = None
    if padding_mode == "reflection":
        v, mult = _reflect(xp, v, size, align_corners)
    clip_grad = _clip_grad(v, size, v.dtype)
    v = _clip(xp, v, size)
    mult = clip_grad if mult is None else mult * clip_grad
    return v, mult, scale


def _corner(xp, yi, xi, h, w):
    """(flat index into an H*W image, inside mask) of the pixels (yi, xi) given as floats; outside reads index 0."""
    inside = (xi > -1.0) & (xi < w) & (yi > -1.0) & (yi < h)  # (NaN compares False: outside)
    yi = xp.where(inside, yi, 0.0).astype(np.int64)
    xi = xp.where(inside, xi, 0.0).astype(np.int64)
    return yi * w + xi, inside


def _gather(xp, xflat, flat, inside):
    """x[n, c, flat[n, p]] (0 where not inside) as (N, C, P)."""
    n, c = xflat.shape[:2]
    idx = xp.broadcast_to(flat[:, None, :], (n, c, flat.shape[1]))
    vals = xp.take_along_axis(xflat, idx, axis=2)
    return xp.where(inside[:, None, :], vals, 0.0)


def _plan(xp, grid, hw, mode, padding_mode, align_corners):
    """The corners every output point reads: [(flat index (N, P), inside (N, P), weight (N, P))], plus
    what the grid gradient needs: (tx, ty, mult_x, mult_y)."""
    n = grid.shape[0]
    h, w = hw
    g = grid.reshape(n, grid.shape[1] * grid.shape[2], 2)  # (N, P, 2); explicit sizes: N or P may be 0
    ix, mult_x, scale_x = _source_index(xp, g[..., 0], w, padding_mode, align_corners)
    iy, mult_y, scale_y = _source_index(xp, g[..., 1], h, padding_mode, align_corners)
    if mode == "nearest":
        flat, inside = _corner(xp, xp.rint(iy), xp.rint(ix), h, w)
        return [(flat, inside, None)], None
    x0, y0 = xp.floor(ix), xp.floor(iy)
    tx, ty = ix - x0, iy - y0  # distances to the west / north neighbour
    ex, sy = 1.0 - tx, 1.0 - ty  # ... and to the east / south one
    corners = []
    for yi, xi, weight in ((y0, x0, sy * ex), (y0, x0 + 1.0, sy * tx), (y0 + 1.0, x0, ty * ex),
                           (y0 + 1.0, x0 + 1.0, ty * tx)):  # nw, ne, sw, se: torch's order of the sum
        flat, inside = _corner(xp, yi, xi, h, w)
        corners.append((flat, inside, weight))
    mult_x = scale_x if mult_x is None else mult_x * scale_x
    mult_y = scale_y if mult_y is None else mult_y * scale_y
    return corners, (tx, ty, mult_x, mult_y)


class GridSample(Function):
    """y[n, c, p] = sum_k w_k(grid[n, p]) x[n, c, corner_k];  dx[corner_k] += w_k dy,  dgrid = sum_c dy dw/dgrid . x

    The weights w_k are bilinear in the source index (one corner of weight 1 for 'nearest', whose
    grid gradient is zero).
    """

    @staticmethod
    def forward(ctx, x, grid, mode, padding_mode, align_corners):
        xp = get_xp(x)
        n, c, h, w = x.shape
        out_hw = grid.shape[1:3]
        with quiet():  # NaN / inf points give NaN weights or index 0, as in torch, without NumPy's warnings
            corners, _ = _plan(xp, grid, (h, w), mode, padding_mode, align_corners)
        xflat = x.reshape(n, c, h * w)
        y = None
        for flat, inside, weight in corners:
            term = _gather(xp, xflat, flat, inside)
            if weight is not None:
                term = term * weight[:, None, :]
            y = term if y is None else y + term
        ctx.save_for_backward(x, grid)
        ctx.conf = (mode, padding_mode, align_corners)
        return y.reshape((n, c) + tuple(out_hw))

    @staticmethod
    def backward(ctx, g):
        x, grid = ctx.saved
        mode, padding_mode, align_corners = ctx.conf
        xp = get_xp(g)
        n, c, h, w = x.shape
        with quiet():
            corners, dgeom = _plan(xp, grid, (h, w), mode, padding_mode, align_corners)
        g = g.reshape(n, c, grid.shape[1] * grid.shape[2])  # (N, C, P)
        gx = ggrid = None
        if ctx.needs_input_grad[0]:
            # each output point adds w_k * dy to the corners it read: a scatter per corner over flat (n, c, pixel)
            gx = xp.zeros(n * c * h * w, dtype=g.dtype)
            plane = (xp.arange(n * c, dtype=np.int64) * (h * w)).reshape(n, c, 1)
            for flat, inside, weight in corners:
                part = g if weight is None else g * weight[:, None, :]
                part = xp.where(inside[:, None, :], part, 0.0)  # outside reads add nothing (index 0 gets +0)
                _B.scatter_add(gx, (plane + flat[:, None, :]).reshape(-1), part.reshape(-1))
            gx = gx.reshape(x.shape)
        if ctx.needs_input_grad[1]:
            if mode == "nearest":  # piecewise constant in the grid: torch returns zeros
                ggrid = xp.zeros_like(grid)
            else:
                tx, ty, mult_x, mult_y = dgeom
                xflat = x.reshape(n, c, h * w)
                nw, ne, sw, se = (_gather(xp, xflat, flat, inside) for flat, inside, _ in corners)
                ex, sy = (1.0 - tx)[:, None, :], (1.0 - ty)[:, None, :]
                tx, ty = tx[:, None, :], ty[:, None, :]
                # d y / d ix = (ne - nw)(1 - ty) + (se - sw) ty;  d y / d iy = (sw - nw)(1 - tx) + (se - ne) tx
                dix = (g * ((ne - nw) * sy + (se - sw) * ty)).sum(axis=1)
                diy = (g * ((sw - nw) * ex + (se - ne) * tx)).sum(axis=1)
                ggrid = xp.stack([dix * mult_x, diy * mult_y], axis=-1).reshape(grid.shape)
        return gx, ggrid


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):  # noqa: A002
    """torch.nn.functional.grid_sample for 4-D inputs: read `input` at the points of `grid`.

    Args:
        input: (N, C, H, W) floating-point tensor.
        grid: (N, H_out, W_out, 2) tensor of input's dtype and device; grid[n, h, w] = (x, y) in
            normalised coordinates (-1: left/top, +1: right/bottom; x indexes W, y indexes H).
        mode: 'bilinear' or 'nearest' ('bicubic' raises NotImplementedError).
        padding_mode: what points outside the image read: 'zeros', 'border' (the nearest edge
            pixel) or 'reflection' (the image mirrored at its edges).
        align_corners: True: -1 and +1 are the centres of the corner pixels; False: their outer
            edges (resolution-independent). None means False (torch's default, which torch
            announces with a warning).

    Returns:
        (N, C, H_out, W_out): differentiable with respect to input and grid (the grid gradient
        is zero for 'nearest', as in torch).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py: CUDA promote, CPU float32)
        return _amp.run("grid_sample", grid_sample, input, grid, mode=mode, padding_mode=padding_mode,
                        align_corners=align_corners)
    op = "grid_sample"
    for name, t in (("input", input), ("grid", grid)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a minigrad Tensor, got {type(t).__name__}")
        check_float(op, t)
    if mode not in _MODES:
        raise ValueError(f"{op}: expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: {mode!r}")
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"{op}: expected padding_mode to be 'zeros', 'border', or 'reflection', "
                         f"but got: {padding_mode!r}")
    align_corners = False if align_corners is None else bool(align_corners)
    if input.device != grid.device:
        raise RuntimeError(f"{op}: expected input and grid on the same device, got input {describe(input)} and "
                           f"grid {describe(grid)}")
    if input.data.dtype != grid.data.dtype:
        raise TypeError(f"{op}: expected input and grid of the same dtype, got input {describe(input)} and "
                        f"grid {describe(grid)} (minigrad never casts silently; use .float() or .double())")
    if input.data.ndim == 5 and grid.data.ndim == 5:
        raise NotImplementedError(f"{op}: 5-D (volumetric) inputs are not implemented in minigrad, got input "
                                  f"{describe(input)}; only 4-D (N, C, H, W)")
    if input.data.ndim != 4 or grid.data.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) and a 4-D grid (N, H_out, W_out, 2), got input "
                         f"{describe(input)} and grid {describe(grid)}")
    if grid.data.shape[0] != input.data.shape[0]:
        raise ValueError(f"{op}: expected grid and input to have the same batch size, got input {describe(input)} "
                         f"and grid {describe(grid)}")
    if grid.data.shape[-1] != 2:
        raise ValueError(f"{op}: expected grid to have size 2 in its last dimension (x, y), got grid {describe(grid)}")
    if 0 in input.data.shape[2:]:
        raise ValueError(f"{op}: expected input to have non-empty spatial dimensions, got input {describe(input)}")
    if mode == "bicubic":
        raise NotImplementedError(f"{op}: mode='bicubic' is not implemented in minigrad; use 'bilinear' or 'nearest'")
    return GridSample.apply(input, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
