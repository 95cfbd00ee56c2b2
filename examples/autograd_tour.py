"""A five-minute tour of minigrad's autograd: tensors, backward, gradcheck.

Run: python examples/autograd_tour.py
"""
import minigrad as mg
from minigrad.testing import gradcheck


def main():
    mg.manual_seed(0)
    # 1. A tensor that records what is done to it.
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()  # y = sum x_i^2
    y.backward()  # dy/dx = 2x
    print("x      =", x)
    print("y      =", y)
    print("dy/dx  =", x.grad, "(expected 2x)")

    # 2. A tiny model: one linear layer with tanh, its gradients, and a check of them.
    w = mg.randn(3, 2, dtype="float64", requires_grad=True)
    inp = mg.randn(4, 3, dtype="float64")
    out = (inp @ w).tanh().mean()
    out.backward()
    print("d mean(tanh(inp @ w)) / dw =\n", w.grad)
    ok = gradcheck(lambda w: (inp @ w).tanh().mean(), w)
    print("gradcheck against finite differences:", "passed" if ok else "FAILED")

    # 3. no_grad: evaluate without recording a graph.
    with mg.no_grad():
        z = (inp @ w).tanh()
    print("under no_grad, requires_grad =", z.requires_grad)


if __name__ == "__main__":
    main()
