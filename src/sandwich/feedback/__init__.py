"""Human studies, one sub-package per job: the study config and items
(``study_config``, ``study_items``, ``assistance``), the database (``store``), the
analysis of the labels (``analysis``), the web app (``web``), simulated raters
(``simulated_raters``) and the ``human`` supervisor (``supervisor``).

Kept light on import (no web framework, no database driver), so that registering
``sandwich.feedback.supervisor`` loads neither.
"""
