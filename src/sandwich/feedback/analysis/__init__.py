"""Analysis of a study's labels: validation, aggregation, agreement, quality, the
exclusions of the checks, the study's status, export, plots and terminal tables."""
