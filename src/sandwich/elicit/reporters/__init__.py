"""Truth reporters: elicitors that read a direction of "truth" out of the strong model's features.

- ``mass-mean`` (:mod:`.mass_mean`): the difference of the class means of B's
  (weak) labels, optionally with the covariance correction of Marks & Tegmark (2023).
- ``ccs`` (:mod:`.ccs`): contrast-consistent search (Burns et al. 2022) on
  contrast pairs, no labels; several random restarts, the best by loss.
- ``crc`` (:mod:`.crc`): contrastive representation clustering, the top principal
  direction of the contrast-pair differences, in closed form; no labels.
- ``icm`` (:mod:`.icm`): internal coherence maximisation (Wen et al. 2025), labels of
  B's contrast claims searched by simulated annealing for mutual predictability under
  a probe and the pair constraint, or of B's texts under a generation model prompted
  with the other labelled claims (``predictor: in-context``, :mod:`.icm_context`); no labels.

``ccs``, ``crc`` and ``icm`` are unsupervised up to a sign, fixed by a declared rule
(:mod:`.contrast`). The modules import on use (the registry lists them lazily).
"""
