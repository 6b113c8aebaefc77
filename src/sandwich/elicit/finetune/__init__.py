"""Fine-tuning elicitors: the strong model trained with a zero-initialised head.

``LOSSES`` lists the losses (``xent``, ``logconf``, ``product``) with their Params.
"""

from sandwich.elicit.finetune.elicitor import FineTuneElicitor
from sandwich.elicit.finetune.registry import LOSSES

__all__ = ["LOSSES", "FineTuneElicitor"]
