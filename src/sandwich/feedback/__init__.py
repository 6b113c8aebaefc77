"""Human studies: the web app, its storage, and the quality control and
aggregation of the labels raters give.

Kept light on import (no web framework, no database driver), so that
``sandwich.supervision.human`` can use the aggregation without the app.
"""
