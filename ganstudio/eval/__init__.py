"""Evaluation of the built-in digit models: ``python -m ganstudio.eval``.

- ``classifier``: the judges (a digit classifier and a CycleGAN domain classifier), trained on the
  train split, cached as safetensors;
- ``metrics``: Fréchet distance, class coverage, and digit attributes measured from pixels;
- ``suite``: one scorer per built-in model, each calling the model through ``ganstudio.tasks``;
- ``report``: the table (plain text, Markdown) or JSON.
"""
