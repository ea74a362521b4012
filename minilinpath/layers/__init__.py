"""Hand-written layers as (forward, backward) function pairs.

Each ``*_forward`` returns ``(out, cache)``; the matching ``*_backward`` takes
the upstream gradient and that cache and returns the gradients of the inputs
and parameters. No autograd anywhere.
"""
from .activations import (ACTIVATIONS, relu_backward, relu_forward, sigmoid, sigmoid_backward,
                          sigmoid_forward, tanh_backward, tanh_forward)
from .affine import affine_backward, affine_forward
from .dropout import draw_mask, dropout_backward, dropout_forward
from .losses import log_softmax, softmax_cross_entropy
from .maxout import maxout_backward, maxout_forward

__all__ = [
    "ACTIVATIONS", "affine_backward", "affine_forward", "draw_mask", "dropout_backward", "dropout_forward",
    "log_softmax", "maxout_backward", "maxout_forward", "relu_backward", "relu_forward", "sigmoid",
    "sigmoid_backward", "sigmoid_forward", "softmax_cross_entropy", "tanh_backward", "tanh_forward",
]
