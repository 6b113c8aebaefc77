"""RL and DPO of a policy against a proxy reward, through TRL (docs/rewards.md, "RL against
the proxy"): KL to the initial policy, proxy and gold reward per step."""

from sandwich.rewards.rl.dpo import run_dpo
from sandwich.rewards.rl.grpo import run_policy_rl
from sandwich.rewards.rl.log import RLStep, read_steps, write_steps
from sandwich.rewards.rl.params import DPOParams, PolicyParams, RLParams
from sandwich.rewards.rl.policy import RewardFn

__all__ = [
    "DPOParams",
    "PolicyParams",
    "RLParams",
    "RLStep",
    "RewardFn",
    "read_steps",
    "run_dpo",
    "run_policy_rl",
    "write_steps",
]
