"""GAN Studio: generate, interpolate, translate, edit and stylize images with GANs.

Importing the package loads neither torch nor Gradio; the registry loads models on demand.
"""

__version__ = "0.1.0"
