"""2-D convolution layers and pools, one training step each (forward, a sum loss, backward), minigrad vs torch CPU.

Conv2d(16, 32, 3, padding=1) on (32, 16, 28, 28) (a small image model's layer), a strided
ConvTranspose2d, max_pool2d / avg_pool2d, adaptive_avg_pool2d and bilinear interpolate,
float32, the same weights and inputs in both frameworks. Each framework runs alternating
blocks of steps in one process (so both see the same machine load); the table gives the
median step time, the fastest step and the ratio minigrad / torch of the medians.

    python benchmarks/bench_conv2d.py [--repeats 10] [--rounds 3]
"""
from __future__ import annotations

import argparse

import numpy as np

import minigrad as mg
from minigrad import functional as F
from minigrad import nn

from bench_layers import run_table  # the same timing loop and table (benchmarks/ is on sys.path when run)

try:
    import torch
except ImportError:  # the script still times minigrad alone
    torch = None

N, C, S = 32, 16, 28  # batch, channels, image side


def cases():
    """(name, build) pairs; build(lib) returns (module or None, input, forward) for lib = minigrad or torch."""
    rng = np.random.default_rng(0)
    x_img = rng.standard_normal((N, C, S, S)).astype(np.float32)
    x_small = rng.standard_normal((N, 2 * C, S // 2, S // 2)).astype(np.float32)

    def tensor(lib, a):
        return (mg if lib is mg else torch).tensor(a, requires_grad=True)

    def same_weights(m_mg, m_t):
        m_t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m_mg.state_dict().items()})

    def conv(lib):
        m = nn.Conv2d(C, 2 * C, 3, padding=1) if lib is mg else torch.nn.Conv2d(C, 2 * C, 3, padding=1)
        if lib is not mg:
            mg.manual_seed(0)
            same_weights(nn.Conv2d(C, 2 * C, 3, padding=1), m)
        x = tensor(lib, x_img)
        return m, x, lambda: m(x)

    def convt(lib):
        args = (2 * C, C, 4)
        kw = dict(stride=2, padding=1)
        m = nn.ConvTranspose2d(*args, **kw) if lib is mg else torch.nn.ConvTranspose2d(*args, **kw)
        x = tensor(lib, x_small)
        return m, x, lambda: m(x)

    def fn_case(mg_fn, torch_fn):
        def build(lib):
            x = tensor(lib, x_img)
            f = mg_fn if lib is mg else torch_fn
            return None, x, lambda: f(x)
        return build

    tf = torch.nn.functional if torch is not None else None
    return [
        ("Conv2d(16, 32, 3, padding=1)", conv),
        ("ConvTranspose2d(32, 16, 4, s=2, p=1)", convt),
        ("max_pool2d(2)", fn_case(lambda x: F.max_pool2d(x, 2), tf and (lambda x: tf.max_pool2d(x, 2)))),
        ("max_pool2d(3, 2, 1)", fn_case(lambda x: F.max_pool2d(x, 3, 2, 1), tf and (lambda x: tf.max_pool2d(x, 3, 2, 1)))),
        ("avg_pool2d(2)", fn_case(lambda x: F.avg_pool2d(x, 2), tf and (lambda x: tf.avg_pool2d(x, 2)))),
        ("adaptive_avg_pool2d(7)", fn_case(lambda x: F.adaptive_avg_pool2d(x, 7),
                                           tf and (lambda x: tf.adaptive_avg_pool2d(x, 7)))),
        ("interpolate(x2, bilinear)", fn_case(lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"),
                                              tf and (lambda x: tf.interpolate(x, scale_factor=2, mode="bilinear")))),
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=10, help="timed steps per block")
    p.add_argument("--rounds", type=int, default=3, help="alternating blocks per framework")
    args = p.parse_args(argv)
    if torch is not None:
        torch.manual_seed(0)
    print(f"(N, C, H, W) = ({N}, {C}, {S}, {S}); float32; torch "
          f"{torch.__version__ + ' ' + str(torch.get_num_threads()) + ' threads' if torch else 'not installed'}")
    run_table(cases(), args.rounds, args.repeats, warmup=2)  # bench_layers' timing loop and table


if __name__ == "__main__":
    main()
