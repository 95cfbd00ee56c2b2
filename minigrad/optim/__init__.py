"""minigrad.optim: optimizers and learning-rate schedulers (torch.optim's names and update rules).

    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    sched = mg.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    for batch in data:
        opt.zero_grad()
        loss_fn(model, batch).backward()
        opt.step()
    sched.step()    # once per epoch
"""
from . import lr_scheduler, swa_utils
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW, SparseAdam
from .adam_variants import Adamax, NAdam, RAdam
from .asgd import ASGD
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "SparseAdam", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
           "RAdam", "Rprop", "ASGD", "LBFGS", "lr_scheduler", "swa_utils"]
