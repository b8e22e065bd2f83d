"""StyleGAN3's modulated convolution: one meaning, formed the way each situation runs fastest.

:func:`modulated_conv2d` convolves each image with its own weights, w [O, I, k, k] scaled by the image's
styles s [N, I] (and an input gain), optionally demodulated. Three formulations, all equal up to float32
rounding (tests/ops/test_modconv.py), each kept for a measured reason:

* **grouped** (inference: no autograd graph, or eval mode): one grouped convolution with per-image weights
  [N * O, I, k, k], NVlabs' form. The reference, and what an eval-mode call computes even under autograd; on
  the CPU a 1x1 kernel takes the batched matrix product described under *factored* instead.
* **Winograd** (inference on the CPU, float32, 3x3 kernel, enough channels and pixels, :mod:`ops.conv3x3`):
  (x * s) conv w * dcoefs by Winograd's F(2x2, 3x3), with no per-image weights made; 0.55-0.63x the time of
  the grouped convolution over the SG3-T-256 layers that use it (``python -m benchmarks.bench_conv3x3``).
* **factored** (training, when a gradient will be asked for): the same grouped convolution, its per-image
  weights from one multiply by [N, O, I] coefficients and demodulation from an [N, I] x [I, O] product, so the
  autograd graph holds one [N, O, I, k, k] elementwise op instead of five. On a loaded 2-core machine the
  grouped graph's many elementwise passes each cost a thread hand-off: SG3-T 64x64 generator, batch 8,
  forward + backward 4.09 s factored against 5.62 s grouped (1 thread: 1.80 against 2.31 s); on a quiet machine
  the two are within noise (``python -m benchmarks.bench_training --grad-ratio``). Modulating the activations
  instead (NVlabs' StyleGAN2 non-fused path) measured within that run's spread of the factored form and is not
  kept. A 1x1 kernel (every layer of config R) is one batched matrix product [N, O, I] x [N, I, H * W]
  instead: PyTorch runs a grouped 1x1 convolution on the CPU as one small convolution per group, then
  concatenates them, forward and backward.
"""

from __future__ import annotations

import torch

from . import conv3x3


def modulated_conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    s: torch.Tensor,
    demodulate: bool = True,
    padding: int = 0,
    input_gain: torch.Tensor | None = None,
    training: bool = False,
) -> torch.Tensor:
    """Each image of x [N, I, H, W] convolved with w [O, I, k, k] modulated by its styles s [N, I].

    ``training`` (the layer's mode) with autograd recording and an input that requires grad takes the factored
    formulation; everything else the grouped one, or Winograd where :func:`ops.conv3x3.modulated` takes the call
    (module docstring).
    """
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = w.shape
    if s.shape != (batch_size, in_channels) or x.shape[1] != in_channels:
        raise ValueError(f"modulated_conv2d: x {tuple(x.shape)}, w {tuple(w.shape)}, styles {tuple(s.shape)} disagree")
    if demodulate:  # pre-normalise for numerical headroom; demodulation removes the scale again
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    grad_mode = training and torch.is_grad_enabled() and (x.requires_grad or w.requires_grad or s.requires_grad)
    if grad_mode:
        coefs = _coefficients(w, s, demodulate, input_gain)  # [N, O, I]
        if kh == 1 and kw == 1 and padding == 0:  # per-image matrix products (module docstring)
            return _per_image_1x1(w[:, :, 0, 0].unsqueeze(0) * coefs, x)
        w = (w.unsqueeze(0) * coefs.unsqueeze(3).unsqueeze(4)).reshape(-1, in_channels, kh, kw)
        x = torch.nn.functional.conv2d(x.reshape(1, -1, *x.shape[2:]), w.to(x.dtype), padding=padding,
                                       groups=batch_size)
        return x.reshape(batch_size, -1, *x.shape[2:])
    if conv3x3.winograd_eligible(x, w, padding):
        in_scale = s if input_gain is None else s * input_gain.expand(batch_size, in_channels)
        y = conv3x3.modulated(x, w.to(x.dtype), in_scale, demodulation(w, s) if demodulate else None, padding)
        if y is not None:
            return y
    w = w.unsqueeze(0) * s.unsqueeze(1).unsqueeze(3).unsqueeze(4)  # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        w = w * dcoefs.unsqueeze(2).unsqueeze(3).unsqueeze(4)
    if input_gain is not None:
        input_gain = input_gain.expand(batch_size, in_channels)
        w = w * input_gain.unsqueeze(1).unsqueeze(3).unsqueeze(4)
    if kh == 1 and kw == 1 and padding == 0 and x.device.type == "cpu":  # as in training (module docstring)
        return _per_image_1x1(w.reshape(batch_size, out_channels, in_channels), x)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = torch.nn.functional.conv2d(x, w.to(x.dtype), padding=padding, groups=batch_size)
    return x.reshape(batch_size, -1, *x.shape[2:])


def _per_image_1x1(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Each image of x [N, I, H, W] through its own 1x1 weights w [N, O, I]: one batched matrix product."""
    y = torch.bmm(w.to(x.dtype), x.reshape(x.shape[0], x.shape[1], -1))
    return y.reshape(x.shape[0], w.shape[1], *x.shape[2:])


def demodulation(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Demodulation coefficients [N, O] of w [O, I, k, k] modulated by s [N, I]: sum_{i,k} (w[o,i,k] s[n,i])^2 =
    sum_i s[n,i]^2 sum_k w[o,i,k]^2, one [N, I] x [I, O] product instead of the [N, O, I, k, k] tensor."""
    return (s.square() @ w.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()


def _coefficients(w: torch.Tensor, s: torch.Tensor, demodulate: bool,
                  input_gain: torch.Tensor | None) -> torch.Tensor:
    """s[n, i] * dcoefs[n, o] * input_gain[n, i] as [N, O, I], on pre-normalised w and s (:func:`demodulation`)."""
    batch_size, in_channels = s.shape
    coefs = s.unsqueeze(1)  # [N, 1, I]
    if demodulate:
        coefs = coefs * demodulation(w, s).unsqueeze(2)
    if input_gain is not None:
        coefs = coefs * input_gain.expand(batch_size, in_channels).unsqueeze(1)
    return coefs.expand(batch_size, w.shape[0], in_channels)
