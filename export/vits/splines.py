"""Inverse rational-quadratic spline with linear tails (the ConvFlow of the VITS duration predictor).

VITS selects the in-range elements with boolean indexing, which exports to NonZero/ScatterND: ops with
data-dependent shapes that OpenVINO and TensorRT reject. Here every element goes through the spline and
`torch.where` picks the spline or the identity tail, so the graph keeps static, input-derived shapes.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3


def _knots(unnormalized: torch.Tensor, low: float, high: float, min_size: float) -> torch.Tensor:
    num_bins = unnormalized.shape[-1]
    sizes = min_size + (1 - min_size * num_bins) * F.softmax(unnormalized, dim=-1)
    cum = F.pad(torch.cumsum(sizes, dim=-1), [1, 0], value=0.0)
    cum = (high - low) * cum + low
    # Pin the ends exactly: cumsum rounding must not move the interval bounds.
    return torch.cat([torch.full_like(cum[..., :1], low), cum[..., 1:-1], torch.full_like(cum[..., :1], high)], -1)


def inverse_rational_quadratic(
    inputs: torch.Tensor,
    unnormalized_widths: torch.Tensor,
    unnormalized_heights: torch.Tensor,
    unnormalized_derivatives: torch.Tensor,
    tail_bound: float,
) -> torch.Tensor:
    """Inverse of the monotonic spline on [-tail_bound, tail_bound], identity outside."""
    num_bins = unnormalized_widths.shape[-1]
    edge = math.log(math.exp(1 - MIN_DERIVATIVE) - 1)
    edge_t = torch.full_like(unnormalized_derivatives[..., :1], edge)
    derivatives = MIN_DERIVATIVE + F.softplus(torch.cat([edge_t, unnormalized_derivatives, edge_t], -1))

    cumwidths = _knots(unnormalized_widths, -tail_bound, tail_bound, MIN_BIN_WIDTH)
    cumheights = _knots(unnormalized_heights, -tail_bound, tail_bound, MIN_BIN_HEIGHT)
    widths = cumwidths[..., 1:] - cumwidths[..., :-1]
    heights = cumheights[..., 1:] - cumheights[..., :-1]

    # searchsorted as a comparison count (VITS adds 1e-6 to the last knot); clamped so that
    # out-of-range inputs, whose result is discarded below, still gather valid indices.
    last = cumheights[..., -1:] + 1e-6
    locations = torch.cat([cumheights[..., :-1], last], -1)
    bin_idx = torch.sum((inputs.unsqueeze(-1) >= locations).to(inputs.dtype), dim=-1) - 1
    bin_idx = bin_idx.clamp(0, num_bins - 1).to(torch.int64).unsqueeze(-1)

    def pick(t: torch.Tensor) -> torch.Tensor:
        return t.gather(-1, bin_idx)[..., 0]

    in_cumwidths, in_widths = pick(cumwidths), pick(widths)
    in_cumheights, in_heights = pick(cumheights), pick(heights)
    delta = heights / widths
    in_delta = pick(delta)
    in_d, in_d_plus_one = pick(derivatives), pick(derivatives[..., 1:])

    shifted = inputs - in_cumheights
    slope_sum = in_d + in_d_plus_one - 2 * in_delta
    a = shifted * slope_sum + in_heights * (in_delta - in_d)
    b = in_heights * in_d - shifted * slope_sum
    c = -in_delta * shifted
    discriminant = b.pow(2) - 4 * a * c
    root = (2 * c) / (-b - torch.sqrt(discriminant.clamp_min(0)))
    spline = root * in_widths + in_cumwidths

    inside = (inputs >= -tail_bound) & (inputs <= tail_bound)
    return torch.where(inside, spline, inputs)
