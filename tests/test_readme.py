"""The README's teaching examples run and print what their comments say."""
import re

from tests.readme import run_block


def test_maxpool_example_prints_what_the_readme_says():
    code, printed = run_block("import numpy as np\nfrom zfcore.layers import MaxPool2D")
    assert len(code.strip().splitlines()) <= 10
    numbers = [float(v) for v in re.findall(r"-?\d+\.?", printed)]
    # maxima 9 9 / 9 9; switches 4 6 / 2 0 (the tie in the first window goes to the first 9);
    # gradient 1 and 3 at the two 9s; unpooled values 9 and 27 there
    assert numbers[:8] == [9, 9, 9, 9, 4, 6, 2, 0]
    grad, unpooled = numbers[8:24], numbers[24:40]
    assert grad[5] == 1 and grad[10] == 3 and sum(grad) == 4
    assert unpooled[5] == 9 and unpooled[10] == 27 and sum(unpooled) == 36


def test_fast_and_naive_conv_example_prints_what_the_readme_says():
    code, printed = run_block("import numpy as np\nfrom zfcore.layers import naive\n")
    assert len(code.strip().splitlines()) <= 10
    lines = printed.splitlines()
    assert len(lines) == 2
    # (5 + 2 - 3) // 2 + 1 = 3: y (1, 3, 3, 3); columns (C*k*k, N*Ho*Wo) = (18, 9)
    assert [int(v) for v in re.findall(r"\d+", lines[0])] == [1, 3, 3, 3, 18, 9]
    diff = float(re.fullmatch(r"max difference (\S+)", lines[1]).group(1))
    # the two agree to float64 rounding: sums of 18 products of unit normals, plus the bias
    assert 0.0 <= diff < 1e-13
