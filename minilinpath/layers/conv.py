"""2-D convolution (cross-correlation, as every deep learning library computes it), NCHW.

    out[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * x_pad[n, c, i*s + p, j*s + q]

for x (N, C, H, W), W (F, C, HH, WW), tied biases b (F,), stride s and zero
padding ``pad`` on every side; the output is (N, F, H', W') with
H' = 1 + (H + 2 pad - HH) // s (and the same for W').

Implementation (im2col): gather, for every output position, the K = C*HH*WW
input values it sees into one column of a matrix ``cols`` (K, N*H'*W'), so
the convolution is one matrix product with W reshaped to (F, K)::

    out_f = W_f cols                     (F, N*H'*W'), then + b[:, None]
    dW_f  = dout_f cols^T                (F, K)
    dcols = W_f^T dout_f                 (K, N*H'*W'), then col2im -> dx

where ``dout_f`` is dL/dout laid out as (F, N*H'*W'). The gathering loops over
the HH*WW kernel offsets (64 for an 8x8 kernel), each a strided slice of the
whole block of images; there is no loop over pixels. col2im, the adjoint of
im2col, scatters the column gradients back the same way, *adding* where
windows overlap.

Memory layout of ``cols``: (C, HH, WW, n, H', W') in C order, so row
(c*HH + p)*WW + q is kernel tap (c, p, q) and column (k*H' + i)*W' + j is
output pixel (i, j) of image k; each kernel offset (p, q) fills one contiguous
(C, n, H', W') block.

Blocks of images. ``cols`` is HH*WW times larger than the input (for the
paper's second layer, batch 64: 354 MB), so the layer works on a few images at
a time: ``block_images`` images whose ``cols`` fit in ``BLOCK_BYTES``
(64 MiB on the CPU, 512 MiB on a GPU). For each block: gather into one
reused buffer, one matrix product, write the block's output. The product is
the same for every block, so the result is the whole-batch formula above.
The cache keeps the padded input: the backward pass gathers each block's
``cols`` again (a copy, cheap next to the two products that use it), so a
forward pass holds its output and one block, never the whole ``cols``. When
the whole batch is one block (a training minibatch of a small network) that
block's ``cols`` is kept in the cache instead of gathered twice.
The block size is a trade: smaller blocks stay in cache (16 MiB ran fastest
with one BLAS thread), but each block is three more products, and with two
BLAS threads on a busy machine every product pays for waking the second
thread (16 MiB was then 1.5-1.7x slower than 64 MiB on the second layer;
benchmarks/README.md).

A second algorithm (stride 1): the convolution theorem. With hats for 2-D
discrete Fourier transforms of size S (at least the padded input, so nothing
wraps around) and * for the complex conjugate, at every frequency k::

    out^[n, f, k]    = sum_c x_pad^[n, c, k] W^[f, c, k]*          (cross-correlation)
    dW^[f, c, k]     = sum_n dout^[n, f, k]* x_pad^[n, c, k]
    dx_pad^[n, c, k] = sum_f dout^[n, f, k] W^[f, c, k]             (full convolution)

then an inverse transform, cropped to (H', W'), (HH, WW) and (H, W). Each sum
is a small complex matrix product per frequency, (N, C) x (C, F), batched
over the SH*(SW/2 + 1) frequencies of a real transform. For large kernels on
many channels this is several times fewer operations than im2col (the
paper's second layer: 8x8 kernels on 96 channels); for few input channels it
is not (the first layer: 3 channels). :func:`conv_algorithm` counts both.
The two give the same numbers up to rounding (float32: a few 1e-7 of the
largest output; the tests check both in float64).

Which one runs: ``conv_forward(..., algorithm=)``, default ``DEFAULT_ALGORITHM``
("im2col"; "auto" picks by :func:`conv_algorithm`). Measured on the 2-core CPU
(benchmarks/README.md): with single-threaded BLAS (OPENBLAS_NUM_THREADS=1)
the FFT algorithm took the second layer from 2.5 s to 0.9 s; with two
BLAS threads its hundreds of small products each pay for waking the second
thread, and on a loaded machine that made it several times *slower*, so
"auto" is a choice to make per machine, not the default.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.fft

from .. import backend, threads
from ._checks import require_float, require_ndim, require_same_dtype

DEFAULT_ALGORITHM = "im2col"  # or "auto" / "fft": see the module docstring
BLOCK_BYTES = {"cpu": 64 * 2**20, "gpu": 512 * 2**20}  # the most bytes of one block's cols


class ConvCache(NamedTuple):
    """What the im2col backward pass needs."""
    x_pad: object     # (N, C, H + 2 pad, W + 2 pad) the zero-padded input; each block's cols are gathered from it
    x_shape: tuple    # (N, C, H, W)
    W: object
    stride: int
    pad: int
    out_hw: tuple     # (H', W')
    block: int        # images per block
    cols: object      # (K, N*H'*W') when the whole batch was one block (training minibatches): kept, not re-gathered


class FFTConvCache(NamedTuple):
    """What the FFT backward pass needs: both transforms, laid out frequency-major."""
    x_hat: object     # (nf, N, C) complex: transform of x_pad at each of the nf frequencies
    w_hat: object     # (nf, F, C) complex: transform of W
    x_shape: tuple    # (N, C, H, W)
    W_shape: tuple    # (F, C, HH, WW)
    pad: int
    size: tuple       # (SH, SW) the transform size


def output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """1 + (size + 2 pad - kernel) // stride."""
    return 1 + (size + 2 * pad - kernel) // stride


