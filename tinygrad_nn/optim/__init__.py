"""Optimizers with PyTorch's update rules and `param_groups`, and `lr_scheduler`.

`SGD` (momentum, dampening, Nesterov), `Adam`, `AdamW`, `RMSprop`, `Adagrad`; all share
`Optimizer`: ``param_groups``, ``opt.lr`` (group 0's rate), ``state``, `step`, `zero_grad`,
`add_param_group`, `state_dict` / `load_state_dict`. Learning-rate schedules live in
`tinygrad_nn.optim.lr_scheduler`.
"""

from tinygrad_nn.optim import lr_scheduler
from tinygrad_nn.optim.adam import Adam, AdamW
from tinygrad_nn.optim.optimizer import Optimizer
from tinygrad_nn.optim.rmsprop import Adagrad, RMSprop
from tinygrad_nn.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
