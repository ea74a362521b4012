"""Hand-written layers as (forward, backward) function pairs.

Each ``*_forward`` returns ``(out, cache)``; the matching ``*_backward`` takes
the upstream gradient and that cache and returns the gradients of the inputs
and parameters. No autograd anywhere.
"""
from .activations import (ACTIVATIONS, EVAL_ACTIVATIONS, relu_backward, relu_forward, sigmoid, sigmoid_backward,
                          sigmoid_forward, tanh_backward, tanh_forward)
from .affine import affine_backward, affine_forward
from .batchnorm import batchnorm_backward, batchnorm_eval, batchnorm_forward
from .conv import conv_backward, conv_forward
from .dropout import draw_mask, dropout_backward, dropout_forward
from .embedding import embedding_backward, embedding_forward
from .losses import check_label_range, log_softmax, nll_value, softmax_cross_entropy
from .maxout import maxout_backward, maxout_eval, maxout_forward
from .pool import max_pool_backward, max_pool_eval, max_pool_forward
from .recurrent import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward

__all__ = [
    "ACTIVATIONS", "EVAL_ACTIVATIONS", "affine_backward", "affine_forward", "batchnorm_backward", "batchnorm_eval",
    "batchnorm_forward", "check_label_range", "conv_backward", "conv_forward", "draw_mask",
    "dropout_backward", "dropout_forward", "embedding_backward", "embedding_forward", "log_softmax",
    "lstm_backward", "lstm_forward", "lstm_step_backward", "lstm_step_forward", "max_pool_backward",
    "max_pool_eval", "max_pool_forward", "maxout_backward", "maxout_eval", "maxout_forward", "nll_value", "relu_backward", "relu_forward", "sigmoid",
    "sigmoid_backward", "sigmoid_forward", "softmax_cross_entropy", "tanh_backward", "tanh_forward",
]
