"""trivision: face gender, fine-grained cars and colorization, trained and used on a laptop CPU or at scale."""
__version__ = "0.1.0"


def load(name_or_path: str, framing: str = "detect", prior_correction: float | None = None,
         temperature: float | None = None):
    """A trained model ready to predict: `trivision.load("gender-cnn").predict("photo.jpg")` (trivision.api.load)."""
    from trivision.api import load as _load  # imported on use: `import trivision` stays light
    return _load(name_or_path, framing, prior_correction, temperature)
