"""The teaching loops of ``zfcore.layers.naive`` are the suite's oracles: they must stay
independent of the fast code, and they are checked here on numbers worked out by hand."""
import ast
import inspect
import math

import numpy as np

from zfcore.layers import naive


def test_naive_imports_nothing_but_numpy_and_math():
    tree = ast.parse(inspect.getsource(naive))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0] if node.level == 0 else ".")
    assert imported <= {"numpy", "math"}, imported


def test_conv_hand_numbers():
    # 3x3 input 0..8, one 2x2 filter [[1, 2], [3, 4]], bias 10, stride 1, no pad:
    # y[0, 0] = 10 + 0*1 + 1*2 + 3*3 + 4*4 = 37, and each step right adds 1+2+3+4 = 10.
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    W = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(naive.conv(x, W, [10.0], 1, 0)[0, 0], [[37, 47], [67, 77]])
    # pad 1, stride 2: the window at (0, 0) sees only x[0, 0] = 0 at the filter's 4: y = 10.
    assert naive.conv(x, W, [10.0], 2, 1)[0, 0, 0, 0] == 10.0
    assert naive.conv_out(224, 7, 2, 1) == 110          # Z&F Fig. 3, conv1


def test_conv_transpose_paints_the_filter():
    W = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    r = np.zeros((1, 1, 2, 2))
    r[0, 0, 1, 1] = 2.0
    out = naive.conv_transpose(r, W, (1, 1, 3, 3), 1, 0)
    np.testing.assert_array_equal(out[0, 0], [[0, 0, 0], [0, 2, 4], [0, 6, 8]])


def test_maxpool_unpool_hand_numbers():
    x = np.array([[1.0, 5.0, 2.0], [5.0, 0.0, 3.0], [4.0, 9.0, 6.0]]).reshape(1, 1, 3, 3)
    y, sw = naive.maxpool(x, 2, 1)
    np.testing.assert_array_equal(y[0, 0], [[5, 5], [9, 9]])
    np.testing.assert_array_equal(sw[0, 0], [[1, 0], [3, 2]])   # the tie: the first 5 (offset 1)
    back = naive.unpool(np.ones((1, 1, 2, 2)), sw, x.shape, 2, 1)
    np.testing.assert_array_equal(back[0, 0], [[0, 2, 0], [0, 0, 0], [0, 2, 0]])
    assert naive.pool_out(4, 1, 2) == 2 and naive.pool_out(110, 3, 2) == 55


def test_lrn_hand_numbers():
    a = np.arange(1.0, 4.0).reshape(1, 3, 1, 1)          # channels 1, 2, 3
    b = naive.lrn(a, 3, 1.0, 1.0, 1.0)[0, :, 0, 0]
    np.testing.assert_allclose(b, [1 / 6, 2 / 15, 3 / 14], rtol=1e-15)


def test_relu_linear_and_loss_hand_numbers():
    np.testing.assert_array_equal(naive.relu(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 2.0])
    x, W, b = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [3.0, -1.0]]), np.array([0.5, 0.0])
    np.testing.assert_array_equal(naive.linear(x, W, b), [[1.5, 1.0]])
    np.testing.assert_array_equal(naive.linear_transpose(np.array([[1.0, 2.0]]), W), [[7.0, -2.0]])
    loss = naive.softmax_cross_entropy(np.array([[0.0, math.log(3.0)]]), [1])
    assert abs(loss - math.log(4 / 3)) < 1e-15
    assert naive.first_argmax(np.array([[1, 3], [3, 0]])) == (0, 1)
