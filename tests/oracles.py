"""The test oracles: the plain loops of ``zfcore.layers.naive`` (which imports nothing of the
fast code), re-exported here for the tests that say ``from tests import oracles``."""
from zfcore.layers.naive import (conv, conv_out, conv_transpose, first_argmax, linear,  # noqa: F401
                                 linear_transpose, lrn, lrn_denominator, lrn_vjp, maxpool,
                                 pad_zero, pool_out, relu, relu_deconv, softmax_cross_entropy,
                                 unpool)
