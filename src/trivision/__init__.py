"""trivision: face gender, fine-grained cars and colorization, trained and used on a laptop CPU or at scale."""
__version__ = "0.1.0"


def load(name_or_path: str, framing: str = "detect"):
    """A trained model ready to predict: `trivision.load("gender-cnn").predict("photo.jpg")`."""
    from trivision.api import load as _load  # imported on use: `import trivision` stays light
    return _load(name_or_path, framing)
