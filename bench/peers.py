"""The PyTorch peers of the benchmarks: the twin of a zfcore net, and PyTorch set up for a fair
GPU comparison. PyTorch is imported here and in bench/ only, never inside zfcore."""
import numpy as np


def _torch_layer(layer):
    """The torch.nn module of one of our layers, by its registered kind."""
    from torch import nn
    make = {
        "conv": lambda: nn.Conv2d(layer.c_in, layer.c_out, layer.k, layer.stride, layer.pad),
        "linear": lambda: nn.Linear(layer.d_in, layer.d_out),
        "relu": nn.ReLU,
        "pool": lambda: nn.MaxPool2d(layer.k, layer.stride, ceil_mode=layer.ceil_mode),
        # PyTorch divides alpha by size; ours does not.
        "lrn": lambda: nn.LocalResponseNorm(layer.size, alpha=layer.size * layer.alpha,
                                            beta=layer.beta, k=layer.k),
        "dropout": lambda: nn.Dropout(layer.p),
        "flatten": nn.Flatten,
    }
    if layer.kind not in make:
        raise TypeError("no torch twin for %r (kind %r)" % (layer, layer.kind))
    return make[layer.kind]()


def torch_model(net):
    """The same layers as a torch.nn.Sequential, holding copies of our weights. The net's
    ``input_scale`` is folded into the first layer's weights (conv is linear in x and W), so
    the twin computes the same function on the same raw inputs."""
    import torch
    from torch import nn
    mods = []
    for k, layer in enumerate(net.layers.values()):
        m = _torch_layer(layer)
        if layer.params:
            W = np.asarray(layer.params["W"])
            if k == 0 and net.input_scale != 1.0:
                W = W * np.float32(net.input_scale)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
                m.bias.copy_(torch.from_numpy(np.asarray(layer.params["b"])))
        elif k == 0 and net.input_scale != 1.0:
            raise TypeError("the twin folds input_scale into the first layer's weights, but %r "
                            "has none" % (layer,))
        mods.append(m)
    return nn.Sequential(*mods)


def import_torch():
    """torch with a CUDA device, TF32 off (float32 against float32) and cuDNN autotuning on; or
    None."""
    try:
        import torch
        if not torch.cuda.is_available():
            return None
    except ImportError:
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch
