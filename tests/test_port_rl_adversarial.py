"""Porting audit: reinforcement learning and adversarial-example programs, run in torch and in minigrad.

1. The "Reinforcement Learning (DQN)" tutorial: ReplayMemory of `Transition` namedtuples sampled with
   `random.sample`, an MLP DQN, epsilon-greedy `policy_net(state).max(1).indices.view(1, 1)`, the batch
   built with `torch.cat` and a bool `non_final_mask`, `gather(1, action_batch)`, the target under
   `no_grad` written through the mask, `SmoothL1Loss`, `AdamW(amsgrad=True)`, `clip_grad_value_` and the
   soft target update through `state_dict()` / `load_state_dict()`; plus the durations plot's
   `unfold(0, w, 1).mean(1)` running mean. The environment is a tiny deterministic toy written here.
2. The "Adversarial Example Generation" (FGSM) tutorial: its LeNet (`Conv2d`, `max_pool2d`, `Dropout2d`,
   `F.dropout(training=self.training)`, `view(-1, n)`, `log_softmax`) in eval mode, `data.requires_grad =
   True`, `F.nll_loss`, `model.zero_grad()`, `data.grad`, `sign()`, `torch.clamp(.., 0, 1)`, the denorm /
   re-normalise steps and the accuracy loop over epsilons with its adversarial examples.
3. pytorch/examples reinforcement_learning/actor_critic.py: a shared-body policy with action and value
   heads, `Categorical`, the `SavedAction` namedtuple, discounted returns normalised with `std() + eps`,
   `smooth_l1_loss` on the values, `torch.stack(...).sum()` of both loss lists, Adam.

Both libraries run the same program text (`lib` is torch or minigrad) in float64 (the programs' float32
default switched to float64 in both; one float32 run of each RL program checks that float32 stays float32),
with torch's initial weights loaded into minigrad's models; losses, actions, gradients, optimizer state and
the parameters after several steps are compared. Randomness: the epsilon-greedy draws come from Python's
`random` seeded identically for both runs; the Categorical samples are drawn by each library (their dtype
and shape checked) and then replaced by one shared inverse-CDF draw so both trajectories are the same.

Found while porting and fixed (focused tests below):
* a uint8 index (the older DQN tutorial's `non_final_mask`, dtype=torch.uint8) was read as the positions
  0/1, silently reading and writing the wrong elements; torch reads it as a mask (with a deprecation
  warning): now so does minigrad (ops/shape.py normalize_index);
* `torch.tensor(list)` of one-element tensors (a buffer of `torch.tensor([reward])`) gave shape (N, 1)
  where torch reads each as a number, (N,); and float64 NumPy values / tensors in a list became float32
  (torch keeps float64) (tensor.py `_sequence_to_array`).
`nn.Dropout2d` (the FGSM tutorial's LeNet) did not exist either; it was added at the same time for
pytorch/examples' mnist_rnn and is tested in tests/test_port_examples2.py.
Known differences met (README): `data.grad.data` is the raw NumPy array here (the tutorial's
`data_grad = data.grad.data; data_grad.sign()` becomes `data.grad.sign()`); `returns.std()` of a one-step
episode raises ValueError (torch: NaN, which then poisons every parameter).
"""
import math
import random
from collections import deque, namedtuple
from itertools import count

import numpy as np
import pytest

import minigrad as mg
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-12)
TOL32 = dict(rtol=2e-5, atol=1e-6)  # float32 runs: both libraries round differently in the last bits


# ---------------------------------------------------------------- helpers
def _set_default(dtype_name):
    torch.set_default_dtype(getattr(torch, dtype_name))
    mg.set_default_dtype(dtype_name)


@pytest.fixture
def default_dtype():
    """Run a program under a default dtype in both libraries (restored to float32 afterwards)."""
    yield _set_default
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype("float32")


_np = to_numpy
_close = closer(TOL)


def _dt(t):
    """A dtype's name in either library ('float64' for torch.float64 and minigrad's float64)."""
    return str(t.dtype).replace("torch.", "")


def _weights(module):
    """torch's state dict as NumPy arrays, as a porter would hand it to load_state_dict."""
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _libs(lib):
    """The names a program imports: torch, nn, F, optim (or minigrad's)."""
    return lib, lib.nn, lib.nn.functional, lib.optim


class ToyCart:
    """A tiny deterministic CartPole-like world with gym's API (reset/step/action_space).

    State (x, v, theta, omega); action 1 pushes right, 0 left; reward 1 per step; the episode terminates
    when |x| > 0.3 or |theta| > 0.25 and is truncated after `max_steps`. `action_space.sample()` draws
    from its own seeded generator, as gym's does.
    """

    class _Space:
        n = 2

        def __init__(self, seed):
            self._rng = random.Random(seed)

        def sample(self):
            return self._rng.randrange(self.n)

    def __init__(self, max_steps=9, seed=0):
        self.max_steps = max_steps
        self.action_space = self._Space(seed)
        self._episode = 0

    def reset(self, seed=None):
        rng = np.random.default_rng(self._episode if seed is None else seed)
        self._episode += 1
        self.s = rng.uniform(-0.05, 0.05, 4)
        self.t = 0
        return self.s.copy(), {}

    def step(self, action):
        x, v, th, w = self.s
        f = 1.0 if action == 1 else -1.0
        v = v + 0.08 * f + 0.3 * th
        w = w - 0.12 * f + 0.5 * th
        x, th = x + 0.1 * v, th + 0.1 * w
        self.s = np.array([x, v, th, w])
        self.t += 1
        terminated = bool(abs(x) > 0.3 or abs(th) > 0.25)
        truncated = self.t >= self.max_steps
        return self.s.copy(), 1.0, terminated, truncated, {}


# ---------------------------------------------------------------- 1. the DQN tutorial
Transition = namedtuple("Transition", ("state", "action", "next_state", "reward"))


class ReplayMemory:
    def __init__(self, capacity):
        self.memory = deque([], maxlen=capacity)

    def push(self, *args):
        """Save a transition"""
        self.memory.append(Transition(*args))

    def sample(self, batch_size):
        return random.sample(self.memory, batch_size)

    def __len__(self):
        return len(self.memory)


def make_dqn(lib, n_observations=4, n_actions=2, hidden=16):
    torch_, nn, F, _ = _libs(lib)

    class DQN(nn.Module):
        def __init__(self, n_observations, n_actions):
            super(DQN, self).__init__()
            self.layer1 = nn.Linear(n_observations, hidden)
            self.layer2 = nn.Linear(hidden, hidden)
            self.layer3 = nn.Linear(hidden, n_actions)

        # Called with either one element to determine next action, or a batch during optimization.
        def forward(self, x):
            x = F.relu(self.layer1(x))
            x = F.relu(self.layer2(x))
            return self.layer3(x)

    return DQN(n_observations, n_actions)


def run_dqn(lib, weights, episodes=5, clip=100, tau=0.05, obs_dtype="float64", seed=0):
    """The tutorial's program (hyper-parameters shrunk); returns everything worth comparing."""
    torch_, nn, F, optim = _libs(lib)
    random.seed(seed)  # the tutorial's epsilon-greedy and replay sampling use Python's random
    BATCH_SIZE, GAMMA, EPS_START, EPS_END, EPS_DECAY, TAU, LR = 4, 0.99, 0.9, 0.05, 15, tau, 1e-2
    device = torch_.device("cuda" if torch_.cuda.is_available() else "cpu")
    device = torch_.device("cpu")  # the comparison runs on the CPU (torch here is a CPU build)

    env = ToyCart(seed=seed)
    n_actions = env.action_space.n
    state, info = env.reset(seed=seed)
    n_observations = len(state)

    policy_net = make_dqn(lib, n_observations, n_actions).to(device)
    target_net = make_dqn(lib, n_observations, n_actions).to(device)
    if weights is not None:
        policy_net.load_state_dict(weights)
    target_net.load_state_dict(policy_net.state_dict())

    optimizer = optim.AdamW(policy_net.parameters(), lr=LR, amsgrad=True)
    memory = ReplayMemory(64)
    steps_done = 0
    log = dict(actions=[], losses=[], grads=[], q=[], durations=[])

    def select_action(state):
        nonlocal steps_done
        sample = random.random()
        eps_threshold = EPS_END + (EPS_START - EPS_END) * math.exp(-1. * steps_done / EPS_DECAY)
        steps_done += 1
        if sample > eps_threshold:
            with torch_.no_grad():
                # t.max(1) returns the largest column value of each row; indices: the action.
                return policy_net(state).max(1).indices.view(1, 1)
        else:
            return torch_.tensor([[env.action_space.sample()]], device=device, dtype=torch_.long)

    def optimize_model():
        if len(memory) < BATCH_SIZE:
            return
        transitions = memory.sample(BATCH_SIZE)
        batch = Transition(*zip(*transitions))  # batch-array of Transitions -> Transition of batch-arrays

        non_final_mask = torch_.tensor(tuple(map(lambda s: s is not None, batch.next_state)), device=device,
                                       dtype=torch_.bool)
        non_final_next_states = torch_.cat([s for s in batch.next_state if s is not None])
        state_batch = torch_.cat(batch.state)
        action_batch = torch_.cat(batch.action)
        reward_batch = torch_.cat(batch.reward)

        state_action_values = policy_net(state_batch).gather(1, action_batch)

        next_state_values = torch_.zeros(BATCH_SIZE, device=device)
        with torch_.no_grad():
            next_state_values[non_final_mask] = target_net(non_final_next_states).max(1).values
        expected_state_action_values = (next_state_values * GAMMA) + reward_batch

        criterion = nn.SmoothL1Loss()
        loss = criterion(state_action_values, expected_state_action_values.unsqueeze(1))

        optimizer.zero_grad()
        loss.backward()
        torch_.nn.utils.clip_grad_value_(policy_net.parameters(), clip)
        optimizer.step()
        log["losses"].append(loss.item())
        log["q"].append(_np(state_action_values).copy())
        log["grads"].append({k: _np(p.grad).copy() for k, p in policy_net.named_parameters()})
        log["dtypes"] = (_dt(loss), _dt(next_state_values), _dt(expected_state_action_values))

    for i_episode in range(episodes):
        state, info = env.reset()
        state = torch_.tensor(state, dtype=getattr(torch_, obs_dtype), device=device).unsqueeze(0)
        for t in count():
            action = select_action(state)
            log["actions"].append(action.item())
            observation, reward, terminated, truncated, _ = env.step(action.item())
            reward = torch_.tensor([reward], device=device)
            done = terminated or truncated

            if terminated:
                next_state = None
            else:
                next_state = torch_.tensor(observation, dtype=getattr(torch_, obs_dtype), device=device).unsqueeze(0)

            memory.push(state, action, next_state, reward)
            state = next_state
            optimize_model()

            # Soft update of the target network's weights: theta' <- tau theta + (1 - tau) theta'
            target_net_state_dict = target_net.state_dict()
            policy_net_state_dict = policy_net.state_dict()
            for key in policy_net_state_dict:
                target_net_state_dict[key] = policy_net_state_dict[key] * TAU + target_net_state_dict[key] * (1 - TAU)
            target_net.load_state_dict(target_net_state_dict)

            if done:
                log["durations"].append(t + 1)
                break

    # plot_durations' running mean (window 3 instead of 100). Its `torch.zeros(99)` takes the default dtype,
    # float64 in the float64 runs, beside the float32 `means`: torch upcasts, minigrad refuses to mix
    # float32 with float64 (README), so the zeros are given the means' dtype (the same in float32 runs).
    durations_t = torch_.tensor(log["durations"], dtype=torch_.float)
    means = durations_t.unfold(0, 3, 1).mean(1).view(-1)
    log["means"] = _np(torch_.cat((torch_.zeros(2, dtype=means.dtype), means))).copy()
    log["policy"] = {k: _np(v).copy() for k, v in policy_net.state_dict().items()}
    log["target"] = {k: _np(v).copy() for k, v in target_net.state_dict().items()}
    log["opt"] = [{k: _np(v).copy() for k, v in s.items() if k != "step"}
                  for s in optimizer.state_dict()["state"].values()]
    log["steps"] = [float(_np(s["step"])) for s in optimizer.state_dict()["state"].values()]
    return log


def _compare_dqn(ours, theirs, **tol):
    assert ours["actions"] == theirs["actions"]
    assert ours["durations"] == theirs["durations"]
    assert len(ours["losses"]) == len(theirs["losses"]) > 10
    _close("losses", ours["losses"], theirs["losses"], **tol)
    for i, (q, tq) in enumerate(zip(ours["q"], theirs["q"])):
        _close(f"Q(s, a) step {i}", q, tq, **tol)
    for i, (g, tg) in enumerate(zip(ours["grads"], theirs["grads"])):
        assert list(g) == list(tg)
        for k in g:
            _close(f"{k}.grad step {i}", g[k], tg[k], **tol)
    for net in ("policy", "target"):
        assert list(ours[net]) == list(theirs[net])
        for k in ours[net]:
            _close(f"{net}.{k}", ours[net][k], theirs[net][k], **tol)
    for s, ts in zip(ours["opt"], theirs["opt"]):
        assert sorted(s) == sorted(ts) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        for k in s:
            _close(f"AdamW {k}", s[k], ts[k], **tol)
    assert ours["steps"] == theirs["steps"]
    _close("running mean of durations", ours["means"], theirs["means"], **tol)
    assert ours["dtypes"] == theirs["dtypes"]


@pytest.mark.parametrize("clip", [100, 0.02])  # the tutorial's 100 never bites here; 0.02 does
def test_dqn_tutorial_matches_torch(default_dtype, clip):
    default_dtype("float64")
    torch.manual_seed(0)
    theirs_init = _weights(make_dqn(torch))
    theirs = run_dqn(torch, {k: torch.from_numpy(v) for k, v in theirs_init.items()}, clip=clip)
    ours = run_dqn(mg, theirs_init, clip=clip)
    _compare_dqn(ours, theirs)
    # the run explored and exploited both actions, and the target net trails the policy net
    assert set(theirs["actions"]) == {0, 1}
    assert not np.allclose(theirs["policy"]["layer1.weight"], theirs["target"]["layer1.weight"])
    assert ours["dtypes"] == ("float64",) * 3
    if clip < 1:  # the clipping really happened, in both
        assert max(abs(g).max() for step in theirs["grads"] for g in step.values()) == pytest.approx(clip)


def test_dqn_tutorial_float32_stays_float32():
    """The tutorial as written (float32 observations, float32 default): float32 everywhere, close to torch."""
    torch.manual_seed(1)
    init = _weights(make_dqn(torch))
    theirs = run_dqn(torch, {k: torch.from_numpy(v) for k, v in init.items()}, obs_dtype="float32", seed=1)
    ours = run_dqn(mg, init, obs_dtype="float32", seed=1)
    assert ours["dtypes"] == ("float32",) * 3
    for k, v in ours["policy"].items():
        assert v.dtype == np.float32, k
    _compare_dqn(ours, theirs, **TOL32)


def test_soft_update_through_state_dict_leaves_the_policy_alone(default_dtype):
    """load_state_dict copies: the target net never aliases the policy net's arrays (the tutorial's
    first `target_net.load_state_dict(policy_net.state_dict())`), and the blended dict is plain values."""
    default_dtype("float64")
    for lib in (torch, mg):
        a, b = make_dqn(lib), make_dqn(lib)
        b.load_state_dict(a.state_dict())
        with lib.no_grad():
            a.layer1.weight.add_(1.0)
        assert not np.allclose(_np(a.layer1.weight), _np(b.layer1.weight))
        sd_a, sd_b = a.state_dict(), b.state_dict()
        blended = {k: sd_a[k] * 0.25 + sd_b[k] * 0.75 for k in sd_a}
        assert not any(v.requires_grad for v in blended.values())
        b.load_state_dict(blended)
        _close(lib.__name__, b.layer1.weight, _np(a.layer1.weight) * 0.25 + (_np(a.layer1.weight) - 1) * 0.75)


def test_masked_write_of_target_values_matches_torch(default_dtype):
    """`next_state_values[non_final_mask] = target(...).max(1).values` under no_grad, all/none masked."""
    default_dtype("float64")
    rows = np.random.default_rng(3).standard_normal((3, 2))
    for mask in [(True, False, True, False, True), (True,) * 3 + (False,) * 2, (False,) * 5]:
        outs = []
        for lib in (torch, mg):
            v = lib.zeros(5)
            m = lib.tensor(mask, dtype=lib.bool)
            src = lib.tensor(rows[: int(sum(mask))]).max(1).values
            with lib.no_grad():
                v[m] = src
            outs.append(_np(v))
        _close(f"mask {mask}", outs[1], outs[0])


@pytest.mark.filterwarnings("ignore:indexing with dtype torch.uint8")  # torch warns again in its backward
def test_uint8_mask_of_the_older_dqn_tutorial_indexes_as_a_mask():
    """The 2018-19 tutorial built `non_final_mask` with dtype=torch.uint8; torch reads a uint8 index as a
    mask (with a deprecation warning). minigrad read it as the positions 0/1 and silently returned or
    wrote the wrong elements (fixed: a mask, with a warning)."""
    mask = (True, False, True, False, True)
    rows = np.random.default_rng(4).standard_normal((3, 2))
    got = []
    for lib in (torch, mg):
        m = lib.tensor(mask, dtype=lib.uint8)
        v = lib.zeros(5, dtype=lib.float64)
        with pytest.warns(UserWarning, match="uint8"):
            v[m] = lib.tensor(rows).max(1)[0].detach()  # the older spelling of .max(1).values
        x = lib.tensor(np.arange(10.0).reshape(5, 2), requires_grad=True)
        with pytest.warns(UserWarning, match="uint8"):
            y = x[m]
        (y * lib.tensor(rows)).sum().backward()
        with pytest.warns(UserWarning, match="uint8"):
            cols = x.detach()[:, lib.tensor([0, 3], dtype=lib.uint8)]  # nonzero (3) counts as True
        got.append((_np(v), _np(y), _np(x.grad), _np(cols)))
    for name, a, b in zip(("written", "read", "grad", "columns"), got[1], got[0]):
        _close(name, a, b)
    with pytest.warns(UserWarning), pytest.raises(IndexError, match="boolean mask of shape"):
        mg.zeros(5)[mg.tensor([1, 0], dtype=mg.uint8)]


def test_older_dqn_tutorial_spellings(default_dtype):
    """The older tutorial's optimize_model: `.max(1)[1]`, `.max(1)[0].detach()` without no_grad, RMSprop,
    and `param.grad.data.clamp_(-1, 1)`, which is NumPy's `clip(..., out=)` here (`.data` is the array)."""
    default_dtype("float64")
    torch.manual_seed(5)
    init = _weights(make_dqn(torch))
    rng = np.random.default_rng(5)
    states, nexts = rng.standard_normal((4, 4)), rng.standard_normal((3, 4))
    actions, rewards = np.array([[0], [1], [1], [0]]), np.ones(4)
    mask = (True, False, True, True)
    out = []
    for lib in (torch, mg):
        policy, target = make_dqn(lib), make_dqn(lib)
        policy.load_state_dict(init if lib is mg else {k: torch.from_numpy(v) for k, v in init.items()})
        target.load_state_dict(policy.state_dict())
        target.eval()
        optimizer = lib.optim.RMSprop(policy.parameters())
        greedy = policy(lib.tensor(states[:1])).max(1)[1].view(1, 1)
        for _ in range(3):
            state_action_values = policy(lib.tensor(states)).gather(1, lib.tensor(actions))
            next_state_values = lib.zeros(4)
            next_state_values[lib.tensor(mask)] = target(lib.tensor(nexts)).max(1)[0].detach()
            expected = (next_state_values * 0.999) + lib.tensor(rewards)
            loss = lib.nn.functional.smooth_l1_loss(state_action_values, expected.unsqueeze(1))
            optimizer.zero_grad()
            loss.backward()
            for param in policy.parameters():
                if lib is torch:
                    param.grad.data.clamp_(-1, 1)
                else:
                    param.grad.data.clip(-1, 1, out=param.grad.data)
            optimizer.step()
        assert not next_state_values.requires_grad
        out.append((greedy, loss, {k: _np(v) for k, v in policy.state_dict().items()}))
    (g, l, sd), (tg, tl, tsd) = out[1], out[0]
    assert g.tolist() == tg.tolist() and _dt(g) == "int64"
    _close("loss", l, tl)
    for k in sd:
        _close(k, sd[k], tsd[k])


