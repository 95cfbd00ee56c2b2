"""LR schedulers: values by hand, the optimizer really uses them, state_dict, errors (torch parity: test_optim_torch_parity)."""
import copy
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler as sch


def make_opt(lr=1.0, groups=1):
    ps = [mg.tensor([1.0], dtype="float64", requires_grad=True) for _ in range(groups)]
    return optim.SGD([{"params": [p], "lr": lr * (k + 1)} for k, p in enumerate(ps)], lr=lr), ps


def lrs(s, n):
    out = [s.get_last_lr()]
    for _ in range(n):
        s.optimizer.step()
        s.step()
        out.append(s.get_last_lr())
    return out


def test_step_lr_by_hand():
    opt, _ = make_opt(1.0, groups=2)
    got = lrs(sch.StepLR(opt, step_size=3, gamma=0.1), 9)
    expected = [[0.1 ** (e // 3), 2 * 0.1 ** (e // 3)] for e in range(10)]
    assert got == [pytest.approx(e, rel=1e-14) for e in expected]
    assert opt.param_groups[0]["initial_lr"] == 1.0 and opt.param_groups[1]["initial_lr"] == 2.0


def test_linear_lr_by_hand():
    opt, _ = make_opt(0.5)
    got = [v[0] for v in lrs(sch.LinearLR(opt, start_factor=0.2, end_factor=1.0, total_iters=4), 8)]
    # factor: 0.2, 0.4, 0.6, 0.8, 1.0, then constant
    assert got == pytest.approx([0.5 * f for f in (0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0)], rel=1e-14)
    opt, _ = make_opt(1.0)
    got = [v[0] for v in lrs(sch.LinearLR(opt), 6)]  # torch's defaults: 1/3 -> 1 over 5 epochs
    assert got == pytest.approx([1 / 3 + (2 / 3) * min(e, 5) / 5 for e in range(7)], rel=1e-14)


def test_lambda_lr_by_hand_with_one_lambda_per_group():
    opt, _ = make_opt(1.0, groups=2)
    s = sch.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: e + 1])
    got = lrs(s, 4)
    assert got == [pytest.approx([0.5 ** e, 2.0 * (e + 1)]) for e in range(5)]


def test_the_optimizer_steps_with_the_scheduled_lr():
    opt, (p,) = make_opt(1.0)
    s = sch.StepLR(opt, step_size=1, gamma=0.5)
    moved = []
    for _ in range(3):
        before = p.numpy().copy()
        p.grad = mg.tensor([1.0], dtype="float64")
        opt.step()
        s.step()
        moved.append(float(before[0] - p.numpy()[0]))
    assert moved == pytest.approx([1.0, 0.5, 0.25])


def test_state_dict_round_trip_resumes_the_schedule():
    opt, _ = make_opt(1.0)
    s = sch.LinearLR(opt, start_factor=0.25, total_iters=8)
    lrs(s, 3)
    sd = copy.deepcopy(s.state_dict())
    assert "optimizer" not in sd and sd["last_epoch"] == 3
    assert all(isinstance(v, (int, float, bool, list)) for v in sd.values())
    rest = [v[0] for v in lrs(s, 6)[1:]]
    # As in torch: create the scheduler first (its constructor sets the lr of epoch 0),
    # then restore the optimizer's lr (normally opt2.load_state_dict) and the scheduler.
    opt2, _ = make_opt(1.0)
    s2 = sch.LinearLR(opt2, start_factor=0.9, total_iters=2)
    opt2.param_groups[0]["lr"] = sd["_last_lr"][0]
    s2.load_state_dict(sd)
    assert [v[0] for v in lrs(s2, 6)[1:]] == pytest.approx(rest, rel=1e-14)


def test_lambda_lr_state_dict_skips_functions_but_keeps_callable_objects_state():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, e):
            return min(1.0, (e + 1) / self.n)

    opt, _ = make_opt(1.0, groups=2)
    s = sch.LambdaLR(opt, [lambda e: 1.0, Warmup(4)])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [None, {"n": 4}]
    opt2, _ = make_opt(1.0, groups=2)
    w = Warmup(100)
    s2 = sch.LambdaLR(opt2, [lambda e: 1.0, w])
    s2.load_state_dict(sd)
    assert w.n == 4 and s2.last_epoch == 0


def test_resume_with_last_epoch_needs_initial_lr():
    opt, _ = make_opt(1.0)
    with pytest.raises(KeyError, match="initial_lr"):
        sch.StepLR(opt, step_size=2, last_epoch=4)
    opt.param_groups[0]["initial_lr"] = 1.0
    s = sch.StepLR(opt, step_size=2, gamma=0.5, last_epoch=4)  # epoch 5 next: no decay at an odd epoch
    assert s.last_epoch == 5 and s.get_last_lr() == [1.0]


def test_bad_arguments_raise():
    opt, _ = make_opt()
    with pytest.raises(TypeError, match="Optimizer"):
        sch.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size"):
        sch.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="start_factor"):
        sch.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="end_factor"):
        sch.LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match="lr_lambdas"):
        sch.LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(TypeError, match="callable"):
        sch.LambdaLR(opt, 0.5)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive int"):
        sch.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="MultiStepLR: milestones must be ints"):
        sch.MultiStepLR(opt, milestones=[1.5])
    with pytest.raises(ValueError, match="ReduceLROnPlateau: factor must be in \\(0, 1\\)"):
        sch.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="ReduceLROnPlateau: mode must be 'min' or 'max'"):
        sch.ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(TypeError, match="ReduceLROnPlateau.step: expected a number"):
        sch.ReduceLROnPlateau(opt).step("0.5")
    with pytest.raises(ValueError, match="ConstantLR: factor must be in \\[0, 1\\]"):
        sch.ConstantLR(opt, factor=2.0)
    with pytest.raises(ValueError, match="PolynomialLR: total_iters must be a positive int"):
        sch.PolynomialLR(opt, total_iters=0)
    with pytest.raises(ValueError, match="CosineAnnealingWarmRestarts: T_mult must be an int >= 1"):
        sch.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="expected a number >= 0 as epoch"):
        sch.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)
    with pytest.raises(ValueError, match="OneCycleLR: give either total_steps or both epochs and steps_per_epoch"):
        sch.OneCycleLR(opt, max_lr=1.0, epochs=3)
    with pytest.raises(ValueError, match="OneCycleLR: max_lr must have one value per param group"):
        sch.OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=10)
    with pytest.raises(ValueError, match="OneCycleLR: cycle_momentum=True needs an optimizer with momentum or betas"):
        sch.OneCycleLR(optim.Adagrad([mg.tensor([1.0], requires_grad=True)]), max_lr=1.0, total_steps=10)
    with pytest.raises(ValueError, match="SequentialLR: expected 1 milestones"):
        sch.SequentialLR(opt, [sch.ConstantLR(opt), sch.ExponentialLR(opt, 0.9)], milestones=[])
    other, _ = make_opt()
    with pytest.raises(ValueError, match="same optimizer"):
        sch.ChainedScheduler([sch.ConstantLR(opt), sch.ExponentialLR(other, 0.9)])
    with pytest.raises(ValueError, match="does not support ReduceLROnPlateau"):
        sch.SequentialLR(opt, [sch.ConstantLR(opt), sch.ReduceLROnPlateau(opt)], milestones=[3])


def test_constant_polynomial_and_warm_restarts_by_hand():
    opt, _ = make_opt(1.0)
    assert [v[0] for v in lrs(sch.ConstantLR(opt, factor=0.25, total_iters=3), 5)] == \
        pytest.approx([0.25, 0.25, 0.25, 1.0, 1.0, 1.0], rel=1e-14)
    opt, _ = make_opt(1.0)
    assert [v[0] for v in lrs(sch.PolynomialLR(opt, total_iters=4, power=2.0), 6)] == \
        pytest.approx([(1 - min(e, 4) / 4) ** 2 for e in range(7)], rel=1e-14, abs=1e-15)
    opt, _ = make_opt(1.0)
    # periods of 2, 4, 8 epochs: T_cur restarts at epochs 2 and 6
    got = [v[0] for v in lrs(sch.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2), 7)]
    t_cur, t_i = [0, 1, 0, 1, 2, 3, 0, 1], [2, 2, 4, 4, 4, 4, 8, 8]
    assert got == pytest.approx([(1 + math.cos(math.pi * c / i)) / 2 for c, i in zip(t_cur, t_i)], rel=1e-14)


def test_one_cycle_by_hand():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9)
    s = sch.OneCycleLR(opt, max_lr=1.0, total_steps=11, pct_start=0.5, anneal_strategy="linear",
                       div_factor=10.0, final_div_factor=5.0)
    seen, moms = [], []
    for step in range(11):  # 11 lrs: the constructor's and 10 steps
        seen.append(s.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
        if step < 10:
            s.step()
    # up from 0.1 to 1.0 over steps 0..4.5 (end step 0.5 * 11 - 1), then down to 0.1 / 5 at step 10
    up = [0.1 + 0.9 * t / 4.5 for t in range(5)]
    down = [1.0 + (0.02 - 1.0) * (t - 4.5) / 5.5 for t in range(5, 11)]
    assert seen == pytest.approx(up + down, rel=1e-14)
    assert moms[0] == pytest.approx(0.95) and min(moms) == pytest.approx(0.85 + 0.1 * 0.5 / 5.5, rel=1e-12)


def test_sequential_lr_warm_up_then_cosine_by_hand():
    opt, _ = make_opt(1.0)
    s = sch.SequentialLR(opt, [sch.LinearLR(opt, start_factor=0.25, total_iters=3), sch.CosineAnnealingLR(opt, 4)],
                         milestones=[3])
    got = [v[0] for v in lrs(s, 7)]
    warm = [0.25, 0.5, 0.75]
    cosine = [(1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]  # restarts at its own epoch 0
    assert got == pytest.approx(warm + cosine, rel=1e-14, abs=1e-15)


def test_state_dicts_of_the_newer_schedulers_resume(tmp_path):
    """MultiStepLR / CosineAnnealingLR / ReduceLROnPlateau continue identically after their state went
    through a checkpoint file (mg.save / mg.load: no pickle)."""
    for make, feed in [(lambda o: sch.MultiStepLR(o, milestones=[2, 5, 5]), None),
                       (lambda o: sch.CosineAnnealingLR(o, T_max=4, eta_min=0.1), None),
                       (lambda o: sch.ReduceLROnPlateau(o, patience=1), [3, 2, 2, 2, 2, 2, 1, 1, 1, 1]),
                       (lambda o: sch.OneCycleLR(o, max_lr=2.0, total_steps=12, three_phase=True,
                                                 cycle_momentum=False), None),
                       (lambda o: sch.SequentialLR(o, [sch.ConstantLR(o, 0.5, 2), sch.PolynomialLR(o, 6)], [3]),
                        None)]:
        opt, _ = make_opt(1.0)
        s = make(opt)
        for k in range(5):
            s.step(*([feed[k]] if feed else []))
        mg.save({"scheduler": s.state_dict()}, tmp_path / "sched.npz")
        sd = mg.load(tmp_path / "sched.npz")["scheduler"]
        opt2, _ = make_opt(1.0)
        opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
        opt2.param_groups[0]["initial_lr"] = 1.0
        s2 = make(opt2)
        s2.load_state_dict(sd)
        opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
        for k in range(5, 10):
            s.step(*([feed[k]] if feed else []))
            s2.step(*([feed[k]] if feed else []))
            assert s2.get_last_lr() == s.get_last_lr(), type(s).__name__


def test_learning_rates_stay_python_floats():
    # A NumPy float64 lr would upcast float32 updates; the schedulers compute with Python floats.
    opt, _ = make_opt(0.1)
    s = sch.StepLR(opt, step_size=1, gamma=0.9)
    lrs(s, 3)
    assert type(opt.param_groups[0]["lr"]) is float and not isinstance(opt.param_groups[0]["lr"], np.floating)
