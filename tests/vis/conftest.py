import pytest

from tests.vis.plusnet import make_plus_net


@pytest.fixture
def plus_net():
    return make_plus_net()