# ---------------------------------------------------------------- 2. the FGSM tutorial
def make_lenet(lib, side=20):
    torch_, nn, F, _ = _libs(lib)
    n_flat = 6 * (((side - 4) // 2 - 4) // 2) ** 2

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 4, kernel_size=5)
            self.conv2 = nn.Conv2d(4, 6, kernel_size=5)
            self.conv2_drop = nn.Dropout2d()
            self.fc1 = nn.Linear(n_flat, 12)
            self.fc2 = nn.Linear(12, 10)

        def forward(self, x):
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = x.view(-1, n_flat)
            x = F.relu(self.fc1(x))
            x = F.dropout(x, training=self.training)
            x = self.fc2(x)
            return F.log_softmax(x, dim=1)

    return Net()


MEAN, STD = (0.1307,), (0.3081,)


def fgsm_attack(image, epsilon, data_grad):
    sign_data_grad = data_grad.sign()  # element-wise sign of the data gradient
    perturbed_image = image + epsilon * sign_data_grad
    lib = mg if isinstance(image, mg.Tensor) else torch
    perturbed_image = lib.clamp(perturbed_image, 0, 1)  # keep the image in [0, 1]
    return perturbed_image


def run_fgsm(lib, weights, images, labels, epsilons):
    """The tutorial's test() for every epsilon, on a DataLoader of batch size 1 (model in eval mode)."""
    torch_, nn, F, _ = _libs(lib)
    device = torch_.device("cpu")

    def denorm(batch, mean=list(MEAN), std=list(STD)):
        if isinstance(mean, list):
            mean = torch_.tensor(mean).to(device)
        if isinstance(std, list):
            std = torch_.tensor(std).to(device)
        return batch * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)

    def normalize(tensor):  # torchvision's transforms.Normalize((0.1307,), (0.3081,)) (inplace=False)
        mean = torch_.as_tensor(MEAN, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
        std = torch_.as_tensor(STD, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
        return tensor.clone().sub_(mean).div_(std)

    model = make_lenet(lib).to(device)
    model.load_state_dict(weights)
    model.eval()
    test_loader = torch_.utils.data.DataLoader(
        torch_.utils.data.TensorDataset(torch_.tensor(images), torch_.tensor(labels)), batch_size=1, shuffle=False)
    log = dict(accuracies=[], examples=[], grads=[], param_grads=[], perturbed=[], outputs=[])

    def test(model, device, test_loader, epsilon):
        correct = 0
        adv_examples = []
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            data.requires_grad = True  # the attack needs the gradient with respect to the input
            output = model(data)
            init_pred = output.max(1, keepdim=True)[1]
            if init_pred.item() != target.item():  # already wrong: don't attack
                continue
            loss = F.nll_loss(output, target)
            model.zero_grad()
            loss.backward()
            data_grad = data.grad  # the tutorial's data.grad.data (here .data is the raw array: README)
            log["grads"].append(_np(data_grad).copy())
            log["param_grads"].append(_np(model.conv1.weight.grad).copy())
            data_denorm = denorm(data)
            perturbed_data = fgsm_attack(data_denorm, epsilon, data_grad)
            perturbed_data_normalized = normalize(perturbed_data)
            output = model(perturbed_data_normalized)
            log["outputs"].append(_np(output).copy())
            log["perturbed"].append(_np(perturbed_data).copy())
            final_pred = output.max(1, keepdim=True)[1]
            if final_pred.item() == target.item():
                correct += 1
                if epsilon == 0 and len(adv_examples) < 5:
                    adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
                    adv_examples.append((init_pred.item(), final_pred.item(), adv_ex))
            else:
                if len(adv_examples) < 5:
                    adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
                    adv_examples.append((init_pred.item(), final_pred.item(), adv_ex))
        final_acc = correct / float(len(test_loader))
        return final_acc, adv_examples

    for eps in epsilons:
        acc, ex = test(model, device, test_loader, eps)
        log["accuracies"].append(acc)
        log["examples"].append(ex)
    return log


def test_fgsm_tutorial_matches_torch(default_dtype):
    default_dtype("float64")
    torch.manual_seed(1)
    tnet = make_lenet(torch)  # the "pretrained" model: torch's initial weights (no download)
    rng = np.random.default_rng(1)
    raw = rng.uniform(0, 1, (10, 1, 20, 20)) ** rng.uniform(0.2, 5, (10, 1, 1, 1))  # images of varied brightness
    images = (raw - MEAN[0]) / STD[0]  # what ToTensor + Normalize would feed the model
    with torch.no_grad():
        preds = tnet.eval()(torch.tensor(images)).argmax(1).numpy()
    # targets: the model's own prediction for 7 images (attacked), another class for 3 (skipped)
    labels = np.where(np.arange(10) < 7, preds, (preds + 1) % 10).astype(np.int64)
    epsilons = [0, .05, .1, .2, .3]
    theirs = run_fgsm(torch, tnet.state_dict(), images, labels, epsilons)
    ours = run_fgsm(mg, _weights(tnet), images, labels, epsilons)

    assert ours["accuracies"] == theirs["accuracies"]
    assert theirs["accuracies"][0] == 0.7 and theirs["accuracies"][-1] < 0.7  # the attack works
    assert len(ours["grads"]) == len(theirs["grads"]) == 7 * len(epsilons)
    for name in ("grads", "param_grads", "outputs", "perturbed"):
        for i, (a, b) in enumerate(zip(ours[name], theirs[name])):
            _close(f"{name}[{i}]", a, b)
    for i, (g, tg) in enumerate(zip(ours["grads"], theirs["grads"])):
        np.testing.assert_array_equal(np.sign(g), np.sign(tg), err_msg=f"sign of data.grad [{i}]")
    for ex, tex in zip(ours["examples"], theirs["examples"]):
        assert [e[:2] for e in ex] == [e[:2] for e in tex]
        for e, te in zip(ex, tex):
            assert isinstance(e[2], np.ndarray) and e[2].shape == (20, 20)
            _close("adv_ex", e[2], te[2])
    for p in ours["perturbed"]:
        assert p.min() >= 0.0 and p.max() <= 1.0


def test_fgsm_data_grad_data_is_the_raw_array():
    """The tutorial's `data.grad.data.sign()` : `.data` is the raw NumPy array here (README), so the
    spelling that ports is `data.grad.sign()` (or NumPy's `np.sign(data.grad.data)`)."""
    x = mg.tensor([[0.5, -1.0, 0.0]], dtype=mg.float64, requires_grad=True)
    (x * mg.tensor([[2.0, -3.0, 0.0]], dtype=mg.float64)).sum().backward()
    assert isinstance(x.grad.data, np.ndarray)
    np.testing.assert_array_equal(x.grad.sign().numpy(), [[1.0, -1.0, 0.0]])
    np.testing.assert_array_equal(np.sign(x.grad.data), [[1.0, -1.0, 0.0]])


def run_pgd_adversarial_training(lib, weights, images, labels, steps=3, eps=0.1, alpha=0.04, iters=3):
    """What follows the tutorial in practice: a PGD attack (iterated FGSM projected onto the eps-ball,
    gradients from `torch.autograd.grad`) and adversarial training on clean + adversarial batches."""
    torch_, nn, F, optim = _libs(lib)
    model = make_lenet(lib)
    model.load_state_dict(weights)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch_.tensor(images), torch_.tensor(labels)
    log = dict(adv=[], losses=[], grads=[])

    def pgd(model, x, y):
        x_adv = x.clone().detach()
        for _ in range(iters):
            x_adv.requires_grad_(True)
            loss = F.nll_loss(model(x_adv), y)
            grad = torch_.autograd.grad(loss, x_adv)[0]
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = torch_.min(torch_.max(x_adv, x - eps), x + eps).clamp(-MEAN[0] / STD[0], (1 - MEAN[0]) / STD[0])
        return x_adv.detach()

    for _ in range(steps):
        model.eval()  # attack the deterministic model
        x_adv = pgd(model, x, y)
        log["adv"].append(_np(x_adv).copy())
        model.train()
        model.conv2_drop.p = 0.0  # dropout masks cannot be shared between the libraries: switched off
        optimizer.zero_grad()
        loss = 0.5 * F.nll_loss(model(x), y) + 0.5 * F.nll_loss(model(x_adv), y)
        loss.backward()
        log["grads"].append({k: _np(p.grad).copy() for k, p in model.named_parameters()})
        optimizer.step()
        log["losses"].append(loss.item())
    log["params"] = {k: _np(v).copy() for k, v in model.state_dict().items()}
    return log


def test_pgd_adversarial_training_matches_torch(default_dtype, monkeypatch):
    default_dtype("float64")
    torch.manual_seed(3)
    tnet = make_lenet(torch)
    rng = np.random.default_rng(3)
    images = (rng.uniform(0, 1, (6, 1, 20, 20)) ** rng.uniform(0.2, 5, (6, 1, 1, 1)) - MEAN[0]) / STD[0]
    labels = rng.integers(0, 10, 6)
    # F.dropout(x, training=self.training) in the LeNet's forward has a fixed p=0.5: make it the identity
    # in both libraries for the training steps (the masks cannot be shared)
    for lib in (torch, mg):
        real = lib.nn.functional.dropout
        monkeypatch.setattr(lib.nn.functional, "dropout", lambda x, p=0.5, training=True, _r=real: _r(x, 0.0, training))
    theirs = run_pgd_adversarial_training(torch, tnet.state_dict(), images, labels)
    ours = run_pgd_adversarial_training(mg, _weights(tnet), images, labels)
    _close("losses", ours["losses"], theirs["losses"])
    for i, (a, b) in enumerate(zip(ours["adv"], theirs["adv"])):
        _close(f"x_adv step {i}", a, b)
        assert np.abs(a - images).max() <= 0.1 + 1e-12  # inside the eps-ball
    for i, (g, tg) in enumerate(zip(ours["grads"], theirs["grads"])):
        for k in g:
            _close(f"{k}.grad step {i}", g[k], tg[k])
    for k in ours["params"]:
        _close(k, ours["params"][k], theirs["params"][k])
    assert not np.allclose(ours["adv"][0], images)


# ---------------------------------------------------------------- 3. pytorch/examples actor_critic.py
SavedAction = namedtuple("SavedAction", ["log_prob", "value"])


def make_policy(lib, hidden=16):
    torch_, nn, F, _ = _libs(lib)

    class Policy(nn.Module):
        """implements both actor and critic in one model"""

        def __init__(self):
            super(Policy, self).__init__()
            self.affine1 = nn.Linear(4, hidden)
            self.action_head = nn.Linear(hidden, 2)  # actor's layer
            self.value_head = nn.Linear(hidden, 1)  # critic's layer
            self.saved_actions = []  # action & reward buffer
            self.rewards = []

        def forward(self, x):
            x = F.relu(self.affine1(x))
            # actor: the probability of each action in state s_t
            action_prob = F.softmax(self.action_head(x), dim=-1)
            # critic: the value of being in state s_t
            state_values = self.value_head(x)
            return action_prob, state_values

    return Policy()


def run_actor_critic(lib, weights, cast="double", episodes=4, gamma=0.99, seed=0):
    torch_, nn, F, optim = _libs(lib)
    Categorical = lib.distributions.Categorical
    model = make_policy(lib)
    model.load_state_dict(weights)
    optimizer = optim.Adam(model.parameters(), lr=3e-2)
    eps = np.finfo(np.float32).eps.item()
    env = ToyCart(max_steps=8, seed=seed)
    draws = np.random.default_rng(seed)  # the shared draw that replaces each library's own sample
    log = dict(actions=[], losses=[], grads=[], returns=[], probs=[], samples=[])

    def select_action(state):
        state = getattr(torch_.from_numpy(state), cast)()
        probs, state_value = model(state)
        m = Categorical(probs)
        action = m.sample()
        log["samples"].append((_dt(action), tuple(action.shape), action.item() in (0, 1)))
        action = torch_.tensor(int(draws.uniform() > _np(probs)[0]))  # the shared draw (see the docstring)
        log["probs"].append(_np(probs).copy())
        model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
        return action.item()

    def finish_episode():
        R = 0
        saved_actions = model.saved_actions
        policy_losses = []  # list to save actor (policy) loss
        value_losses = []  # list to save critic (value) loss
        returns = []  # list to save the true values
        for r in model.rewards[::-1]:
            R = r + gamma * R  # the discounted value
            returns.insert(0, R)
        returns = torch_.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        log["returns"].append(_np(returns).copy())
        for (log_prob, value), R in zip(saved_actions, returns):
            advantage = R - value.item()
            policy_losses.append(-log_prob * advantage)  # actor (policy) loss
            value_losses.append(F.smooth_l1_loss(value, torch_.tensor([R])))  # critic (value) loss
        optimizer.zero_grad()
        loss = torch_.stack(policy_losses).sum() + torch_.stack(value_losses).sum()
        loss.backward()
        log["grads"].append({k: _np(p.grad).copy() for k, p in model.named_parameters()})
        log["loss_dtype"] = _dt(loss)
        optimizer.step()
        del model.rewards[:]
        del model.saved_actions[:]
        return loss.item()

    running_reward = 10
    for i_episode in range(1, episodes + 1):
        state, _ = env.reset()
        ep_reward = 0
        for t in range(1, 10000):
            action = select_action(state)
            log["actions"].append(action)
            state, reward, done, _, _ = env.step(action)
            model.rewards.append(reward)
            ep_reward += reward
            if done or t == env.max_steps:
                break
        running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
        log["losses"].append(finish_episode())
    log["running_reward"] = running_reward
    log["params"] = {k: _np(v).copy() for k, v in model.state_dict().items()}
    log["opt"] = [{k: _np(v).copy() for k, v in s.items() if k != "step"}
                  for s in optimizer.state_dict()["state"].values()]
    return log


def _compare_actor_critic(ours, theirs, **tol):
    assert ours["actions"] == theirs["actions"]
    assert ours["samples"] == theirs["samples"]
    assert all(s[1] == () and s[2] for s in ours["samples"])
    assert ours["loss_dtype"] == theirs["loss_dtype"]
    assert ours["running_reward"] == theirs["running_reward"]
    _close("episode losses", ours["losses"], theirs["losses"], **tol)
    for name in ("returns", "probs"):
        for i, (a, b) in enumerate(zip(ours[name], theirs[name])):
            _close(f"{name}[{i}]", a, b, **tol)
    for i, (g, tg) in enumerate(zip(ours["grads"], theirs["grads"])):
        assert list(g) == list(tg)
        for k in g:
            _close(f"{k}.grad episode {i}", g[k], tg[k], **tol)
    assert list(ours["params"]) == list(theirs["params"])
    for k in ours["params"]:
        _close(k, ours["params"][k], theirs["params"][k], **tol)
    for s, ts in zip(ours["opt"], theirs["opt"]):
        assert sorted(s) == sorted(ts)
        for k in s:
            _close(f"Adam {k}", s[k], ts[k], **tol)


def test_actor_critic_matches_torch(default_dtype):
    default_dtype("float64")
    torch.manual_seed(0)
    init = _weights(make_policy(torch))
    theirs = run_actor_critic(torch, {k: torch.from_numpy(v) for k, v in init.items()})
    ours = run_actor_critic(mg, init)
    _compare_actor_critic(ours, theirs)
    assert ours["loss_dtype"] == "float64" and ours["samples"][0][0] == "int64"
    assert set(theirs["actions"]) == {0, 1} and len(theirs["losses"]) == 4
    assert not np.allclose(ours["params"]["affine1.weight"], init["affine1.weight"])


def test_actor_critic_as_written_in_float32():
    """`torch.from_numpy(state).float()` and the float32 default, as the example is written."""
    torch.manual_seed(2)
    init = _weights(make_policy(torch))
    theirs = run_actor_critic(torch, {k: torch.from_numpy(v) for k, v in init.items()}, cast="float", seed=2)
    ours = run_actor_critic(mg, init, cast="float", seed=2)
    assert ours["loss_dtype"] == "float32"
    for k, v in ours["params"].items():
        assert v.dtype == np.float32, k
    _compare_actor_critic(ours, theirs, **TOL32)


def test_one_step_episode_std_is_refused_not_nan():
    """A one-reward episode: `returns.std()` has no degrees of freedom. torch gives NaN (and a warning),
    which turns every parameter into NaN at the next Adam step; minigrad raises (README, documented)."""
    with pytest.warns(UserWarning):
        assert torch.isnan(torch.tensor([1.0]).std())
    with pytest.raises(ValueError, match="std: .*no degrees of freedom"):
        mg.tensor([1.0]).std()
    assert float(mg.tensor([1.0]).std(correction=0)) == 0.0


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True")
@pytest.mark.filterwarnings("ignore:Creating a tensor from a list of numpy.ndarrays")
def test_tensor_of_a_list_reads_tensors_as_numbers_and_keeps_float64_as_torch():
    """RL buffers hold one-element tensors (`torch.tensor([reward])`) or NumPy float64 values, and code
    turns the list into one tensor with `torch.tensor(buffer)`. torch reads a tensor inside a list as a
    number (shape (N,), its dtype counted) and keeps float64 NumPy values float64; minigrad gave (N, 1)
    and float32 (a silent shape change that then broadcasts wrongly). Fixed: as torch."""
    cases = [
        lambda L: [L.tensor([1.0]), L.tensor([2.0]), L.tensor([0.5])],  # rewards of the DQN tutorial's memory
        lambda L: [L.tensor(1.5, dtype=L.float64), 2],
        lambda L: [[L.tensor([1.0])], [L.tensor([2.0])]],
        lambda L: [L.tensor([[1.0]]), 2.0],
        lambda L: [L.tensor(2), 3.5],
        lambda L: [L.tensor(True), L.tensor(1)],
        lambda L: [L.tensor([1.0], requires_grad=True)],
        lambda L: [np.float64(1.0), 2.0],  # env rewards as NumPy scalars
        lambda L: [np.ones(2), [1.0, 2.0]],
        lambda L: [np.ones(2, np.float32), np.zeros(2, np.float32)],
        lambda L: [np.int32(1), np.int32(2)],
    ]
    for make in cases:
        for build in ("tensor", "as_tensor"):
            t, m = getattr(torch, build)(make(torch)), getattr(mg, build)(make(mg))
            assert _dt(m) == _dt(t) and tuple(m.shape) == tuple(t.shape), (build, make(torch))
            assert m.tolist() == t.tolist() and not m.requires_grad
    for lib in (torch, mg):
        with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
            lib.tensor([lib.ones(2), lib.zeros(2)])
    # the REINFORCE shape of the bug: returns minus a (N,) baseline
    rewards = [mg.tensor([1.0]), mg.tensor([0.0]), mg.tensor([2.0])]
    returns = mg.tensor(rewards)
    assert (returns - returns.mean()).shape == (3,)
