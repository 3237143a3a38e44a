"""Explanation reports for reviewers: ``report.json``, a self-contained ``report.html``, the
model card, and the hash manifest that ``riskmodel verify`` checks.

- :mod:`.build` — the report document from a scoring folder and the model (SHAP through
  :func:`riskmodel.scoring.reasons.contributions`, the project's one SHAP path);
- :mod:`.html` + ``templates/`` — the page (jinja2, autoescape on, inline CSS and SVG);
- :mod:`.card` — the model card (dict in ``meta.json``, Markdown in MLflow);
- :mod:`.pseudonym` — keyed pseudonyms for entity ids (HMAC-SHA256);
- :mod:`.verify` — SHA-256 manifest, HMAC signature, verification.
"""
