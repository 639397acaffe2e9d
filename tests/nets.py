"""Small nets the tests share."""
from zfcore.models import build, spec_of


def tiny_zfnet(num_classes=3, seed=0):
    """zfnet_small32's layers (all the names and strides) with few channels, so it runs fast."""
    spec = spec_of("zfnet_small32", num_classes=num_classes, init_std="he")
    for name, kind, args in spec["layers"]:
        if kind == "conv":
            args["c_out"] = 8 if name == "conv1" else 12
        elif kind == "linear" and "d_out" in args:
            args["d_out"] = 24
    return build(spec, seed=seed)
