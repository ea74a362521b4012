"""SGD with momentum on the flat parameter vector, pylearn2's schedules, and Adam and RMSProp by hand.

Update (pylearn2 ``Momentum`` learning rule, Hinton's form)::

    v     <- mu * v - lr * g
    theta <- theta + v

Adaptive rules (a :class:`Recipe`'s ``optimizer``; None is the momentum rule above), per parameter, t = 1, 2, ...
the update's number, g the gradient, lr_t the scheduled learning rate:

- :class:`Adam` (Kingma & Ba 2015): m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
  theta <- theta - lr_t m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t);
- :class:`RMSProp` (Tieleman & Hinton 2012): v <- rho v + (1 - rho) g^2; theta <- theta - lr_t g / (sqrt(v) + eps).

Their moment arrays are the optimiser's state: saved with theta in the run folder, so a resumed run goes on
bit for bit.

Schedules are plain functions of a counter so that a resumed run recomputes
exactly the values an uninterrupted run would have used:

- :class:`ExponentialDecay` (per update t = 0, 1, 2, ...):
  lr_t = max(lr_0 / decay_factor^t, min_lr);
- :class:`LinearDecayOverEpoch` (per epoch e = 1, 2, ...):
  lr_e = lr_0 - step * (e - start + 1) for start <= e < saturate, lr_0 * decay_factor from
  e = saturate on, with step = (lr_0 - lr_0 * decay_factor) / (saturate - start + 1);
- :class:`MomentumAdjustor` (per epoch e): mu_e = mu_0 (1 - a) + mu_final a with
  a = clip((e - start) / (saturate - start), 0, 1).

pylearn2 calls its epoch extensions once before the first epoch, so its epoch
counter is already 1 while epoch 1 trains; here epoch e (1-based) uses count e.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from . import backend, threads
from .checks import real_number, whole_number


def check_whole(name: str, value, least: int) -> int:
    """The old name of :func:`minilinpath.checks.whole_number` (the package's one whole-number rule), kept for
    callers: ``check_whole(name, value, least)`` is ``whole_number(value, name, least)``."""
    return whole_number(value, name, least)


def check_real(name: str, value, holds, what: str):
    """The old name of :func:`minilinpath.checks.real_number`, kept for callers: ``check_real(name, value, holds,
    what)`` is ``real_number(value, name, holds, what)``."""
    return real_number(value, name, holds, what)


@dataclass(frozen=True)
class ExponentialDecay:
    """lr_t = max(lr_0 / decay_factor^t, min_lr) after t updates (pylearn2 ``ExponentialDecay``)."""
    decay_factor: float
    min_lr: float

    def __post_init__(self):
        real_number(self.decay_factor, "ExponentialDecay decay_factor", lambda v: 1 <= v < math.inf,
                    "a finite number >= 1 (a factor below 1 makes the learning rate grow)")
        real_number(self.min_lr, "ExponentialDecay min_lr", lambda v: 0 <= v < math.inf, "a finite number >= 0")

    def lr(self, lr0: float, update: int, epoch: int) -> float:
        return max(lr0 / self.decay_factor ** update, self.min_lr)


@dataclass(frozen=True)
class LinearDecayOverEpoch:
    """Linear decay of the learning rate per epoch (pylearn2 ``LinearDecayOverEpoch``)."""
    start: int
    saturate: int
    decay_factor: float

    def __post_init__(self):
        _check_epochs(self)
        real_number(self.decay_factor, "LinearDecayOverEpoch decay_factor", lambda v: 0 <= v < math.inf,
                    "a finite number >= 0 (the final learning rate is lr_0 * decay_factor)")

    def lr(self, lr0: float, update: int, epoch: int) -> float:
        if epoch < self.start:
            return lr0
        if epoch >= self.saturate:
            return lr0 * self.decay_factor
        step = (lr0 - lr0 * self.decay_factor) / (self.saturate - self.start + 1)
        return lr0 - step * (epoch - self.start + 1)


@dataclass(frozen=True)
class MomentumAdjustor:
    """Linear momentum ramp per epoch (pylearn2 ``MomentumAdjustor``)."""
    start: int
    saturate: int
    final_momentum: float

    def __post_init__(self):
        _check_epochs(self)
        real_number(self.final_momentum, "MomentumAdjustor final_momentum", lambda v: 0 <= v < 1, "in [0, 1)")

    def momentum(self, mu0: float, epoch: int) -> float:
        width = self.saturate - self.start
        if width == 0:
            return self.final_momentum if epoch >= self.start else mu0
        a = min(max((epoch - self.start) / width, 0.0), 1.0)
        return mu0 * (1 - a) + self.final_momentum * a


def _check_epochs(schedule) -> None:
    """A schedule's ``start`` and ``saturate`` are epochs, 0 <= start <= saturate; kept as ints (3.0 -> 3), so
    that the schedule's dict in a run's description is the same for 3 and 3.0."""
    kind = type(schedule).__name__
    start = whole_number(schedule.start, f"{kind} start", least=0)
    saturate = whole_number(schedule.saturate, f"{kind} saturate", least=0)
    if saturate < start:
        raise ValueError(f"{kind} saturate must be >= start, got start={start}, saturate={saturate}.")
    object.__setattr__(schedule, "start", start)  # the schedules are frozen dataclasses
    object.__setattr__(schedule, "saturate", saturate)


@dataclass(frozen=True)
class Adam:
    """Adam's update (module docstring); state: the first and second moments ``adam_m``, ``adam_v``."""
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    state_names = ("adam_m", "adam_v")

    def __post_init__(self):
        for name in ("beta1", "beta2"):
            real_number(getattr(self, name), f"Adam {name}", lambda v: 0 <= v < 1, "in [0, 1)")
        real_number(self.eps, "Adam eps", lambda v: 0 < v < math.inf, "a finite number > 0")

    def step(self, theta, state: dict, grad, lr: float, t: int) -> None:
        """In place, the t-th update (t >= 1); ``grad`` is used as scratch space."""
        xp, m, v = backend.get_xp(theta), state["adam_m"], state["adam_v"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        grad *= grad
        v += (1 - self.beta2) * grad
        m_hat_scale, v_hat_scale = 1 / (1 - self.beta1 ** t), 1 / (1 - self.beta2 ** t)
        theta -= lr * m_hat_scale * m / (xp.sqrt(v * v_hat_scale) + self.eps)


@dataclass(frozen=True)
class RMSProp:
    """RMSProp's update (module docstring); state: the mean square ``rmsprop_v``."""
    decay: float = 0.9
    eps: float = 1e-8

    state_names = ("rmsprop_v",)

    def __post_init__(self):
        real_number(self.decay, "RMSProp decay", lambda v: 0 <= v < 1, "in [0, 1)")
        real_number(self.eps, "RMSProp eps", lambda v: 0 < v < math.inf, "a finite number > 0")

    def step(self, theta, state: dict, grad, lr: float, t: int) -> None:
        """In place, the t-th update (t is not used: RMSProp has no bias correction)."""
        xp, v = backend.get_xp(theta), state["rmsprop_v"]
        v *= self.decay
        v += (1 - self.decay) * grad * grad
        theta -= lr * grad / (xp.sqrt(v) + self.eps)


OPTIMIZERS = {"adam": Adam, "rmsprop": RMSProp}


def optimizer_to_dict(optimizer) -> dict:
    return {"kind": type(optimizer).__name__, **asdict(optimizer)}


def optimizer_from_dict(d):
    d = dict(d)
    return {c.__name__: c for c in OPTIMIZERS.values()}[d.pop("kind")](**d)


def schedule_to_dict(schedule) -> dict | None:
    return None if schedule is None else {"kind": type(schedule).__name__, **asdict(schedule)}


def schedule_from_dict(d):
    if d is None:
        return None
    kinds = {c.__name__: c for c in (ExponentialDecay, LinearDecayOverEpoch, MomentumAdjustor)}
    d = dict(d)
    return kinds[d.pop("kind")](**d)


def momentum_step(theta, velocity, grad, lr: float, mu: float) -> None:
    """In place: v <- mu v - lr g; theta <- theta + v.

    ``grad`` is used as scratch space: it holds lr * g afterwards (pass a copy
    if you still need the gradient). On a million parameters this update is
    memory-bound, and scaling g where it lies saves a pass over a separate
    temporary (measured in benchmarks/bench_mlp_epoch.py). Each parameter's
    update is independent of the others', so blocks of parameters run on
    several threads (:mod:`minilinpath.threads`), all four steps on a block
    before the next: 1.8 -> 1.3 ms per update of ``mnist_pi``'s 1.2 million
    parameters, measured; the same numbers.
    """
    if theta.ndim == 0:   # a single number has no blocks
        _momentum_update(theta, velocity, grad, lr, mu)
        return
    threads.for_example_blocks(lambda lo, hi: _momentum_update(theta[lo:hi], velocity[lo:hi], grad[lo:hi], lr, mu),
                               backend.get_xp(theta), theta)


def _momentum_update(theta, velocity, grad, lr, mu) -> None:
    """The four in-place passes of :func:`momentum_step` on arrays (or views of one block of them)."""
    velocity *= mu
    grad *= lr
    velocity -= grad
    theta += velocity


def gradient_descent(model, theta, batch, lr: float, momentum: float = 0.0, steps: int = 100):
    """Full-batch gradient descent with momentum; yields ``(step, theta, J)`` after every step.

    ``theta`` is copied first and each yielded theta is a fresh copy, so the
    caller may keep them. J is the loss *before* the step's update.
    """
    real_number(lr, "lr", lambda v: 0 < v < math.inf, "a finite number > 0")
    real_number(momentum, "momentum", lambda v: 0 <= v < 1, "in [0, 1)")
    steps = whole_number(steps, "steps", least=0)  # 100.0 -> 100 (range() needs an int)
    theta = theta.copy()
    velocity = theta * 0
    for step in range(1, steps + 1):
        loss, grad = model.loss_and_grad(theta, batch)
        momentum_step(theta, velocity, grad, lr, momentum)
        yield step, theta.copy(), loss
