"""Fine-tuning elicitors: the strong model trained with a zero-initialised head.

Importing this package registers ``finetune`` in ``ELICITORS`` and the losses
(``xent``, ``logconf``, ``product``) in ``LOSSES``.
"""

from sandwich.elicit.finetune.elicitor import FineTuneElicitor
from sandwich.elicit.finetune.losses import LOSSES

__all__ = ["LOSSES", "FineTuneElicitor"]