def block_images(x_shape, W_shape, out_hw, itemsize: int, xp=np) -> int:
    """Images per block: as many as keep one block's cols (C*HH*WW, n*H'*W') within ``BLOCK_BYTES`` (at least 1)."""
    N, C = x_shape[:2]
    per_image = C * W_shape[2] * W_shape[3] * out_hw[0] * out_hw[1] * itemsize
    limit = BLOCK_BYTES["cpu" if xp is np else "gpu"]
    return int(max(1, min(N, limit // max(per_image, 1))))


def _padded(x, HH, WW, stride, pad):
    """x (N, C, H, W) -> (x_pad (N, C, H + 2 pad, W + 2 pad), (H', W')); x itself when pad is 0."""
    xp = backend.get_xp(x)
    N, C, H, W = x.shape
    Ho, Wo = output_size(H, HH, stride, pad), output_size(W, WW, stride, pad)
    if Ho < 1 or Wo < 1:
        raise ValueError(f"a {HH}x{WW} kernel with pad {pad} does not fit a {H}x{W} input.")
    if not pad:
        return x, (Ho, Wo)
    x_pad = xp.empty((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)

    def images(lo, hi):
        x_pad[lo:hi] = 0
        x_pad[lo:hi, :, pad:pad + H, pad:pad + W] = x[lo:hi]

    threads.for_example_blocks(images, xp, x_pad)
    return x_pad, (Ho, Wo)


def _gather(x_pad, HH, WW, stride, out_hw, out):
    """im2col of padded images: x_pad (n, C, Hp, Wp) -> out (C, HH, WW, n, H', W'), filled in place.

    out[c, p, q, k, i, j] = x_pad[k, c, i*s + p, j*s + q]: one strided copy per kernel offset (p, q).
    """
    Ho, Wo = out_hw
    x_t = x_pad.transpose(1, 0, 2, 3)  # (C, n, Hp, Wp), a view: offset (p, q) is then one block of out

    def images(lo, hi):
        for p in range(HH):
            for q in range(WW):
                out[:, p, q, lo:hi] = x_t[:, lo:hi, p:p + stride * Ho:stride, q:q + stride * Wo:stride]

    threads.for_example_blocks(images, backend.get_xp(x_pad), out, axis=3)   # out (C, HH, WW, n, H', W')
    return out


def _scatter_add(dcols, dx_pad, stride):
    """col2im, the adjoint of ``_gather``: dcols (C, HH, WW, n, H', W') added into dx_pad (n, C, Hp, Wp) in place."""
    _scatter_add_channel_major(dcols, dx_pad.transpose(1, 0, 2, 3), stride)


def _scatter_add_channel_major(dcols, dx_t, stride):
    """The same into a channel-major dx_t (C, n, Hp, Wp): one strided add per kernel offset (p, q)."""
    _, HH, WW, _, Ho, Wo = dcols.shape

    def images(lo, hi):  # each image's pixels collect their sums in the same order as in one pass
        for p in range(HH):
            for q in range(WW):
                dx_t[:, lo:hi, p:p + stride * Ho:stride, q:q + stride * Wo:stride] += dcols[:, p, q, lo:hi]

    threads.for_example_blocks(images, backend.get_xp(dcols), dcols, axis=3)


def im2col(x, HH, WW, stride, pad, out=None):
    """(N, C, H, W) -> (C*HH*WW, N*H'*W'): column (n, i, j) holds the window feeding output (n, :, i, j).

    Laid out as (C, HH, WW, N, H', W') so that each kernel offset (p, q) fills
    one contiguous block. Returns ``(cols, (H', W'))``. ``out``: a contiguous
    array of C*HH*WW*N*H'*W' elements to write the columns into (a new one if
    None). The layer calls this for each block of images, on its padded input
    with ``pad=0`` and one reused ``out`` buffer.
    """
    xp = backend.get_xp(x)
    N, C = x.shape[:2]
    x_pad, (Ho, Wo) = _padded(x, HH, WW, stride, pad)
    out = xp.empty((C, HH, WW, N, Ho, Wo), dtype=x.dtype) if out is None else out.reshape(C, HH, WW, N, Ho, Wo)
    cols = _gather(x_pad, HH, WW, stride, (Ho, Wo), out)
    return cols.reshape(C * HH * WW, N * Ho * Wo), (Ho, Wo)


def col2im(dcols, x_shape, HH, WW, stride, pad, out_hw, out=None):
    """The adjoint of im2col: add every column entry back to the input pixel it came from -> dx (N, C, H, W).

    ``out``: an (N, C, H + 2 pad, W + 2 pad) array (or view) to add into, instead of a new zero one; then
    the padded array itself is returned. The layer calls this for each block of images with ``pad=0`` and
    ``out`` a view of its channel-major gradient buffer.
    """
    xp = backend.get_xp(dcols)
    N, C, H, W = x_shape
    Ho, Wo = out_hw
    dx_pad = xp.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype) if out is None else out
    _scatter_add(dcols.reshape(C, HH, WW, N, Ho, Wo), dx_pad, stride)
    if out is not None:
        return dx_pad
    return dx_pad[:, :, pad:pad + H, pad:pad + W] if pad else dx_pad


FFT_OVERHEAD = 40  # cost of one operation of a Fourier transform, in matrix-product operations (measured, CPU)
FFT_WORKERS = 1    # threads of SciPy's FFT


def fft_size(n: int) -> int:
    """The smallest length >= n whose real FFT is fast (factors 2, 3, 5 only): 13 -> 15, 22 -> 24, 40 -> 40."""
    return scipy.fft.next_fast_len(int(n), real=True)


def conv_algorithm(x_shape, W_shape, stride: int = 1, pad: int = 0) -> str:
    """``"im2col"`` or ``"fft"``, whichever counts fewer operations for these shapes (stride 1 only for "fft").

    With K = C*HH*WW, P = H'*W', transform size SH x SW and nf = SH*(SW//2 + 1)
    frequencies, one forward + backward pass costs

    - im2col: three real products of 2*N*F*K*P operations each (forward, dW, dx);
    - fft: three complex products of 8*nf*N*C*F operations each, counted twice
      (they are small, so they run below the speed of one large product), plus
      2*(N*C + N*F + F*C) transforms of about 2.5*S log2 S operations each
      (S = SH*SW), each operation counted ``FFT_OVERHEAD`` times.

    The paper's CIFAR-10 layers, batch 64 (fft against im2col): 3 -> 192
    channels, 8x8: 46 G against 15 G (im2col); 96 -> 384, 8x8: 107 G against
    204 G (fft); 192 -> 384, 5x5: 66 G against 57 G (im2col).
    """
    if stride != 1:
        return "im2col"
    N, C, H, W = x_shape
    F, _, HH, WW = W_shape
    Ho, Wo = output_size(H, HH, 1, pad), output_size(W, WW, 1, pad)
    SH, SW = fft_size(H + 2 * pad), fft_size(W + 2 * pad)
    S, nf = SH * SW, SH * (SW // 2 + 1)
    im2col_ops = 3 * 2 * N * F * C * HH * WW * Ho * Wo
    fft_ops = 2 * 3 * 8 * nf * N * C * F + FFT_OVERHEAD * 2 * (N * C + N * F + F * C) * 2.5 * S * math.log2(S)
    return "fft" if fft_ops < im2col_ops else "im2col"


def _rfft2(a, size):
    """Real 2-D FFT over the last two axes, zero-padded to ``size``; float32 stays complex64 (SciPy on the CPU)."""
    xp = backend.get_xp(a)
    if xp is np:
        return scipy.fft.rfft2(a, s=size, workers=FFT_WORKERS)
    return xp.fft.rfft2(a, s=size)


def _irfft2(a, size):
    xp = backend.get_xp(a)
    if xp is np:
        return scipy.fft.irfft2(a, s=size, workers=FFT_WORKERS)
    return xp.fft.irfft2(a, s=size)


def _frequency_major(a_hat):
    """(A, B, SH, SW//2+1) -> (nf, A, B), contiguous: one small matrix per frequency."""
    A, B = a_hat.shape[:2]
    nf = a_hat.shape[2] * a_hat.shape[3]   # written out: -1 cannot be inferred when A or B is 0
    return backend.get_xp(a_hat).ascontiguousarray(a_hat.reshape(A, B, nf).transpose(2, 0, 1))


def _spatial(a_f, size, crop):
    """(nf, A, B) -> the inverse transform (A, B, SH, SW) cropped to ``crop`` (rows, columns)."""
    xp = backend.get_xp(a_f)
    nf, A, B = a_f.shape
    a_hat = xp.ascontiguousarray(a_f.transpose(1, 2, 0)).reshape(A, B, size[0], size[1] // 2 + 1)
    return _irfft2(a_hat, size)[:, :, :crop[0], :crop[1]]


def _fft_forward(x, W, b, pad):
    N, C, H, Wd = x.shape
    F, _, HH, WW = W.shape
    xp = backend.get_xp(x)
    x_pad, (Ho, Wo) = _padded(x, HH, WW, 1, pad)
    size = (fft_size(H + 2 * pad), fft_size(Wd + 2 * pad))
    x_hat = _frequency_major(_rfft2(x_pad, size))                 # (nf, N, C)
    w_hat = _frequency_major(_rfft2(W, size))                     # (nf, F, C)
    out_hat = x_hat @ w_hat.conj().transpose(0, 2, 1)             # (nf, N, F): sum over c at each frequency
    out = xp.ascontiguousarray(_spatial(out_hat, size, (Ho, Wo)))
    if b is not None:
        out += b[:, None, None]
    return out, FFTConvCache(x_hat, w_hat, tuple(x.shape), tuple(W.shape), pad, size)


def _fft_backward(dout, cache: FFTConvCache, input_grad):
    x_hat, w_hat, (N, C, H, Wd), (F, _, HH, WW), pad, size = cache
    d_hat = _frequency_major(_rfft2(dout, size))                  # (nf, N, F)
    dW = _spatial(d_hat.conj().transpose(0, 2, 1) @ x_hat, size, (HH, WW))        # (F, C, HH, WW)
    dx = None
    if input_grad:
        dx_pad = _spatial(d_hat @ w_hat, size, (H + 2 * pad, Wd + 2 * pad))      # (N, C, Hp, Wp)
        dx = dx_pad[:, :, pad:pad + H, pad:pad + Wd]
    return dx, backend.get_xp(dout).ascontiguousarray(dW), dout.sum(axis=(0, 2, 3))


def conv_forward(x, W, b, stride: int = 1, pad: int = 0, algorithm: str | None = None):
    """Returns ``(out (N, F, H', W'), cache)`` for x (N, C, H, W), W (F, C, HH, WW) and b (F,) or None (no bias).

    Reference: :func:`minilinpath.layers.reference.conv_forward` (equal to rounding: the sums run in another
    order; 1e-12 in the tests).

    ``algorithm``: "im2col", "fft" (stride 1 only), "auto" (:func:`conv_algorithm`) or None
    (``DEFAULT_ALGORITHM``).
    """
    require_float("x", x)
    require_float("W", W)
    require_ndim("x", x, 4, "(N, C, H, W)")
    require_ndim("W", W, 4, "(F, C, HH, WW)")
    if x.shape[1] != W.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but W expects {W.shape[1]} (x {tuple(x.shape)}, W {tuple(W.shape)}).")
    require_same_dtype(x=x, W=W)
    if b is not None:
        require_float("b", b)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},), one bias per filter of W {tuple(W.shape)}, "
                             f"got shape {tuple(b.shape)}.")
        require_same_dtype(x=x, W=W, b=b)
    if stride < 1 or pad < 0:
        raise ValueError(f"need stride >= 1 and pad >= 0, got stride {stride}, pad {pad}.")
    algorithm = DEFAULT_ALGORITHM if algorithm is None else algorithm
    if algorithm not in ("auto", "im2col", "fft"):
        raise ValueError(f"algorithm must be 'auto', 'im2col' or 'fft', got {algorithm!r}.")
    if algorithm == "fft" and stride != 1:
        raise ValueError(f"the FFT algorithm computes stride 1 only, got stride {stride}; use 'im2col'.")
    _padded_shape_check(x.shape, W.shape, stride, pad)
    if algorithm == "auto":
        algorithm = conv_algorithm(x.shape, W.shape, stride, pad)
    return _fft_forward(x, W, b, pad) if algorithm == "fft" else _im2col_forward(x, W, b, stride, pad)


def conv_backward(dout, cache, input_grad: bool = True):
    """Given dL/dout (N, F, H', W'), return ``(dx, dW, db)``; dx is None with ``input_grad=False``.

    Reference: :func:`minilinpath.layers.reference.conv_backward` (equal to rounding: the sums run in another
    order; 1e-12 in the tests).

    The cache says which algorithm the forward pass used; the backward pass uses the same.
    """
    if isinstance(cache, FFTConvCache):
        return _fft_backward(dout, cache, input_grad)
    return _im2col_backward(dout, cache, input_grad)


def _padded_shape_check(x_shape, W_shape, stride, pad):
    H, W = x_shape[2:]
    HH, WW = W_shape[2:]
    if output_size(H, HH, stride, pad) < 1 or output_size(W, WW, stride, pad) < 1:
        raise ValueError(f"a {HH}x{WW} kernel with pad {pad} does not fit a {H}x{W} input.")


def _im2col_forward(x, W, b, stride, pad):
    """Block by block of images (see the module docstring): cols (K, n*H'*W')
    gathered into one reused buffer, ``W_f @ cols`` (F, n*H'*W'), plus the
    bias, written into ``out`` as (n, F, H', W').
    """
    xp = backend.get_xp(x)
    F, C, HH, WW = W.shape
    N = x.shape[0]
    x_pad, (Ho, Wo) = _padded(x, HH, WW, stride, pad)
    block = block_images(x.shape, W.shape, (Ho, Wo), x.dtype.itemsize, xp)
    W_f = W.reshape(F, C * HH * WW)
    buffer = xp.empty(C * HH * WW * block * Ho * Wo, dtype=x.dtype)   # one block's cols, reused
    out = xp.empty((N, F, Ho, Wo), dtype=x.dtype)
    for start in range(0, N, block):
        n = min(block, N - start)
        cols, _ = im2col(x_pad[start:start + n], HH, WW, stride, 0, out=buffer[:C * HH * WW * n * Ho * Wo])
        out_f = W_f @ cols                                              # (F, n*H'*W'): one matrix product
        _place(out_f.reshape(F, n, Ho, Wo).transpose(1, 0, 2, 3), b, out[start:start + n])
    kept = cols if N and block >= N else None                          # one block: backward reuses it
    return out, ConvCache(x_pad, tuple(x.shape), W, stride, pad, (Ho, Wo), block, kept)


def _place(block_out, b, out):
    """out = block_out (+ b per channel): the bias is added as the block is copied into place, one pass, not
    two; image by image over threads."""
    xp = backend.get_xp(out)

    def images(lo, hi):
        if b is None:
            out[lo:hi] = block_out[lo:hi]
        else:
            xp.add(block_out[lo:hi], b[:, None, None], out=out[lo:hi])

    threads.for_example_blocks(images, xp, out)


def _channel_major(a):
    """a (n, F, H, W) copied to (F, n, H, W), image by image over threads."""
    xp = backend.get_xp(a)
    out = xp.empty((a.shape[1], a.shape[0]) + tuple(a.shape[2:]), dtype=a.dtype)

    def images(lo, hi):
        out[:, lo:hi] = a[lo:hi].transpose(1, 0, 2, 3)

    threads.for_example_blocks(images, xp, a)
    return out


def _im2col_backward(dout, cache: ConvCache, input_grad):
    """Block by block, as the forward pass: gather the block's cols again (or use the forward pass's, when
    the batch was one block), then dW += dout_f cols^T and, for dx, col2im(W_f^T dout_f) into the block's
    images. db sums dout over images and pixels.

    dW^T = cols dout_f^T is the product computed (K, F): with N*H'*W' (tens of thousands) as the inner
    dimension and a small F, that order ran 1.3-1.7x faster than dout_f cols^T (benchmarks/README.md). dx is
    added up channel-major, (C, N, Hp, Wp), where every kernel offset's block is contiguous, and turned
    to (N, C, H, W) by one copy at the end.
    """
    x_pad, x_shape, W, stride, pad, (Ho, Wo), block, kept_cols = cache
    xp = backend.get_xp(dout)
    F, C, HH, WW = W.shape
    N, _, H, Wd = x_shape
    K = C * HH * WW
    W_f = W.reshape(F, K)
    dW_t = xp.zeros((K, F), dtype=dout.dtype)
    dx_t = xp.zeros((C, N) + tuple(x_pad.shape[2:]), dtype=dout.dtype) if input_grad else None  # (C, N, Hp, Wp)
    buffer = xp.empty(K * block * Ho * Wo, dtype=dout.dtype) if kept_cols is None else None
    for start in range(0, N, block):
        n = min(block, N - start)
        if kept_cols is not None:
            cols = kept_cols
        else:
            cols, _ = im2col(x_pad[start:start + n], HH, WW, stride, 0, out=buffer[:K * n * Ho * Wo])
        dout_f = _channel_major(dout[start:start + n]).reshape(F, n * Ho * Wo)       # (F, n*H'*W')
        dW_t += cols @ dout_f.T
        if input_grad:   # col2im into the block's images of the channel-major dx_t, seen as (n, C, Hp, Wp)
            col2im(W_f.T @ dout_f, (n, C) + tuple(x_pad.shape[2:]), HH, WW, stride, 0, (Ho, Wo),
                   out=dx_t[:, start:start + n].transpose(1, 0, 2, 3))
    db = dout.sum(axis=(0, 2, 3))
    dx = None
    if input_grad:
        dx = xp.ascontiguousarray(dx_t[:, :, pad:pad + H, pad:pad + Wd].transpose(1, 0, 2, 3))  # (N, C, H, W)
    return dx, xp.ascontiguousarray(dW_t.T).reshape(W.shape), db
